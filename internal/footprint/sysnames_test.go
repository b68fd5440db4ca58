package footprint

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSyscallName(t *testing.T) {
	type tc struct {
		name string
		nr   int
		want string
	}
	byArch := map[string][]tc{
		"amd64": {
			{"read", 0, "read"},
			{"openat", 257, "openat"},
			{"execve", 59, "execve"},
			{"newfstatat", 262, "newfstatat"},
			{"_sysctl keeps its underscore", 156, "_sysctl"},
			{"last of the table", 471, "rseq_slice_yield"},
			{"gap between 336 and 424", 400, "syscall_400"},
		},
		"arm64": {
			{"read", 63, "read"},
			{"openat", 56, "openat"},
			{"execve", 221, "execve"},
			{"newfstatat", 79, "newfstatat"},
			{"arch_specific_syscall is no syscall", 244, "syscall_244"},
			{"gap between 294 and 424", 400, "syscall_400"},
		},
	}
	cases, ok := byArch[runtime.GOARCH]
	if !ok {
		t.Fatalf("no expectations for GOARCH %s", runtime.GOARCH)
	}
	cases = append(cases,
		tc{"negative", -1, "syscall_-1"},
		tc{"just past the table", len(sysNames), "syscall_" + strconv.Itoa(len(sysNames))},
		tc{"far past the table", 1 << 30, "syscall_1073741824"},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := SyscallName(c.nr); got != c.want {
				t.Errorf("SyscallName(%d) = %q, want %q", c.nr, got, c.want)
			}
		})
	}
}

// TestSyscallNameMatchesUnix checks common syscalls against the x/sys constants the table was generated from.
// epoll_wait is missing on arm64 (asm-generic has only epoll_pwait), so it is left out.
func TestSyscallNameMatchesUnix(t *testing.T) {
	cases := []struct {
		nr   int
		want string
	}{
		{unix.SYS_READ, "read"},
		{unix.SYS_WRITE, "write"},
		{unix.SYS_OPENAT, "openat"},
		{unix.SYS_CLOSE, "close"},
		{unix.SYS_EXECVE, "execve"},
		{unix.SYS_CLONE, "clone"},
		{unix.SYS_CLONE3, "clone3"},
		{unix.SYS_CONNECT, "connect"},
		{unix.SYS_SOCKET, "socket"},
		{unix.SYS_ACCEPT4, "accept4"},
		{unix.SYS_SENDTO, "sendto"},
		{unix.SYS_RECVFROM, "recvfrom"},
		{unix.SYS_MMAP, "mmap"},
		{unix.SYS_EXIT_GROUP, "exit_group"},
		{unix.SYS_FUTEX, "futex"},
		{unix.SYS_EPOLL_PWAIT, "epoll_pwait"},
		{unix.SYS_NEWFSTATAT, "newfstatat"},
		{unix.SYS_WRITEV, "writev"},
	}
	for _, c := range cases {
		if got := SyscallName(c.nr); got != c.want {
			t.Errorf("SyscallName(%d) = %q, want %q", c.nr, got, c.want)
		}
	}
}

func TestSysNamesUnique(t *testing.T) {
	seen := map[string]int{}
	for nr, name := range sysNames {
		if name == "" {
			continue
		}
		if prev, ok := seen[name]; ok {
			t.Errorf("%q is both %d and %d", name, prev, nr)
		}
		seen[name] = nr
	}
	if len(seen) < 300 {
		t.Errorf("only %d syscalls named, want the whole table", len(seen))
	}
}

// TestGeneratedUpToDate regenerates both tables from x/sys at the go.mod version and compares them with the
// committed ones, which checks every entry against its x/sys constant on either host architecture.
func TestGeneratedUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the generator")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to run the generator:", err)
	}
	dir := t.TempDir()
	out, err := exec.Command("go", "run", "./internal/gensysnames", "-o", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("go run ./internal/gensysnames: %v\n%s", err, out)
	}
	for _, f := range []string{"sysnames_amd64.go", "sysnames_arm64.go"} {
		want, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go generate ./internal/footprint", f)
		}
	}
}

func TestErrnoName(t *testing.T) {
	cases := []struct {
		name  string
		errno int
		want  string
	}{
		{"ENOENT", 2, "ENOENT"},
		{"EACCES", 13, "EACCES"},
		{"EINPROGRESS", 115, "EINPROGRESS"},
		{"EAGAIN over EWOULDBLOCK", 11, "EAGAIN"},
		{"zero", 0, "errno_0"},
		{"negated kernel return", -2, "errno_-2"},
		{"unknown", 4095, "errno_4095"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := ErrnoName(c.errno); got != c.want {
				t.Errorf("ErrnoName(%d) = %q, want %q", c.errno, got, c.want)
			}
		})
	}
}
