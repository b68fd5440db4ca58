package capture

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"

	"github.com/mcpscope/mcpscope/internal/stream"
)

// The test binary doubles as the writer and reader processes of these tests (the monitor never captures its own
// process, so the bytes must come from children).
const helperEnv = "MCPSCOPE_CAPTURE_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "write-stdout":
		os.Exit(helperWrite(1))
	case "write-uncopied":
		os.Exit(helperWriteUncopied())
	case "write-stdout-no-session":
		os.Exit(helperWriteNoSession(1))
	case "socketpair":
		os.Exit(helperSocketpair())
	case "read-stdin":
		os.Exit(helperRead())
	case "read-stdin-slowly":
		os.Exit(helperReadSlowly())
	case "http":
		os.Exit(helperHTTP())
	case "http-read-first":
		os.Exit(helperHTTPReadFirst())
	case "exec-from-thread":
		os.Exit(helperExecFromThread())
	default:
		fmt.Fprintln(os.Stderr, "unknown helper")
		os.Exit(2)
	}
}

// testMessages are written by the helpers, with several syscalls of the write family.
func testMessages() [][]byte {
	big := bytes.Repeat([]byte("x"), 4<<20)
	return [][]byte{
		[]byte(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}` + "\n"),
		[]byte(`{"result":{},"jsonrpc":"2.0","id":1}` + "\n"),
		[]byte(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"message":"` + string(big) + `"}}}` + "\n"),
		[]byte(`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}` + "\n"),
	}
}

func helperWrite(fd int) int {
	msgs := testMessages()
	// write(2)
	if err := writeAll(fd, msgs[0]); err != nil {
		return fail(err)
	}
	// writev(2): one message split over three iovecs
	m := msgs[1]
	if _, err := unix.Writev(fd, [][]byte{m[:5], m[5:20], m[20:]}); err != nil {
		return fail(err)
	}
	// a 4 MiB message in one write(2) on a blocking fd (more than one program run can copy)
	if err := writeAll(fd, msgs[2]); err != nil {
		return fail(err)
	}
	if err := writeAll(fd, msgs[3]); err != nil {
		return fail(err)
	}
	return 0
}

// helperWriteNoSession writes the test messages but the first, initialize, each with write(2): a stream that opens
// no session, whose reader the kernel does not make a footprint root by itself.
func helperWriteNoSession(fd int) int {
	for _, m := range testMessages()[1:] {
		if err := writeAll(fd, m); err != nil {
			return fail(err)
		}
	}
	return 0
}

// helperCommand runs this test binary as the helper named, its stderr the test's.
func helperCommand(name string) *exec.Cmd {
	self, _ := os.Executable()
	cmd := exec.Command(self) // not /proc/self/exe: the comm would be "exe"
	cmd.Env = append(os.Environ(), helperEnv+"="+name)
	cmd.Stderr = os.Stderr
	return cmd
}

// helperPipeline is `sh -c 'writer | reader'`: the helpers write the test messages over a pipe that is theirs, both
// children of a shell named sh.
func helperPipeline() *exec.Cmd { return helperPipelineTo("read-stdin") }

// helperPipelineTo is helperPipeline with the reader helper named.
func helperPipelineTo(reader string) *exec.Cmd {
	self, _ := os.Executable()
	return exec.Command("sh", "-c", fmt.Sprintf("%s=write-stdout %q | %s=%s %q", helperEnv, self, helperEnv, reader, self))
}

func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// helperSocketpair writes the messages over a Unix socketpair to a reader child, as Node-based hosts do, using
// send(2)/sendmsg(2) as well as write(2).
func helperSocketpair() int {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fail(err)
	}
	self, err := os.Executable()
	if err != nil {
		return fail(err)
	}
	child := exec.Command(self)
	child.Env = append(os.Environ(), helperEnv+"=read-stdin")
	child.Stdin = os.NewFile(uintptr(fds[1]), "child-end")
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		return fail(err)
	}
	unix.Close(fds[1])
	msgs := testMessages()
	if err := unix.Sendto(fds[0], msgs[0], 0, nil); err != nil {
		return fail(err)
	}
	m := msgs[1]
	if _, err := unix.SendmsgBuffers(fds[0], [][]byte{m[:7], m[7:]}, nil, nil, 0); err != nil {
		return fail(err)
	}
	if err := writeAll(fds[0], msgs[2]); err != nil {
		return fail(err)
	}
	if err := writeAll(fds[0], msgs[3]); err != nil {
		return fail(err)
	}
	unix.Close(fds[0])
	if err := child.Wait(); err != nil {
		return fail(err)
	}
	return 0
}

func helperRead() int {
	buf := make([]byte, 1<<16)
	for {
		n, err := unix.Read(0, buf)
		if n <= 0 || err != nil {
			return 0
		}
	}
}

// helperReadSlowly reads as a server that parses what it reads might: 64 KiB, then a pause of 5 ms (at most 13 MB/s).
func helperReadSlowly() int {
	buf := make([]byte, 1<<16)
	for {
		n, err := unix.Read(0, buf)
		if n <= 0 || err != nil {
			return 0
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func fail(err error) int {
	fmt.Fprintln(os.Stderr, "helper:", err)
	return 1
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("capture tests load BPF programs and must run as root in CI")
	}
	t.Skip("needs root to load BPF programs (CI=true makes this a failure)")
}

// collected is what the capture saw of one writer process.
type collected struct {
	data    map[stream.Key]map[uint64][]byte // offset -> bytes
	readers map[stream.Key][]int
	conns   map[stream.Key]Conn // TCP streams
	lost    uint64
}

// runAndCollect reads the capture while run runs the helpers (cmd.Run, or the Wait of one already started).
func runAndCollect(t *testing.T, c *Capture, run func() error) collected {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runDone := make(chan error, 1)
	go func() { runDone <- c.Run(ctx) }()
	// The records are taken while the helpers run, as watch takes them: a capture of every process also carries
	// other tests' MCP traffic, and records left waiting would fill the reader's queue, then the ring buffer.
	helperDone := make(chan error, 1)
	go func() { helperDone <- run() }()
	got := collected{data: map[stream.Key]map[uint64][]byte{}, readers: map[stream.Key][]int{}, conns: map[stream.Key]Conn{}}
	mine := map[int]bool{}
	var timeout <-chan time.Time // set once the helpers are done
	for {
		select {
		case err := <-helperDone:
			if err != nil {
				t.Fatalf("helper: %v", err)
			}
			// Everything the helpers wrote is in the ring before they exit; Run drains it after cancel.
			cancel()
			helperDone = nil
			timeout = time.After(20 * time.Second)
		case e, ok := <-c.Events():
			if !ok {
				if err := <-runDone; err != nil {
					t.Fatal(err)
				}
				explainSkips(t, c)
				return got
			}
			if e.Kind == KindData && strings.HasPrefix(e.CommString(), "capture.test") {
				mine[e.Pid] = true
				if got.data[e.Stream] == nil {
					got.data[e.Stream] = map[uint64][]byte{}
				}
				got.data[e.Stream][e.Offset] = append([]byte(nil), e.Data...)
				got.lost = e.Lost
			}
			if e.Kind == KindReader {
				got.readers[e.Stream] = append(got.readers[e.Stream], e.Pid)
			}
			if e.Kind == KindTCP {
				got.conns[e.Stream] = e.Conn
			}
			c.Release(e)
		case <-timeout:
			t.Fatal("ring buffer did not drain")
		}
	}
}

// explainSkips repeats, if the test fails, watch's line about runs of the programs the kernel skipped
// (Stats.SkippedLine): on a preemptible kernel under emulation a skipped run, rather than the code under test, can be
// why bytes are missing, and the kernel matrix then runs the test again in a second boot.
func explainSkips(t *testing.T, c *Capture) {
	t.Helper()
	st, err := c.Stats()
	if err != nil {
		t.Fatalf("read the kernel's counters: %v", err)
	}
	if line := st.SkippedLine(); line != "" {
		t.Cleanup(func() {
			if t.Failed() {
				t.Log(line)
			}
		})
	}
}

func concat(chunks map[uint64][]byte) []byte {
	offs := make([]uint64, 0, len(chunks))
	for o := range chunks {
		offs = append(offs, o)
	}
	sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
	var out []byte
	for _, o := range offs {
		if uint64(len(out)) != o {
			return nil // gap
		}
		out = append(out, chunks[o]...)
	}
	return out
}

// TestWatchSetKeepsFastPaths loads what watch loads by default (stdio, TCP, TLS and footprints) and fails where the
// kernel advertised a hook set or helper fast path and then refused it for these programs: watch would quietly run on
// a slower path with the same records, which no capture test sees. TestCaptureStreams loads the stdio set only; the
// 6.12 guest of the kernel matrix refused the TLS programs' fast paths that way while every capture test passed.
func TestWatchSetKeepsFastPaths(t *testing.T) {
	requireRoot(t)
	c, err := Open(Config{TCP: true, TLS: true, Footprint: true, RingBufferBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fast := c.FastPaths()
	t.Logf("fast paths: %+v", fast)
	if fast.Fallback != "" {
		t.Errorf("the kernel advertised fast paths the verifier then refused: %s", fast.Fallback)
	}
	if strings.Contains(fast.FentryUnavailable, "verifier") {
		t.Errorf("the kernel attaches fentry programs but its verifier refused ours: %s", fast.FentryUnavailable)
	}
	if want := probeHelpers(btf.NewCache()); fast.TaskBTF != want.TaskBTF || fast.RdonlyCast != want.RdonlyCast || fast.PreemptOff != want.PreemptOff {
		t.Errorf("fast paths in use %+v, the kernel advertises %+v", fast, want)
	}
}

func TestCaptureStreams(t *testing.T) {
	requireRoot(t)
	want := bytes.Join(testMessages(), nil)
	cases := []struct {
		name string
		cmd  func() *exec.Cmd
		kind uint8
	}{
		{"pipe", helperPipeline, stream.KindPipe},
		{"socketpair", func() *exec.Cmd { return helperCommand("socketpair") }, stream.KindUnix},
	}
	// Every case runs on each hook set and helper path this kernel offers: the cheapest (auto), the syscall
	// tracepoints with the helper fast paths, and the portable path of the oldest kernels. All must capture the same
	// bytes.
	paths := []struct {
		name string
		cfg  Config
	}{
		{"auto", Config{}},
		{"tracepoint", Config{Hooks: HooksTracepoint}},
		{"portable", Config{Portable: true}},
	}
	for _, tc := range cases {
		for _, path := range paths {
			portable := path.cfg.Portable
			t.Run(tc.name+"/"+path.name, func(t *testing.T) {
				cfg := path.cfg
				cfg.RingBufferBytes = 32 << 20
				c, err := Open(cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				t.Logf("fast paths: %+v", c.FastPaths())
				if fb := c.FastPaths().Fallback; fb != "" {
					t.Errorf("the kernel advertised fast paths the verifier then refused: %s", fb)
				}
				if why := c.FastPaths().FentryUnavailable; strings.Contains(why, "verifier") {
					t.Errorf("the kernel attaches fentry programs but its verifier refused ours: %s", why)
				}
				// The preemption guard stays on where the kernel has it: it is what keeps the compat object's one
				// scratch slot per CPU whole on a preemptible kernel.
				if want := (FastPaths{Compat: true, PreemptOff: probeHelpers(btf.NewCache()).PreemptOff}); portable && c.FastPaths() != want {
					t.Fatalf("portable capture uses fast paths %+v, want %+v", c.FastPaths(), want)
				}
				captureWhole(t, c, tc.cmd(), tc.kind, want)
			})
		}
	}
}

// captureWhole runs cmd under c and fails unless a stream of kind carried want, byte-exact, with its reader
// reported and nothing undelivered. It returns the kernel's counters.
func captureWhole(t *testing.T, c *Capture, cmd *exec.Cmd, kind uint8, want []byte) Stats {
	t.Helper()
	cmd.Stderr = os.Stderr
	got := runAndCollect(t, c, cmd.Run)
	var matched bool
	for k, chunks := range got.data {
		if k.Kind != kind {
			continue
		}
		if b := concat(chunks); !bytes.Equal(b, want) {
			t.Errorf("stream %v: captured %d bytes, want %d byte-exact (lost %d)", k, len(b), len(want), got.lost)
			continue
		}
		matched = true
		if len(got.readers[k]) == 0 {
			t.Errorf("stream %v: no reader reported", k)
		}
	}
	st, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Undelivered() != 0 {
		t.Errorf("kernel reports %d undelivered bytes: %+v", st.Undelivered(), st)
	}
	if !matched {
		t.Fatalf("no stream of kind %d carried the messages; streams: %d; kernel counters %+v", kind, len(got.data), st)
	}
	return st
}

// TestLargePipeWriteSmallRing: the 4 MiB message of the test messages, written in one write(2) on a blocking pipe,
// arrives whole and byte-exact through a ring buffer of 2 MiB: it is copied while the writer waits for its reader
// (early_copy in c/stdio.c), not all at once at the write's exit, which a ring smaller than the write cannot take.
// The reader pauses between reads, as a server parsing what it reads would: a reader that drains the pipe faster
// than the monitor drains the ring lets the writer run ahead of the copies, and under emulation in the kernel
// matrix's one-CPU guests the monitor is the slower one (the early copies then lag by more than the ring holds at
// the write's exit, and the rest is counted lost).
func TestLargePipeWriteSmallRing(t *testing.T) {
	requireRoot(t)
	want := bytes.Join(testMessages(), nil)
	for _, path := range []struct {
		name string
		cfg  Config
	}{
		{"auto", Config{}},
		{"portable", Config{Portable: true}},
	} {
		t.Run(path.name, func(t *testing.T) {
			cfg := path.cfg
			cfg.RingBufferBytes = 2 << 20
			c, err := Open(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			st := captureWhole(t, c, helperPipelineTo("read-stdin-slowly"), stream.KindPipe, want)
			// All but the last pipe's worth or so of the 4 MiB write is copied before its exit.
			if st.EarlyBytes < 3<<20 {
				t.Errorf("%d bytes copied while the write waited, want most of its 4 MiB", st.EarlyBytes)
			}
		})
	}
}

// TestReaderBacksOffWhenIdle: with nothing to read, the reader polls less and less often (one watermark per poll),
// down to idlePollInterval; a record still comes through after the quiet spell, and fast polls come back with it.
func TestReaderBacksOffWhenIdle(t *testing.T) {
	requireRoot(t)
	c, err := Open(Config{Filter: true, RingBufferBytes: 1 << 20}) // nothing traced yet: nothing to read
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- c.Run(ctx) }()
	// watermarks counts the watermarks of d, and whether data came meanwhile.
	watermarks := func(d time.Duration) (n int, data bool) {
		end := time.After(d)
		for {
			select {
			case e := <-c.Events():
				switch e.Kind {
				case KindWatermark:
					n++
				case KindData:
					data = true
				}
				c.Release(e)
			case <-end:
				return n, data
			}
		}
	}
	// Fast, about 100 polls in 500 ms; backed off, 5. The bounds leave room for a loaded machine's late wakeups.
	if n, _ := watermarks(500 * time.Millisecond); n < 15 {
		t.Errorf("first 500 ms: %d polls, want about %d", n, 500*time.Millisecond/pollInterval)
	}
	watermarks(2 * time.Second) // idlePolls polls, then the back-off
	if n, _ := watermarks(time.Second); n > 15 {
		t.Errorf("after 2.5 s of nothing: %d polls in a second, want about %d", n, time.Second/idlePollInterval)
	}

	if err := c.AddComm("sh"); err != nil {
		t.Fatal(err)
	}
	cmd := helperPipeline()
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	var got bool
	for deadline := time.Now().Add(10 * time.Second); !got && time.Now().Before(deadline); {
		_, got = watermarks(100 * time.Millisecond)
	}
	if !got {
		t.Fatal("no data record within 10 s of the writes that followed the quiet spell")
	}
	watermarks(100 * time.Millisecond) // the rest of the messages
	if n, _ := watermarks(500 * time.Millisecond); n < 15 {
		t.Errorf("500 ms after data came: %d polls, want about %d", n, 500*time.Millisecond/pollInterval)
	}
	cancel()
	for range c.Events() {
	}
	if err := <-runDone; err != nil {
		t.Fatal(err)
	}
}
