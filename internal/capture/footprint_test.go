package capture

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mcpscope/mcpscope/internal/bpf"
	"github.com/mcpscope/mcpscope/internal/stream"
)

// TestFootprintTree records the footprint of a shell made a root while it waits on its stdin: once it goes on, its
// children (forked after it became a root) open files, exec programs and exit, all reported with the root; the
// syscall and CPU counters of the tree are drained once the root is gone. Nothing of an unrelated process shows.
func TestFootprintTree(t *testing.T) {
	requireRoot(t)
	c, err := Open(Config{Footprint: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.Footprints() {
		t.Fatal("Footprints() = false with Config.Footprint")
	}

	// A chroot into a bind mount of / (a root directory that is not the namespace's): its relative opens are seen
	// from its own root, as the process sees its paths.
	chroot := t.TempDir()
	if err := syscall.Mount("/", chroot, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		t.Fatalf("bind-mount / for the chroot: %v", err)
	}
	defer syscall.Unmount(chroot, syscall.MNT_DETACH)
	sh := exec.Command("sh", "-c", `read go; cat /etc/hostname >/dev/null; ls /nonexistent-mcpscope-fp 2>/dev/null; (cd /etc && cat hostname >/dev/null); (cd /proc/sys/kernel && cat hostname >/dev/null); chroot "$0" sh -c 'cd /usr && cat ../etc/hostname >/dev/null'; exit 3`, chroot)
	stdin, err := sh.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	root := sh.Process.Pid
	if err := c.AddFootprintRoot(root); err != nil {
		t.Fatal(err)
	}
	// Not of the tree: must not show.
	if err := exec.Command("cat", "/etc/hostname").Run(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- c.Run(ctx) }()
	if _, err := stdin.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	werr := sh.Wait()
	if ee, ok := werr.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Fatalf("sh: %v, want exit status 3", werr)
	}
	time.Sleep(100 * time.Millisecond)
	cancel()

	type exe struct {
		filename, argv string
		ppid           int
	}
	var execs []exe
	files := map[string]int64{} // path -> result
	dirs := map[string]string{} // relative path -> the directory the kernel resolved
	exits := map[int]int64{}    // pid -> status
	pids := map[int]bool{root: true}
	drainEvents(t, c, func(e *Event) {
		switch e.Kind {
		case KindFPExec, KindFPFile, KindFPExit, KindFPConnect, KindFPListen, KindFPMark:
			if e.FP.Root != root {
				t.Errorf("record of kind %d from pid %d names root %d, want %d", e.Kind, e.Pid, e.FP.Root, root)
			}
			// The shell has one thread: everything in its tree is done for it, down to chroot's children.
			if e.FP.Owner != root {
				t.Errorf("record of kind %d from pid %d names owner %d, want the root's thread %d", e.Kind, e.Pid, e.FP.Owner, root)
			}
			pids[e.Pid] = true
		}
		switch e.Kind {
		case KindFPExec:
			name, argv, _ := bytes.Cut(e.FP.Data, []byte{0})
			execs = append(execs, exe{string(name), strings.TrimRight(strings.ReplaceAll(string(argv), "\x00", " "), " "), e.FP.Ppid})
		case KindFPFile:
			files[string(e.FP.Data)] = e.FP.Result
			if e.FP.Dir != "" {
				dirs[string(e.FP.Data)+" in "+e.FP.Dir] = e.FP.Dir
			}
		case KindFPExit:
			exits[e.Pid] = e.FP.Result
		}
	})
	if err := <-runDone; err != nil {
		t.Fatal(err)
	}

	var catExec, lsExec bool
	for _, x := range execs {
		switch {
		case strings.HasSuffix(x.filename, "/cat") && x.argv == "cat /etc/hostname":
			catExec = true
			if x.ppid != root {
				t.Errorf("cat's parent %d, want the root %d", x.ppid, root)
			}
		case strings.HasSuffix(x.filename, "/ls") && x.argv == "ls /nonexistent-mcpscope-fp":
			lsExec = true
		}
	}
	if !catExec || !lsExec {
		t.Errorf("execs %+v: want cat /etc/hostname and ls /nonexistent-mcpscope-fp", execs)
	}
	if r, ok := files["/etc/hostname"]; !ok || r < 0 {
		t.Errorf("open of /etc/hostname: %v (seen %v), want a file descriptor", r, ok)
	}
	if r, ok := files["/dev/null"]; !ok || r < 0 {
		t.Errorf("open of /dev/null: %v (seen %v), want a file descriptor", r, ok)
	}
	// Relative opens come with their directory, resolved in the kernel, across a mount (/proc) too.
	for _, want := range []string{"hostname in /etc", "hostname in /proc/sys/kernel", "../etc/hostname in /usr"} {
		if _, ok := dirs[want]; !ok {
			t.Errorf("no relative open %q; relative opens: %v", want, dirs)
		}
	}
	if st, ok := exits[root]; !ok || st != 3<<8 {
		t.Errorf("root's exit status %d (seen %v), want %d", st, ok, 3<<8)
	}
	if len(exits) != 7 {
		t.Errorf("exits %v: want the root, cat, ls, the two subshells (each became its cat), chroot's sh and its cat", exits)
	}

	sys, cpu, err := c.DrainFootprint()
	if err != nil {
		t.Fatal(err)
	}
	var execves, enoent uint64
	var runtime uint64
	for _, s := range sys {
		if s.Root != root || !pids[s.Pid] || s.Owner != root {
			t.Errorf("syscall counter of pid %d root %d owner %d: not of the tree's one thread", s.Pid, s.Root, s.Owner)
		}
		if s.Nr == syscall.SYS_EXECVE && s.Errno == 0 {
			execves += s.Count
		}
		if s.Errno == int(syscall.ENOENT) {
			enoent += s.Count
		}
	}
	for _, u := range cpu {
		if u.Owner != root {
			t.Errorf("CPU counter of pid %d names owner %d, want %d", u.Pid, u.Owner, root)
		}
		runtime += u.RuntimeNs
	}
	if execves != 7 {
		t.Errorf("%d successful execve counted, want 7 (cat, ls, cat, cat, chroot, sh, cat)", execves)
	}
	if enoent == 0 {
		t.Error("no ENOENT counted (ls of a missing path)")
	}
	if runtime == 0 {
		t.Error("no CPU time counted for the tree")
	}
	// Drained: nothing left.
	if sys, cpu, err := c.DrainFootprint(); err != nil || len(sys)+len(cpu) != 0 {
		t.Errorf("second drain: %d syscall and %d CPU counters, %v; want none", len(sys), len(cpu), err)
	}
	_ = bpf.FPMarkRead
}

// TestDrainFootprintEndedOnly: both ways of draining (in batches, and key by key where the kernel refuses batches)
// take exactly the counters of ended epochs (of a root that is gone, and below a live root's current epoch) and
// leave the current epoch's in the map.
func TestDrainFootprintEndedOnly(t *testing.T) {
	requireRoot(t)
	c, err := Open(Config{Footprint: true, RingBufferBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const gone, live = 1 << 30, 1<<30 + 1
	if err := c.fp.Roots.Put(uint32(live), bpf.FPRoot{Epoch: 5}); err != nil {
		t.Fatal(err)
	}
	for _, keyByKey := range []bool{false, true} {
		c.fp.keyByKey = keyByKey
		var keys []bpf.FPSysKey
		var vals []bpf.FPCount
		for i := range 3000 { // more than one batch
			root := uint32(gone)
			if i%2 == 1 {
				root = live
			}
			keys = append(keys, bpf.FPSysKey{Root: root, Tgid: 7, Owner: uint32(i % 3), Epoch: uint64(i % 7), Nr: uint32(i)})
			vals = append(vals, bpf.FPCount{Count: uint64(i), Ns: 1})
		}
		if _, err := c.fp.Syscalls.BatchUpdate(keys, vals, nil); err != nil {
			t.Fatal(err)
		}
		sys, _, err := c.DrainFootprint()
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		for _, k := range keys {
			if k.Root == gone || k.Epoch < 5 {
				want++
			}
		}
		for _, s := range sys {
			if s.Root == live && s.Epoch >= 5 || s.Count != uint64(s.Nr) || s.Owner != s.Nr%3 {
				t.Errorf("key by key %v: drained %+v, of a current epoch or garbled", keyByKey, s)
			}
		}
		var left []bpf.FPSysKey
		var k bpf.FPSysKey
		var v bpf.FPCount
		for it := c.fp.Syscalls.Iterate(); it.Next(&k, &v); {
			left = append(left, k)
		}
		if len(sys) != want || len(left) != len(keys)-want {
			t.Errorf("key by key %v: drained %d, left %d; want %d and %d", keyByKey, len(sys), len(left), want, len(keys)-want)
		}
		for _, k := range left {
			_ = c.fp.Syscalls.Delete(k)
		}
	}
}

// TestFootprintStdinReaderWaitingBeforeSession: a stdio server whose read of its stdin began before the client wrote
// anything (so the read made the stream only a candidate, and the server never enters read_enter for it again)
// becomes a footprint root when the client writes initialize, in filter mode, with no help from user space: its
// later reads mark epochs and what it starts belongs to its tree. Cases: traced when the read began (a pipe, as
// Go and Python hosts use, and a socketpair, as Node hosts do), and already reading when the monitor came
// (AddCandidate, as watch does for running processes). Before the fix the server stayed outside every tree here
// and its first calls got no footprint (seen in the kernel matrix's modern-gosdk session).
func TestFootprintStdinReaderWaitingBeforeSession(t *testing.T) {
	requireRoot(t)
	msgs := strings.Join([]string{
		`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{}}}`,
		`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"b","arguments":{}}}`,
	}, "\n") + "\n"
	msgFile := filepath.Join(t.TempDir(), "msgs")
	if err := os.WriteFile(msgFile, []byte(msgs), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		socketpair bool
		running    bool // already reading when the monitor learns of it: AddCandidate instead of AddPid before the read
	}{
		{name: "pipe"},
		{name: "socketpair", socketpair: true},
		{name: "running", running: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Open(Config{Filter: true, Footprint: true, RingBufferBytes: 4 << 20})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()

			r, w := stdioPair(t, tc.socketpair) // the server's stdin, the client's stdout
			// The server waits on fd 3 until it is traced, then reads its stdin line by line (byte by byte: sh does
			// not read ahead on a pipe), starting a child for each line.
			server := exec.Command("sh", "-c", `read go <&3; while read line; do cat /etc/hostname >/dev/null; done`)
			server.Stdin = r
			serverGate, gateW, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer gateW.Close()
			server.ExtraFiles = []*os.File{serverGate}
			// The client (untraced: only the server's stream is watched) writes every message once it is let go.
			client := exec.Command("sh", "-c", `read go; exec cat "$0"`, msgFile)
			client.Stdout = w
			clientGate, err := client.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := server.Start(); err != nil {
				t.Fatal(err)
			}
			serverGate.Close()
			defer server.Process.Kill()
			if err := client.Start(); err != nil {
				t.Fatal(err)
			}
			defer client.Process.Kill()
			r.Close()
			w.Close()
			pid := server.Process.Pid

			if !tc.running {
				if err := c.AddPid(pid); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := gateW.Write([]byte("go\n")); err != nil {
				t.Fatal(err)
			}
			waitInStdinRead(t, pid)
			if tc.running {
				var st unix.Stat_t
				if err := unix.Stat(fmt.Sprintf("/proc/%d/fd/0", pid), &st); err != nil {
					t.Fatal(err)
				}
				kind := stream.KindPipe
				if tc.socketpair {
					kind = stream.KindUnix
				}
				if err := c.AddPid(pid); err != nil {
					t.Fatal(err)
				}
				if err := c.AddCandidate(stream.Key{Kind: kind, Ino: st.Ino}, pid, true); err != nil {
					t.Fatal(err)
				}
			}

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			runDone := make(chan error, 1)
			go func() { runDone <- c.Run(ctx) }()
			if _, err := clientGate.Write([]byte("go\n")); err != nil {
				t.Fatal(err)
			}
			waitPeers(t, client, server)
			cancel()

			var marks, wrongRoot, cats int
			var reached uint64 // the position the server's last marked read reached
			var data []byte
			drainEvents(t, c, func(e *Event) {
				switch e.Kind {
				case KindData:
					data = append(data, e.Data...)
				case KindFPMark:
					if e.FP.Root != pid {
						wrongRoot++
					} else if e.FP.Read() {
						marks++
						reached = max(reached, e.Offset)
					}
				case KindFPExec:
					if e.FP.Root == pid && strings.HasSuffix(string(e.FP.Data[:bytes.IndexByte(e.FP.Data, 0)]), "/cat") {
						cats++
					}
				}
			})
			if err := <-runDone; err != nil {
				t.Fatal(err)
			}
			explainSkips(t, c)
			if string(data) != msgs {
				t.Errorf("captured %q, want the client's messages %q", data, msgs)
			}
			// Every read but the first (it began before the server was a root) is marked, at the position it reached.
			if marks == 0 || wrongRoot != 0 {
				t.Errorf("%d read marks of root %d (%d of another root): the server did not become a root when initialize came",
					marks, pid, wrongRoot)
			} else if reached != uint64(len(msgs)) {
				t.Errorf("the server's last read was marked at %d, want the end of the messages, %d", reached, len(msgs))
			}
			if cats != 4 {
				t.Errorf("%d children of the server in its tree, want 4 (one per line)", cats)
			}
		})
	}
}

// TestFootprintReadPositionDuringWrite: a server made a root while its client is inside a large write to its stdin
// takes its read position only once no write to the stream is in flight. Until a write returns, the stream's offset
// does not tell what the reader can have read: a socket write's range is reserved at its exit, after the reader may
// have taken its bytes, and an early-copied pipe write's is reserved whole before all of it is in the pipe. Either
// way every later read mark of the stream was shifted, and calls got the epochs of others. The reader reads 64 KiB
// every 5 ms, so the 4 MiB write waits on it for some 300 ms; the test makes it a root once the writer is blocked in
// that write, and checks that its last marked read is at the end of the stream.
func TestFootprintReadPositionDuringWrite(t *testing.T) {
	requireRoot(t)
	want := bytes.Join(testMessages()[1:], nil)
	for _, socketpair := range []bool{false, true} {
		name := "pipe"
		if socketpair {
			name = "socketpair"
		}
		t.Run(name, func(t *testing.T) {
			c, err := Open(Config{Footprint: true, RingBufferBytes: 16 << 20})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			r, w := stdioPair(t, socketpair)
			server, client := helperCommand("read-stdin-slowly"), helperCommand("write-stdout-no-session")
			server.Stdin, client.Stdout = r, w
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			runDone := make(chan error, 1)
			go func() { runDone <- c.Run(ctx) }()
			if err := server.Start(); err != nil {
				t.Fatal(err)
			}
			defer server.Process.Kill()
			if err := client.Start(); err != nil {
				t.Fatal(err)
			}
			defer client.Process.Kill()
			r.Close()
			w.Close()
			waitInSyscall(t, client.Process.Pid, unix.SYS_WRITE, 1)
			root := server.Process.Pid
			if err := c.AddFootprintRoot(root); err != nil {
				t.Fatal(err)
			}
			waitPeers(t, client, server)
			cancel()

			var data []byte
			var marks int
			var reached uint64
			drainEvents(t, c, func(e *Event) {
				switch {
				case e.Kind == KindData && e.Pid == client.Process.Pid:
					data = append(data, e.Data...)
				case e.Kind == KindFPMark && e.FP.Root == root && e.FP.Read():
					marks++
					reached = max(reached, e.Offset)
				}
			})
			if err := <-runDone; err != nil {
				t.Fatal(err)
			}
			explainSkips(t, c)
			if !bytes.Equal(data, want) {
				t.Fatalf("captured %d bytes of the client's, want %d", len(data), len(want))
			}
			if marks == 0 || reached != uint64(len(want)) {
				t.Errorf("%d read marks of the server, the last at %d; want it at the end of the stream, %d", marks, reached, len(want))
			}
		})
	}
}

// waitPeers waits for the client, then the server, of a test session, failing the test if either failed.
func waitPeers(t *testing.T, client, server *exec.Cmd) {
	t.Helper()
	if err := client.Wait(); err != nil {
		t.Fatalf("client: %v", err)
	}
	if err := server.Wait(); err != nil {
		t.Fatalf("server: %v", err)
	}
}

// stdioPair returns the two ends of a server's stdio, the server's end first: a pipe, or a socketpair as Node hosts
// make. Both are closed when the test ends (closing them early in the test, once the peers have them, is fine).
func stdioPair(t *testing.T, socketpair bool) (server, client *os.File) {
	t.Helper()
	if socketpair {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		server, client = os.NewFile(uintptr(fds[0]), "server end"), os.NewFile(uintptr(fds[1]), "client end")
	} else {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		server, client = r, w
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// waitInStdinRead waits until single-threaded process pid is blocked in read(2) of its fd 0.
func waitInStdinRead(t *testing.T, pid int) {
	t.Helper()
	waitInSyscall(t, pid, unix.SYS_READ, 0)
}

// waitInSyscall waits until a thread of process pid is blocked in syscall nr with fd as its first argument.
func waitInSyscall(t *testing.T, pid int, nr uintptr, fd int) {
	t.Helper()
	want := fmt.Sprintf("%d %#x ", nr, fd)
	deadline := time.Now().Add(20 * time.Second)
	for {
		tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/syscall", pid))
		if err != nil || len(tasks) == 0 {
			t.Fatalf("threads of process %d: %v", pid, err)
		}
		var seen []string
		for _, task := range tasks {
			b, _ := os.ReadFile(task)
			if strings.HasPrefix(string(b), want) {
				return
			}
			seen = append(seen, strings.TrimSpace(string(b)))
		}
		if time.Now().After(deadline) {
			t.Fatalf("no thread of process %d is in syscall %d on fd %d; their /proc/.../syscall: %q", pid, nr, fd, seen)
		}
		time.Sleep(time.Millisecond)
	}
}

// drainEvents hands each record of the capture to each until Run, cancelled, has drained the ring buffer and closed
// Events.
func drainEvents(t *testing.T, c *Capture, each func(*Event)) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case e, ok := <-c.Events():
			if !ok {
				return
			}
			each(e)
			c.Release(e)
		case <-timeout:
			t.Fatal("ring buffer did not drain")
		}
	}
}
