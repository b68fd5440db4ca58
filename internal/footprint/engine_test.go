package footprint

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/mcpscope/mcpscope/internal/bpf"
	"github.com/mcpscope/mcpscope/internal/capture"
	"github.com/mcpscope/mcpscope/internal/record"
	"github.com/mcpscope/mcpscope/internal/stream"
)

// feedMark gives e the kernel's mark of root's read (or write) of stream k (generation gen) reaching offset.
func feedMark(e *Engine, root int, k stream.Key, gen uint64, read bool, offset, epoch uint64) {
	feedThreadMark(e, root, root, k, gen, read, offset, epoch)
}

// feedThreadMark is feedMark by the root's thread tid.
func feedThreadMark(e *Engine, root, tid int, k stream.Key, gen uint64, read bool, offset, epoch uint64) {
	dir := bpf.FPMarkWrite
	if read {
		dir = bpf.FPMarkRead
	}
	e.Event(&capture.Event{Kind: capture.KindFPMark, Stream: k, Gen: gen, Offset: offset, Pid: root, Tid: tid,
		FP: capture.Footprint{Root: root, Epoch: epoch, Result: dir, Owner: tid}})
}

// TestEngineEpochs feeds the engine what the kernel reports for two sequential calls and one call that overlaps
// another: each call gets the counters and records of its own epochs, from the read of its request to the write of
// its response, and overlapping calls are marked shared.
func TestEngineEpochs(t *testing.T) {
	const root = 100
	in := stream.Key{Kind: stream.KindPipe, Ino: 1}
	out := stream.Key{Kind: stream.KindPipe, Ino: 2}
	e := New(0)
	mark := func(k stream.Key, read bool, offset, epoch uint64) { feedMark(e, root, k, 7, read, offset, epoch) }
	file := func(pid int, epoch uint64, path string, result int64) {
		e.Event(&capture.Event{Kind: capture.KindFPFile, Pid: pid,
			FP: capture.Footprint{Root: root, Epoch: epoch, Result: result, Data: []byte(path)}})
	}
	call := func(id string) Call {
		return Call{Ref: CallRef{Session: "s", ID: id}, ID: []byte(id), Method: "tools/call", Tool: "t" + id}
	}

	// Call 1: request ends at offset 100, read in epoch 1; its response is written at out offset 0 in epoch 3.
	e.Begin(call("1"), root, in, 7, 100)
	mark(in, true, 100, 1)
	file(101, 1, "/a", 3)
	file(101, 2, "/b", -2)
	mark(out, false, 0, 3)
	file(101, 3, "/not-of-call-1", 3) // after the response began
	e.Counters([]capture.SyscallCount{
		{Root: root, Pid: root, Epoch: 1, Nr: 0, Count: 2, Ns: 10},
		{Root: root, Pid: 101, Epoch: 2, Nr: 2, Errno: 2, Count: 1, Ns: 5},
		{Root: root, Pid: root, Epoch: 3, Nr: 0, Count: 9},
	}, []capture.CPUCount{{Root: root, Pid: root, Epoch: 2, UserNs: 4e6, SysNs: 4e6, RuntimeNs: 10e6}})
	if !e.End(CallRef{"s", "1"}, out, 7, 0) {
		t.Fatal("End of call 1: unknown call")
	}
	fps := e.Take(false)
	if len(fps) != 1 {
		t.Fatalf("%d footprints, want 1", len(fps))
	}
	f := fps[0]
	if f.Tool != "t1" || f.Shared || len(f.Files) != 2 || f.Files[0].Path != "/a" || f.Files[1].Result != "ENOENT" {
		t.Errorf("call 1: %+v", f)
	}
	var count uint64
	for _, s := range f.Syscalls {
		count += s.Count
	}
	if count != 3 || f.UserCPUMs != 5 || f.SysCPUMs != 5 {
		t.Errorf("call 1: %d syscalls (want 3), CPU %.1f+%.1f ms (want 5+5)", count, f.UserCPUMs, f.SysCPUMs)
	}

	// Calls 2 and 3 overlap: 2 is read in epoch 4, 3 in epoch 5, 2 answered in 6, 3 in 7.
	e.Begin(call("2"), root, in, 7, 200)
	e.Begin(call("3"), root, in, 7, 300)
	mark(in, true, 200, 4)
	mark(in, true, 300, 5)
	file(102, 5, "/shared", 3)
	mark(out, false, 50, 6)
	mark(out, false, 90, 7)
	if !e.End(CallRef{"s", "2"}, out, 7, 50) || !e.End(CallRef{"s", "3"}, out, 7, 90) {
		t.Fatal("End of calls 2, 3: unknown call")
	}
	fps = e.Take(false)
	if len(fps) != 2 {
		t.Fatalf("%d footprints, want 2", len(fps))
	}
	// A call that overlapped call 3 but is answered after it was taken is shared too.
	e.Begin(call("4"), root, in, 7, 310)
	mark(in, true, 310, 6)
	mark(out, false, 120, 8)
	e.Counters([]capture.SyscallCount{{Root: root, Pid: root, Epoch: 6, Nr: 0, Count: 1}}, nil)
	if !e.End(CallRef{"s", "4"}, out, 7, 120) {
		t.Fatal("End of call 4: unknown call")
	}
	if late := e.Take(false); len(late) != 1 || !late[0].Shared {
		t.Errorf("call 4: %+v, want one footprint marked shared", late)
	}
	for _, f := range fps {
		if len(f.Files) != 1 || f.Files[0].Path != "/shared" || !f.Shared || !f.Files[0].Shared {
			t.Errorf("call %s: %+v; want /shared, marked shared", f.ID, f)
		}
	}
}

// TestEngineUnmarkedCall: a call whose read was never marked (the server was not a root yet) gets no footprint.
func TestEngineUnmarkedCall(t *testing.T) {
	e := New(0)
	e.Begin(Call{Ref: CallRef{"s", "1"}}, 1, stream.Key{Kind: stream.KindPipe, Ino: 1}, 1, 10)
	if e.End(CallRef{"s", "1"}, stream.Key{Kind: stream.KindPipe, Ino: 2}, 1, 0) {
		t.Error("End of a call with no write mark reported true")
	}
	if fps := e.Take(false); len(fps) != 0 {
		t.Errorf("footprints %+v, want none", fps)
	}
}

func TestOpenFlags(t *testing.T) {
	for flags, want := range map[uint32]string{0: "O_RDONLY", 0o2000101: "O_WRONLY|O_CREAT|O_CLOEXEC", 2: "O_RDWR"} {
		if got := OpenFlags(flags); got != want {
			t.Errorf("OpenFlags(%#o) = %q, want %q", flags, got, want)
		}
	}
}

func TestIsLibrary(t *testing.T) {
	for path, want := range map[string]bool{"/lib/libc.so.6": true, "/x/foo.so": true, "/etc/ld.so.cache": false, "/bin/sh": false} {
		if got := isLibrary(path); got != want {
			t.Errorf("isLibrary(%q) = %v", path, got)
		}
	}
}

func TestGPUUse(t *testing.T) {
	files := []record.FootprintFile{
		{Pid: 1, Path: "/dev/nvidia0", Result: "ok", Count: 2},
		{Pid: 1, Path: "/dev/dri/renderD128", Result: "EACCES", Count: 1},
		{Pid: 1, Path: "/usr/lib/x86_64-linux-gnu/libcuda.so.1", Result: "ok", Count: 1},
		{Pid: 1, Path: "/usr/lib/x86_64-linux-gnu/libc.so.6", Result: "ok", Count: 1},
		{Pid: 1, Path: "/etc/hostname", Result: "ok", Count: 1},
	}
	execs := []record.FootprintExec{{Pid: 2, Filename: "/usr/bin/nvidia-smi"}, {Pid: 3, Filename: "/bin/sh"}}
	got := gpuUse(files, execs)
	want := []record.FootprintGPU{
		{Pid: 1, Kind: "device", Detail: "/dev/nvidia0", Count: 2},
		{Pid: 1, Kind: "device", Detail: "/dev/dri/renderD128 (EACCES)", Count: 1},
		{Pid: 1, Kind: "library", Detail: "/usr/lib/x86_64-linux-gnu/libcuda.so.1", Count: 1},
		{Pid: 2, Kind: "program", Detail: "/usr/bin/nvidia-smi", Count: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("gpu %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("gpu[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestEngineLongCallKeepsItsEpochs: a call that runs longer than the engine keeps unclaimed data (a build, a test
// run) still gets what its first epochs counted; what nothing needs goes.
func TestEngineLongCallKeepsItsEpochs(t *testing.T) {
	const root = 7
	in := stream.Key{Kind: stream.KindPipe, Ino: 1}
	out := stream.Key{Kind: stream.KindPipe, Ino: 2}
	e, clock := clockedEngine()
	mark := func(k stream.Key, read bool, offset, epoch uint64) { feedMark(e, root, k, 1, read, offset, epoch) }
	// Epoch 1 belongs to no call (an earlier notification); epoch 2 starts the long call.
	e.Counters([]capture.SyscallCount{{Root: root, Pid: root, Epoch: 1, Nr: 0, Count: 5}}, nil)
	mark(in, true, 50, 1)
	e.Begin(Call{Ref: CallRef{"s", "9"}, ID: []byte("9")}, root, in, 1, 100)
	mark(in, true, 100, 2)
	e.Counters([]capture.SyscallCount{{Root: root, Pid: root, Epoch: 2, Nr: 59, Count: 1}}, nil)
	*clock = clock.Add(2 * keepEpochs) // the tool runs for a minute
	if fps := e.Take(false); len(fps) != 0 {
		t.Fatalf("footprints of a running call: %+v", fps)
	}
	if _, ok := e.epochs[epochKey{root, 1}]; ok {
		t.Error("epoch 1, claimed by no call, outlived keepEpochs")
	}
	mark(out, false, 0, 3)
	if !e.End(CallRef{"s", "9"}, out, 1, 0) {
		t.Fatal("End: unknown call")
	}
	fps := e.Take(false)
	if len(fps) != 1 || len(fps[0].Syscalls) != 1 || fps[0].Syscalls[0].Name != SyscallName(59) {
		t.Fatalf("footprint %+v: want the execve counted in its first epoch, a minute before its end", fps)
	}
	*clock = clock.Add(2 * keepEpochs)
	e.Take(false)
	if len(e.epochs)+len(e.epochAges)+len(e.reads)+len(e.writes)+len(e.answered)+len(e.unresolved) != 0 {
		t.Errorf("left after everything was taken and went stale: %d epochs (%d queued for prune), %d read and %d write mark lists, %d roots' spans, %d streams' unresolved calls",
			len(e.epochs), len(e.epochAges), len(e.reads), len(e.writes), len(e.answered), len(e.unresolved))
	}
}

// clockedEngine returns an Engine whose clock is *clock, which the test moves.
func clockedEngine() (*Engine, *time.Time) {
	clock := time.Unix(1000, 0)
	e := New(0)
	e.now = func() time.Time { return clock }
	return e, &clock
}

// keptEpochs returns the epochs e holds data for, in order.
func keptEpochs(e *Engine) []uint64 {
	var eps []uint64
	for k := range e.epochs {
		eps = append(eps, k.epoch)
	}
	slices.Sort(eps)
	return eps
}

// TestEngineDropsTakenEpochs: the epochs of calls already taken go after keepTaken, those between them too, while an
// epoch after the last taken call (a call to come may claim it) stays until keepEpochs; a root with a call whose
// first epoch is not known yet (its request's read mark has not come) keeps everything until keepEpochs.
func TestEngineDropsTakenEpochs(t *testing.T) {
	for _, unresolved := range []bool{false, true} {
		t.Run(fmt.Sprintf("unresolved=%v", unresolved), func(t *testing.T) {
			const root = 7
			in := stream.Key{Kind: stream.KindPipe, Ino: 1}
			out := stream.Key{Kind: stream.KindPipe, Ino: 2}
			e, clock := clockedEngine()
			count := func(epoch uint64) {
				e.Counters([]capture.SyscallCount{{Root: root, Pid: root, Epoch: epoch, Nr: 0, Count: 1}}, nil)
			}
			// Two sequential calls: epochs 1-2 and 4-5, epoch 3 between them, epoch 6 after the second's response.
			for i, ep := range []uint64{1, 4} {
				id := strconv.Itoa(i + 1)
				e.Begin(Call{Ref: CallRef{"s", id}, ID: []byte(id)}, root, in, 1, uint64(100*(i+1)))
				feedMark(e, root, in, 1, true, uint64(100*(i+1)), ep)
				count(ep)
				count(ep + 1)
				feedMark(e, root, out, 1, false, uint64(100*i), ep+2)
				count(ep + 2)
				if !e.End(CallRef{"s", id}, out, 1, uint64(100*i)) {
					t.Fatalf("End of call %s: unknown call", id)
				}
			}
			if unresolved {
				e.Begin(Call{Ref: CallRef{"s", "3"}, ID: []byte("3")}, root, in, 1, 300)
			}
			if fps := e.Take(false); len(fps) != 2 {
				t.Fatalf("%d footprints, want 2", len(fps))
			}
			kept := func() []uint64 { return keptEpochs(e) }
			all := []uint64{1, 2, 3, 4, 5, 6}
			*clock = clock.Add(keepTaken / 2)
			e.Take(false)
			if got := kept(); !slices.Equal(got, all) {
				t.Fatalf("before keepTaken: epochs %v kept, want %v", got, all)
			}
			*clock = clock.Add(keepTaken)
			e.Take(false)
			want := []uint64{6} // the taken calls' epochs, and the one between them, gone
			if unresolved {
				want = all
			}
			if got := kept(); !slices.Equal(got, want) {
				t.Fatalf("after keepTaken: epochs %v kept, want %v", got, want)
			}
			*clock = clock.Add(keepEpochs)
			e.Take(false)
			if got := kept(); len(got) != 0 {
				t.Fatalf("after keepEpochs: epochs %v kept, want none", got)
			}
		})
	}
}

// TestEngineWriteFrontier: a root that answers only methods without footprints (pings) claims no epoch, yet its
// writes show which epochs no call can claim any more: those before a write seen keepTaken ago go then, not after
// keepEpochs.
func TestEngineWriteFrontier(t *testing.T) {
	const root = 9
	in := stream.Key{Kind: stream.KindPipe, Ino: 1}
	out := stream.Key{Kind: stream.KindPipe, Ino: 2}
	e, clock := clockedEngine()
	ping := func(i, epoch uint64) { // read in epoch, answered at the start of epoch+1
		feedMark(e, root, in, 1, true, 10*i, epoch)
		e.Counters([]capture.SyscallCount{{Root: root, Pid: root, Epoch: epoch, Nr: 0, Count: 1}}, nil)
		feedMark(e, root, out, 1, false, 10*i, epoch+1)
		e.Counters([]capture.SyscallCount{{Root: root, Pid: root, Epoch: epoch + 1, Nr: 1, Count: 1}}, nil)
	}
	kept := func() []uint64 { return keptEpochs(e) }
	ping(1, 1) // epochs 1, 2
	ping(2, 3) // epochs 3, 4: its write (epoch 4) is not the candidate, the first write (epoch 2) is
	*clock = clock.Add(keepTaken + time.Second)
	e.Take(false)
	if got, want := kept(), []uint64{2, 3, 4}; !slices.Equal(got, want) {
		t.Fatalf("after keepTaken: epochs %v kept, want %v (epoch 1, before the write in epoch 2, gone)", got, want)
	}
	ping(3, 5) // epochs 5, 6: its write in epoch 6 is the next candidate
	*clock = clock.Add(keepTaken + time.Second)
	e.Take(false)
	if got, want := kept(), []uint64{6}; !slices.Equal(got, want) {
		t.Fatalf("after another keepTaken: epochs %v kept, want %v", got, want)
	}
	*clock = clock.Add(keepEpochs)
	e.Take(false)
	if got := kept(); len(got) != 0 || len(e.wrote) != 0 {
		t.Fatalf("after keepEpochs: epochs %v kept and %d roots' frontiers, want none", got, len(e.wrote))
	}
}

// TestEngineEndSession: a session that ends with calls unanswered drops them.
func TestEngineEndSession(t *testing.T) {
	e := New(0)
	k := stream.Key{Kind: stream.KindUnix, Ino: 3}
	e.Begin(Call{Ref: CallRef{"a", "1"}}, 1, k, 1, 10)
	e.Begin(Call{Ref: CallRef{"b", "1"}}, 2, k, 1, 10)
	e.EndSession("a")
	if _, ok := e.calls[CallRef{"a", "1"}]; ok || len(e.calls) != 1 {
		t.Errorf("calls after the end of session a: %v", e.calls)
	}
	e.Take(false)
	if w := e.unresolved[k]; len(w) != 1 || w[0].call.Ref.Session != "b" {
		t.Errorf("calls waiting for their read mark after the end of session a: %v", w)
	}
}

// TestEngineUnknownGeneration: an HTTP server's own copy of a connection's bytes may not have been seen when its
// request is parsed from the client's copy; Begin and End with generation 0 take the stream's latest generation, and
// a read mark that arrives after Begin still starts the call.
func TestEngineUnknownGeneration(t *testing.T) {
	const root = 100
	rx := stream.Key{Kind: stream.KindTCPRx, Ino: 5}
	tx := stream.Key{Kind: stream.KindTCPTx, Ino: 5}
	e := New(0)
	feedMark(e, root, rx, 3, true, 40, 1) // an older generation of the socket's stream
	e.Begin(Call{Ref: CallRef{"s", "1"}, Method: "tools/call", Tool: "t"}, root, rx, 0, 120)
	feedMark(e, root, rx, 9, true, 120, 2)
	e.Event(&capture.Event{Kind: capture.KindFPFile, Pid: root, FP: capture.Footprint{Root: root, Epoch: 2, Result: 3, Data: []byte("/x")}})
	feedMark(e, root, tx, 9, false, 300, 3)
	if !e.End(CallRef{"s", "1"}, tx, 0, 310) {
		t.Fatal("End: unknown call")
	}
	fps := e.Take(false)
	if len(fps) != 1 || len(fps[0].Files) != 1 || fps[0].Files[0].Path != "/x" {
		t.Fatalf("footprints %+v: want one with /x", fps)
	}
}

// overlapOnThreads feeds e two calls of root 100 that overlap, as a server that reads on its main thread (100) and
// runs each call on a worker that writes its answer (201 for call A, 202 for call B): in the epoch both cover, each
// worker opens a file (B's by a child process it started), and the main thread reads; A's worker goes on after its
// answer began (in an epoch only B covers). bAnswered says whether B's answer comes.
func overlapOnThreads(e *Engine, threadBound, bAnswered bool) {
	const root = 100
	in := stream.Key{Kind: stream.KindPipe, Ino: 1}
	out := stream.Key{Kind: stream.KindPipe, Ino: 2}
	call := func(id string) Call {
		return Call{Ref: CallRef{Session: "s", ID: id}, ID: []byte(id), Method: "tools/call", Tool: id, ThreadBound: threadBound}
	}
	file := func(pid, owner int, epoch uint64, path string) {
		e.Event(&capture.Event{Kind: capture.KindFPFile, Pid: pid,
			FP: capture.Footprint{Root: root, Epoch: epoch, Owner: owner, Result: 3, Data: []byte(path)}})
	}
	e.Begin(call("A"), root, in, 1, 10)
	e.Begin(call("B"), root, in, 1, 20)
	feedThreadMark(e, root, 100, in, 1, true, 10, 1) // A read: epoch 1 is A's alone
	file(root, 201, 1, "/a-alone")
	feedThreadMark(e, root, 100, in, 1, true, 20, 2) // B read: epoch 2 is A's and B's
	file(root, 201, 2, "/a")
	file(300, 202, 2, "/b-child")
	e.Counters([]capture.SyscallCount{
		{Root: root, Pid: root, Owner: 100, Epoch: 2, Nr: 0, Count: 1},
		{Root: root, Pid: root, Owner: 201, Epoch: 2, Nr: 1, Count: 4},
		{Root: root, Pid: 300, Owner: 202, Epoch: 2, Nr: 59, Count: 1},
	}, []capture.CPUCount{
		{Root: root, Pid: root, Owner: 201, Epoch: 2, UserNs: 7e6, RuntimeNs: 7e6},
		{Root: root, Pid: 300, Owner: 202, Epoch: 2, UserNs: 11e6, RuntimeNs: 11e6},
	})
	feedThreadMark(e, root, 201, out, 1, false, 0, 3) // A answered by 201, which then finishes: B's work no more
	e.End(CallRef{"s", "A"}, out, 1, 0)
	file(root, 201, 3, "/a-tail")
	if bAnswered {
		feedThreadMark(e, root, 202, out, 1, false, 30, 4) // B answered by 202
		e.End(CallRef{"s", "B"}, out, 1, 30)
	}
}

// paths returns the files of f, each with ":shared" when its row is shared.
func paths(f record.Footprint) []string {
	var out []string
	for _, x := range f.Files {
		p := x.Path
		if x.Shared {
			p += ":shared"
		}
		out = append(out, p)
	}
	return out
}

// TestEngineThreadBound: calls of a thread-bound server that overlap are split by the thread that wrote each answer:
// a worker's work (and its child's) goes to its call alone, the main thread's is shared, an epoch one call covers
// alone is that call's, and a call's footprint waits for the answers of the calls it overlaps.
func TestEngineThreadBound(t *testing.T) {
	e := New(0)
	overlapOnThreads(e, true, false)
	if fps := e.Take(false); len(fps) != 0 {
		t.Fatalf("A's footprint written while B, which overlaps it, runs: %+v", fps)
	}
	feedThreadMark(e, 100, 202, stream.Key{Kind: stream.KindPipe, Ino: 2}, 1, false, 30, 4)
	e.End(CallRef{"s", "B"}, stream.Key{Kind: stream.KindPipe, Ino: 2}, 1, 30)
	fps := e.Take(false)
	if len(fps) != 2 {
		t.Fatalf("%d footprints, want 2", len(fps))
	}
	for _, f := range fps {
		var want []string
		var cpu float64
		switch string(f.ID) {
		case "A":
			want, cpu = []string{"/a", "/a-alone"}, 7
		case "B":
			want, cpu = []string{"/b-child"}, 11
		}
		if got := paths(f); !slices.Equal(got, want) {
			t.Errorf("call %s: files %v, want %v", f.ID, got, want)
		}
		if !f.ByThread || !f.Shared || f.UserCPUMs != cpu {
			t.Errorf("call %s: by_thread %v, shared %v, user CPU %.0f ms; want true, true (the main thread's read), %.0f",
				f.ID, f.ByThread, f.Shared, f.UserCPUMs, cpu)
		}
		for _, s := range f.Syscalls {
			if s.Shared != (s.Name == SyscallName(0)) {
				t.Errorf("call %s: syscall row %+v; only the main thread's read is shared", f.ID, s)
			}
		}
	}
}

// TestEngineThreadBoundUnanswered: when a call that overlaps stays unanswered past holdFor, its writer is unknown and
// nothing of the overlap can be split: it is shared.
func TestEngineThreadBoundUnanswered(t *testing.T) {
	e, clock := clockedEngine()
	overlapOnThreads(e, true, false)
	if fps := e.Take(false); len(fps) != 0 {
		t.Fatalf("footprints %+v, want none yet", fps)
	}
	*clock = clock.Add(holdFor)
	fps := e.Take(false)
	if len(fps) != 1 || fps[0].ByThread {
		t.Fatalf("footprints %+v, want A's, not split by thread", fps)
	}
	if got, want := paths(fps[0]), []string{"/a:shared", "/a-alone", "/b-child:shared"}; !slices.Equal(got, want) {
		t.Errorf("files %v, want %v", got, want)
	}
}

// TestEngineNotThreadBound: the same calls on a server whose runtime moves tasks between threads (Go) share the
// whole overlap, and are not held back.
func TestEngineNotThreadBound(t *testing.T) {
	e := New(0)
	overlapOnThreads(e, false, false)
	fps := e.Take(false)
	if len(fps) != 1 || fps[0].ByThread || !fps[0].Shared {
		t.Fatalf("footprints %+v, want A's, shared, not split by thread", fps)
	}
	if got, want := paths(fps[0]), []string{"/a:shared", "/a-alone", "/b-child:shared"}; !slices.Equal(got, want) {
		t.Errorf("files %v, want %v", got, want)
	}
}

func TestThreadBound(t *testing.T) {
	for exe, want := range map[string]bool{
		"/usr/bin/python3.11": true, "/root/.pyenv/versions/3.13.1/bin/python3.13t": true, "/usr/bin/python": true,
		"/usr/bin/node": false, "/usr/local/bin/server-go": false, "/usr/bin/python3-config": false, "": false,
	} {
		if got := ThreadBound(exe); got != want {
			t.Errorf("ThreadBound(%q) = %v, want %v", exe, got, want)
		}
	}
}

// TestEngineThreadBoundLongCall: a long call of a thread-bound server, held for the answer of a call that overlaps
// it, is not pruned as stale meanwhile (it began longer ago than keepCalls).
func TestEngineThreadBoundLongCall(t *testing.T) {
	e, clock := clockedEngine()
	overlapOnThreads(e, true, false)
	*clock = clock.Add(keepCalls + time.Second) // A ran for ten minutes
	if fps := e.Take(false); len(fps) != 0 {
		t.Fatalf("footprints %+v, want none yet: B runs", fps)
	}
	*clock = clock.Add(holdFor)
	if fps := e.Take(false); len(fps) != 1 || string(fps[0].ID) != "A" {
		t.Fatalf("footprints %+v, want A's", fps)
	}
}

// BenchmarkEngineSequentialCalls feeds the engine one call after another (each read and answered over 34 epochs,
// with a counter; taken 16 at a time), as a busy server's stream of quick tool calls. The spans and epochs of the
// calls taken in the last keepTaken are kept (20,000 calls before the timed ones here): a footprint and a prune
// must cost the same with them as without, not scan them.
//
//	go test -run '^$' -bench EngineSequentialCalls ./internal/footprint
func BenchmarkEngineSequentialCalls(b *testing.B) {
	const root = 100
	in := stream.Key{Kind: stream.KindPipe, Ino: 1}
	out := stream.Key{Kind: stream.KindPipe, Ino: 2}
	e := New(0)
	var epoch, offset uint64
	i := 0
	call := func() {
		i++
		id := strconv.Itoa(i)
		offset += 100
		e.Begin(Call{Ref: CallRef{"s", id}, ID: []byte(id), Method: "tools/call"}, root, in, 1, offset)
		epoch++
		feedMark(e, root, in, 1, true, offset, epoch)
		e.Counters([]capture.SyscallCount{{Root: root, Pid: root, Epoch: epoch, Nr: 0, Count: 1}}, nil)
		for range 32 { // the tool reads 32 times from the stream meanwhile (a large request, notifications)
			epoch++
			feedMark(e, root, in, 2, true, offset, epoch)
		}
		epoch++
		feedMark(e, root, out, 1, false, offset, epoch)
		e.End(CallRef{"s", id}, out, 1, offset)
		if i%16 == 0 { // the monitor drains and takes every 50 ms at most: some 16 calls at 300 calls/s
			if fps := e.Take(false); len(fps) != 16 {
				b.Fatalf("%d footprints, want 16", len(fps))
			}
		}
	}
	for range 20000 {
		call()
	}
	for b.Loop() {
		call()
	}
}

// TestEngineMarksBounded: a stream's marks stay within maxMarks, the newest kept in offset order, in one array.
func TestEngineMarksBounded(t *testing.T) {
	const root = 100
	k := stream.Key{Kind: stream.KindPipe, Ino: 1}
	e := New(0)
	var room *mark
	for i := range uint64(3 * maxMarks) {
		feedMark(e, root, k, 7, true, 10*(i+1), i+1)
		ms := e.marksOf(e.reads, streamGen{k, 7})
		if len(ms) > maxMarks {
			t.Fatalf("after %d marks, %d kept, more than %d", i+1, len(ms), maxMarks)
		}
		if last := ms[len(ms)-1]; last.offset != 10*(i+1) {
			t.Fatalf("after %d marks, the last kept is at offset %d, want %d", i+1, last.offset, 10*(i+1))
		}
		if i == maxMarks+1 {
			room = &ms[:1][0]
		} else if i > maxMarks+1 && &ms[:1][0] != room {
			t.Fatalf("mark %d went into a new array", i+1)
		}
	}
	ms := e.marksOf(e.reads, streamGen{k, 7})
	if !slices.IsSortedFunc(ms, func(a, b mark) int { return int(a.offset) - int(b.offset) }) {
		t.Error("marks out of offset order")
	}
	if tail := ms[len(ms):cap(ms)]; slices.ContainsFunc(tail, func(m mark) bool { return m != mark{} }) {
		t.Error("marks dropped are still held past the slice's end")
	}
}
