package procfs

import (
	"os"
	"slices"
	"syscall"
	"testing"
)

func TestParseStat(t *testing.T) {
	cases := []struct {
		name, in string
		want     Proc
	}{
		{"plain", "42 (node) S 7 42 42 0", Proc{Pid: 42, PPid: 7, Comm: "node"}},
		{"spaces and parens in comm", "42 (a (b) c) S 9 1", Proc{Pid: 42, PPid: 9, Comm: "a (b) c"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseStat(42, []byte(c.in))
			if err != nil || got != c.want {
				t.Fatalf("parseStat = %+v, %v; want %+v", got, err, c.want)
			}
		})
	}
	if _, err := parseStat(1, []byte("1 node S")); err == nil {
		t.Fatal("malformed stat parsed")
	}
}

func TestDescendants(t *testing.T) {
	procs := []Proc{{1, 0, "init"}, {10, 1, "a"}, {11, 10, "b"}, {12, 11, "c"}, {20, 1, "d"}}
	got := Descendants(procs, map[int]bool{10: true})
	slices.Sort(got)
	if !slices.Equal(got, []int{10, 11, 12}) {
		t.Fatalf("Descendants = %v", got)
	}
}

func TestStreamFDsAndHolders(t *testing.T) {
	var fds [2]int
	if err := syscall.Pipe(fds[:]); err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fds[0])
	defer syscall.Close(fds[1])
	p := Default()
	got, err := p.StreamFDs(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	var readEnd *FD
	for i := range got {
		if got[i].FD == fds[0] {
			readEnd = &got[i]
		}
	}
	if readEnd == nil || readEnd.Kind != "pipe" || !readEnd.ReadOnly {
		t.Fatalf("read end of the pipe not found as a read-only pipe in %+v", got)
	}
	if h := p.Holders("pipe", readEnd.Ino); !slices.Contains(h, os.Getpid()) {
		t.Fatalf("Holders(pipe %d) = %v, want to include %d", readEnd.Ino, h, os.Getpid())
	}
	if p.Comm(os.Getpid()) == "" {
		t.Fatal("Comm of self is empty")
	}
}

func TestParent(t *testing.T) {
	if pp, ok := Default().Parent(os.Getpid()); !ok || pp != os.Getppid() {
		t.Errorf("Parent(self) = %d, %v; want %d, true", pp, ok, os.Getppid())
	}
	if _, ok := (FS{Root: t.TempDir()}).Parent(1); ok {
		t.Error("Parent of a process with no stat: ok")
	}
}
