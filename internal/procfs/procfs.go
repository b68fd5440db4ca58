// Package procfs reads what mcpscope needs from /proc: command names, the process tree (to trace processes that
// were running before the monitor started) and which process holds a pipe or socket (to name the reader of a stream
// that has not been read since capture began). Every function takes the /proc root, so tests and other mount
// namespaces can point it elsewhere.
package procfs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// FS is a /proc mount.
type FS struct{ Root string }

// Default is the host's /proc.
func Default() FS { return FS{Root: "/proc"} }

// Alive tells whether a process exists (a zombie not yet reaped included).
func (p FS) Alive(pid int) bool {
	_, err := os.Stat(filepath.Join(p.Root, strconv.Itoa(pid)))
	return err == nil
}

// Comm returns a process's command name, or "" when the process is gone.
func (p FS) Comm(pid int) string {
	b, err := os.ReadFile(filepath.Join(p.Root, strconv.Itoa(pid), "comm"))
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(b), "\n")
}

// Exe returns the path of a process's executable, or "" when the process is gone (or is a kernel thread).
func (p FS) Exe(pid int) string {
	path, err := os.Readlink(filepath.Join(p.Root, strconv.Itoa(pid), "exe"))
	if err != nil {
		return ""
	}
	return path
}

// Parent returns the parent of pid, false when pid is gone or its stat cannot be read.
func (p FS) Parent(pid int) (int, bool) {
	b, err := os.ReadFile(filepath.Join(p.Root, strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, false
	}
	proc, err := parseStat(pid, b)
	if err != nil {
		return 0, false
	}
	return proc.PPid, true
}

// Proc is one entry of the process table.
type Proc struct {
	Pid, PPid int
	Comm      string
}

// Processes lists every process (not threads).
func (p FS) Processes() ([]Proc, error) {
	entries, err := os.ReadDir(p.Root)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var out []Proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(p.Root, e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		proc, err := parseStat(pid, b)
		if err != nil {
			continue
		}
		out = append(out, proc)
	}
	return out, nil
}

// parseStat reads pid, comm and ppid from /proc/PID/stat. The comm is in parentheses and may itself contain spaces
// and parentheses, so the fields after it are found from the last ')'.
func parseStat(pid int, b []byte) (Proc, error) {
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return Proc{}, errors.New("malformed stat")
	}
	fields := strings.Fields(string(b[end+1:]))
	if len(fields) < 2 {
		return Proc{}, errors.New("malformed stat")
	}
	ppid, err := strconv.Atoi(fields[1])
	if err != nil {
		return Proc{}, fmt.Errorf("malformed stat ppid: %w", err)
	}
	return Proc{Pid: pid, PPid: ppid, Comm: string(b[open+1 : end])}, nil
}

// Descendants returns roots and every process below them in the current process tree.
func Descendants(procs []Proc, roots map[int]bool) []int {
	children := map[int][]int{}
	for _, pr := range procs {
		children[pr.PPid] = append(children[pr.PPid], pr.Pid)
	}
	var out []int
	seen := map[int]bool{}
	var walk func(int)
	walk = func(pid int) {
		if seen[pid] {
			return
		}
		seen[pid] = true
		out = append(out, pid)
		for _, c := range children[pid] {
			walk(c)
		}
	}
	for pid := range roots {
		walk(pid)
	}
	return out
}

// DescendantsOf returns the processes below pid in the process tree, read from the children files of pid's threads
// and of each process found, so that it costs what the tree holds, not what the host runs (Processes reads every
// process's stat). ok is false when pid is gone, or the kernel has no children files (CONFIG_PROC_CHILDREN): use
// Descendants on Processes then. A process that forks while the walk passes it may be missed.
func (p FS) DescendantsOf(pid int) (pids []int, ok bool) {
	if _, err := os.Stat(filepath.Join(p.Root, strconv.Itoa(pid), "task", strconv.Itoa(pid), "children")); err != nil {
		return nil, false
	}
	seen := map[int]bool{pid: true}
	for next := []int{pid}; len(next) > 0; {
		cur := strconv.Itoa(next[0])
		next = next[1:]
		tasks, err := os.ReadDir(filepath.Join(p.Root, cur, "task"))
		if err != nil {
			continue // exited meanwhile
		}
		for _, t := range tasks {
			b, err := os.ReadFile(filepath.Join(p.Root, cur, "task", t.Name(), "children"))
			if err != nil {
				continue // the thread exited meanwhile
			}
			for _, f := range strings.Fields(string(b)) {
				if c, err := strconv.Atoi(f); err == nil && !seen[c] {
					seen[c] = true
					pids = append(pids, c)
					next = append(next, c)
				}
			}
		}
	}
	return pids, true
}

// FD is an open pipe or socket of a process.
type FD struct {
	Pid, FD  int
	Kind     string // "pipe" or "socket"
	Ino      uint64
	ReadOnly bool // pipes: the read end
}

// StreamFDs lists a process's open pipes and sockets.
func (p FS) StreamFDs(pid int) ([]FD, error) {
	dir := filepath.Join(p.Root, strconv.Itoa(pid), "fd")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list fds of %d: %w", pid, err)
	}
	var out []FD
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		kind, ino, ok := parseAnonLink(target)
		if !ok {
			continue
		}
		f := FD{Pid: pid, FD: fd, Kind: kind, Ino: ino}
		if kind == "pipe" {
			f.ReadOnly = p.readOnly(pid, fd)
		}
		out = append(out, f)
	}
	return out, nil
}

// parseAnonLink parses "pipe:[123]" and "socket:[456]".
func parseAnonLink(s string) (kind string, ino uint64, ok bool) {
	kind, rest, found := strings.Cut(s, ":[")
	if !found || (kind != "pipe" && kind != "socket") || !strings.HasSuffix(rest, "]") {
		return "", 0, false
	}
	ino, err := strconv.ParseUint(strings.TrimSuffix(rest, "]"), 10, 64)
	return kind, ino, err == nil
}

// readOnly reports whether an fd was opened for reading only (the read end of a pipe), from the octal flags line of
// /proc/PID/fdinfo/FD.
func (p FS) readOnly(pid, fd int) bool {
	f, err := os.Open(filepath.Join(p.Root, strconv.Itoa(pid), "fdinfo", strconv.Itoa(fd)))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "flags:"); ok {
			flags, err := strconv.ParseUint(strings.TrimSpace(v), 8, 64)
			return err == nil && flags&3 == 0 // O_RDONLY
		}
	}
	return false
}

// Holders finds the processes holding a pipe (its read end) or a socket with the given inode. It walks all of /proc,
// so callers use it rarely: once per stream whose reader the kernel has not reported.
func (p FS) Holders(kind string, ino uint64) []int {
	want := fmt.Sprintf("%s:[%d]", kind, ino)
	var out []int
	procs, _ := os.ReadDir(p.Root)
	for _, e := range procs {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		dir := filepath.Join(p.Root, e.Name(), "fd")
		fds, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			target, err := os.Readlink(filepath.Join(dir, fd.Name()))
			if err != nil || target != want {
				continue
			}
			if kind == "pipe" {
				n, _ := strconv.Atoi(fd.Name())
				if !p.readOnly(pid, n) {
					continue
				}
			}
			out = append(out, pid)
			break
		}
	}
	return out
}
