package procfs

import (
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"
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

// TestDescendantsOf walks a real tree (a shell running a shell that runs a sleep, beside a sleep) and compares the
// walk with Descendants on the whole process table; a root without children files is refused.
func TestDescendantsOf(t *testing.T) {
	cmd := exec.Command("sh", "-c", `sh -c 'sleep 30 & wait' & sleep 30 & wait`)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // killed as a group
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	}()
	fs := Default()
	root := cmd.Process.Pid
	var got, want []int
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var ok bool
		if got, ok = fs.DescendantsOf(root); !ok {
			t.Fatalf("DescendantsOf(%d) refused a live process (CONFIG_PROC_CHILDREN?)", root)
		}
		procs, err := fs.Processes()
		if err != nil {
			t.Fatal(err)
		}
		want = slices.DeleteFunc(Descendants(procs, map[int]bool{root: true}), func(p int) bool { return p == root })
		slices.Sort(got)
		slices.Sort(want)
		if len(got) == 3 && slices.Equal(got, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("DescendantsOf = %v, Descendants of the process table = %v; want the same 3", got, want)
		}
	}
	if _, ok := (FS{Root: t.TempDir()}).DescendantsOf(root); ok {
		t.Error("a /proc without children files was walked")
	}
}

// BenchmarkDescendants compares the two ways to find a process's descendants, for this test process (a tree of one):
// walking its children files, and reading the whole process table (whose cost grows with the host's processes).
func BenchmarkDescendants(b *testing.B) {
	fs, self := Default(), os.Getpid()
	b.Run("children-files", func(b *testing.B) {
		for b.Loop() {
			if _, ok := fs.DescendantsOf(self); !ok {
				b.Fatal("no children files")
			}
		}
	})
	b.Run("process-table", func(b *testing.B) {
		for b.Loop() {
			procs, err := fs.Processes()
			if err != nil {
				b.Fatal(err)
			}
			Descendants(procs, map[int]bool{self: true})
		}
	})
}
