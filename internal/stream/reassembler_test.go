package stream

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

var (
	keyA = Key{Kind: KindPipe, Ino: 11}
	keyB = Key{Kind: KindUnix, Ino: 22}
	keyC = Key{Kind: KindPipe, Ino: 33}
)

// got is a frame as the tests compare it: Data copied, times and writer left out (TestTimesAndWriter checks them).
type got struct {
	Key        Key
	Gen        uint64
	Offset     uint64
	Data       string
	Size       int
	LostBytes  uint64
	Truncated  bool
	Oversize   bool
	Incomplete bool
}

func (g got) String() string {
	var flags []string
	for _, f := range []struct {
		on   bool
		name string
	}{{g.Truncated, "truncated"}, {g.Oversize, "oversize"}, {g.Incomplete, "incomplete"}} {
		if f.on {
			flags = append(flags, f.name)
		}
	}
	return fmt.Sprintf("{%v gen %d @%d %q size %d lost %d %s}", g.Key, g.Gen, g.Offset, g.Data, g.Size, g.LostBytes,
		strings.Join(flags, ","))
}

// recorder collects the frames a Reassembler emits and checks the invariants every frame must hold.
type recorder struct {
	t      testing.TB
	cfg    Config
	frames []got
}

func (rec *recorder) emit(f Frame) {
	rec.t.Helper()
	if err := checkFrame(f, rec.cfg.withDefaults()); err != nil {
		rec.t.Errorf("frame %d: %v", len(rec.frames), err)
	}
	rec.frames = append(rec.frames, got{
		Key: f.Key, Gen: f.Gen, Offset: f.Offset, Data: string(f.Data), Size: f.Size, LostBytes: f.LostBytes,
		Truncated: f.Truncated, Oversize: f.Oversize, Incomplete: f.Incomplete,
	})
}

// checkFrame returns what is wrong with f, if anything.
func checkFrame(f Frame, cfg Config) error {
	switch {
	case f.Size <= 0:
		return fmt.Errorf("size %d: empty frames must not be emitted", f.Size)
	case len(f.Data) > f.Size:
		return fmt.Errorf("%d bytes of data for size %d", len(f.Data), f.Size)
	case bytes.IndexByte(f.Data, '\n') >= 0:
		return fmt.Errorf("data %q holds a newline", f.Data)
	case f.LostBytes > 0 && !f.Truncated:
		return fmt.Errorf("%d bytes lost but not truncated", f.LostBytes)
	case f.Incomplete && !f.Truncated:
		return fmt.Errorf("incomplete but not truncated")
	case f.Oversize && len(f.Data) > cfg.OversizePrefix:
		return fmt.Errorf("oversize frame keeps %d bytes, prefix is %d", len(f.Data), cfg.OversizePrefix)
	case !f.Oversize && f.Size > cfg.MaxMessage:
		return fmt.Errorf("size %d beyond MaxMessage %d but not oversize", f.Size, cfg.MaxMessage)
	case f.Size < (1<<62) && f.LostBytes > uint64(f.Size):
		return fmt.Errorf("%d bytes lost of %d", f.LostBytes, f.Size)
	case f.Size < (1<<62) && !f.Oversize && uint64(len(f.Data))+f.LostBytes != uint64(f.Size):
		return fmt.Errorf("%d bytes of data and %d lost do not add up to size %d", len(f.Data), f.LostBytes, f.Size)
	case f.Size < (1<<62) && f.Oversize && uint64(len(f.Data))+f.LostBytes > uint64(f.Size):
		return fmt.Errorf("oversize: %d bytes of data and %d lost exceed size %d", len(f.Data), f.LostBytes, f.Size)
	}
	return nil
}

func newRecorder(t testing.TB, cfg Config) (*Reassembler, *recorder) {
	rec := &recorder{t: t, cfg: cfg}
	return New(cfg, rec.emit), rec
}

// step is one call on the Reassembler under test.
type step func(r *Reassembler)

// chunk returns a generation-1 chunk of key at off, written at time 1000+off by pid 7.
func chunk(key Key, off uint64, data string) Chunk {
	return Chunk{Key: key, Gen: 1, Offset: off, Data: []byte(data), Time: 1000 + off,
		Writer: Writer{Pid: 7, Tid: 7, Comm: "srv"}}
}

func push(key Key, off uint64, data string) step {
	return pushChunk(chunk(key, off, data))
}

func pushLost(key Key, off uint64, data string, lostTotal uint64) step {
	c := chunk(key, off, data)
	c.LostTotal = lostTotal
	return pushChunk(c)
}

func pushGen(key Key, gen, off uint64, data string) step {
	c := chunk(key, off, data)
	c.Gen = gen
	return pushChunk(c)
}

func pushChunk(c Chunk) step { return func(r *Reassembler) { r.Push(c) } }

func closeStream(key Key) step { return func(r *Reassembler) { r.Close(key) } }

func flush(now uint64) step { return func(r *Reassembler) { r.Flush(now) } }

// whole describes a complete generation-1 message of key.
func whole(key Key, off uint64, data string) got {
	return got{Key: key, Gen: 1, Offset: off, Data: data, Size: len(data)}
}

func TestReassembler(t *testing.T) {
	const sec = uint64(time.Second)
	tests := []struct {
		name  string
		cfg   Config
		steps []step
		want  []got
		stats func(Stats) string // returns what is wrong with the counters
	}{
		{
			name:  "message split across chunks",
			steps: []step{push(keyA, 0, `{"id":`), push(keyA, 6, `1,"x":`), push(keyA, 12, "2}\n")},
			want:  []got{whole(keyA, 0, `{"id":1,"x":2}`)},
		},
		{
			name:  "several messages per chunk",
			steps: []step{push(keyA, 0, "a\nbb\nccc\ndd"), push(keyA, 11, "d\ne\nf")},
			want: []got{whole(keyA, 0, "a"), whole(keyA, 2, "bb"), whole(keyA, 5, "ccc"), whole(keyA, 9, "ddd"),
				whole(keyA, 13, "e")},
		},
		{
			name:  "crlf stripped once",
			steps: []step{push(keyA, 0, "a\r\nb\r"), push(keyA, 5, "\nc\r\r\n\r"), push(keyA, 11, "\n")},
			want:  []got{whole(keyA, 0, "a"), whole(keyA, 3, "b"), whole(keyA, 6, "c\r")},
			stats: func(s Stats) string { return expectCount("empty lines", s.EmptyLines, 1) },
		},
		{
			name:  "empty lines skipped and counted",
			steps: []step{push(keyA, 0, "\n\n\r\nx\n"), push(keyA, 6, "\n"), push(keyA, 7, "\r"), push(keyA, 8, "\n")},
			want:  []got{whole(keyA, 4, "x")},
			stats: func(s Stats) string { return expectCount("empty lines", s.EmptyLines, 5) },
		},
		{
			name: "out-of-order delivery",
			steps: []step{push(keyA, 0, "one\ntw"), push(keyA, 10, "three\n"), push(keyA, 16, "four\n"),
				push(keyA, 6, "o\n\n\n")},
			want: []got{whole(keyA, 0, "one"), whole(keyA, 4, "two"), whole(keyA, 10, "three"),
				whole(keyA, 16, "four")},
			stats: func(s Stats) string {
				return expectCount("reordered chunks", s.ReorderedChunks, 2) + expectCount("held", uint64(s.HeldBytes), 0)
			},
		},
		{
			name:  "out-of-order at stream start",
			steps: []step{push(keyA, 4, "two\n"), push(keyA, 0, "one\n")},
			want:  []got{whole(keyA, 0, "one"), whole(keyA, 4, "two")},
		},
		{
			name: "duplicates trimmed",
			steps: []step{push(keyA, 0, "abc"), push(keyA, 0, "abc"), push(keyA, 1, "bcde\nf"), push(keyA, 8, "h\n"),
				push(keyA, 8, "h\n"), push(keyA, 6, "fg"), push(keyA, 0, "abcde\nfgh\n")},
			want:  []got{whole(keyA, 0, "abcde"), whole(keyA, 6, "fgh")},
			stats: func(s Stats) string { return expectCount("duplicate bytes", s.DuplicateBytes, 3+2+2+1+10) },
		},
		{
			name:  "loss detected from LostTotal",
			steps: []step{push(keyA, 0, "ok\nabc"), pushLost(keyA, 13, "xyz\nnext\n", 7)},
			want: []got{whole(keyA, 0, "ok"),
				{Key: keyA, Gen: 1, Offset: 3, Data: "abcxyz", Size: 13, LostBytes: 7, Truncated: true},
				whole(keyA, 17, "next")},
			stats: func(s Stats) string {
				return expectCount("lost bytes", s.LostBytes, 7) + expectCount("gaps lost", s.GapsLost, 1) +
					expectCount("held", uint64(s.HeldBytes), 0)
			},
		},
		{
			name: "LostTotal smaller than the gap waits for the gap",
			steps: []step{push(keyA, 0, "ab"), pushLost(keyA, 6, "gh\n", 2), pushLost(keyA, 4, "ef", 2),
				closeStream(keyA)},
			want: []got{{Key: keyA, Gen: 1, Offset: 0, Data: "abefgh", Size: 8, LostBytes: 2, Truncated: true}},
		},
		{
			name:  "loss reported by an in-order chunk releases held chunks",
			steps: []step{push(keyA, 0, "ab"), push(keyA, 5, "f\n"), pushLost(keyA, 2, "c", 2)},
			want:  []got{{Key: keyA, Gen: 1, Offset: 0, Data: "abcf", Size: 6, LostBytes: 2, Truncated: true}},
		},
		{
			name: "loss by timeout",
			steps: []step{push(keyA, 0, "abc"), push(keyA, 10, "xyz\nnext\n"), flush(1010 + sec - 1),
				push(keyB, 0, "other\n"), flush(1010 + sec)},
			want: []got{whole(keyB, 0, "other"),
				{Key: keyA, Gen: 1, Offset: 0, Data: "abcxyz", Size: 13, LostBytes: 7, Truncated: true},
				whole(keyA, 14, "next")},
			stats: func(s Stats) string { return expectCount("gaps timed out", s.GapsTimedOut, 1) },
		},
		{
			name: "timeout counts from arrival, not from the time written",
			steps: []step{flush(100 * sec), push(keyA, 0, "abc"), push(keyA, 10, "xyz\n"), flush(100*sec + sec/2),
				push(keyA, 3, "defghij"), flush(200 * sec)},
			want: []got{whole(keyA, 0, "abcdefghijxyz")},
		},
		{
			name: "loss followed by a message start",
			steps: []step{push(keyA, 0, `{"id":1,"result":{"text":"`),
				pushLost(keyA, 40, `{"jsonrpc":"2.0","id":2}`+"\n", 14)},
			want: []got{
				{Key: keyA, Gen: 1, Offset: 0, Data: `{"id":1,"result":{"text":"`, Size: 40, LostBytes: 14,
					Truncated: true, Incomplete: true},
				whole(keyA, 40, `{"jsonrpc":"2.0","id":2}`)},
			stats: func(s Stats) string { return expectCount("resyncs", s.Resyncs, 1) },
		},
		{
			name:  "whole messages lost between two messages",
			steps: []step{push(keyA, 0, `{"id":1}`+"\n"), pushLost(keyA, 29, `[{"method":"x"}]`+"\n", 20)},
			want: []got{whole(keyA, 0, `{"id":1}`),
				{Key: keyA, Gen: 1, Offset: 9, Size: 20, LostBytes: 20, Truncated: true, Incomplete: true},
				whole(keyA, 29, `[{"method":"x"}]`)},
		},
		{
			name:  "bytes after a loss that do not start a message end the truncated one",
			steps: []step{push(keyA, 0, `{"id":1}`+"\n"), pushLost(keyA, 29, `{"idx":1}`+"\n"+`{"id":3}`+"\n", 20)},
			want: []got{whole(keyA, 0, `{"id":1}`),
				{Key: keyA, Gen: 1, Offset: 9, Data: `{"idx":1}`, Size: 29, LostBytes: 20, Truncated: true},
				whole(keyA, 39, `{"id":3}`)},
		},
		{
			name: "new generation",
			steps: []step{push(keyA, 0, "old\npart"), pushGen(keyA, 2, 0, "new\n"), pushGen(keyA, 1, 8, "ial\n"),
				pushGen(keyA, 2, 4, "x\n")},
			want: []got{whole(keyA, 0, "old"),
				{Key: keyA, Gen: 1, Offset: 4, Data: "part", Size: 4, Truncated: true, Incomplete: true},
				{Key: keyA, Gen: 2, Offset: 0, Data: "new", Size: 3}, {Key: keyA, Gen: 2, Offset: 4, Data: "x", Size: 1}},
			stats: func(s Stats) string {
				return expectCount("stale bytes", s.StaleBytes, 4) + expectCount("generations", s.Generations, 1)
			},
		},
		{
			name:  "new generation flushes held chunks as lost",
			steps: []step{push(keyA, 0, "ab"), push(keyA, 5, "f\n"), pushGen(keyA, 2, 0, "new\n")},
			want: []got{{Key: keyA, Gen: 1, Offset: 0, Data: "abf", Size: 6, LostBytes: 3, Truncated: true},
				{Key: keyA, Gen: 2, Offset: 0, Data: "new", Size: 3}},
		},
		{
			name:  "close with partial line",
			steps: []step{push(keyA, 0, "done\npart"), closeStream(keyA), closeStream(keyA), push(keyA, 0, "again\n")},
			want: []got{whole(keyA, 0, "done"),
				{Key: keyA, Gen: 1, Offset: 5, Data: "part", Size: 4, Truncated: true, Incomplete: true},
				whole(keyA, 0, "again")},
		},
		{
			name:  "close charges loss reported past the last byte",
			steps: []step{push(keyA, 0, "done\n"), pushLost(keyA, 5, "par", 0), pushLost(keyA, 8, "t", 6), closeStream(keyA)},
			want: []got{whole(keyA, 0, "done"),
				{Key: keyA, Gen: 1, Offset: 5, Data: "part", Size: 10, LostBytes: 6, Truncated: true, Incomplete: true}},
		},
		{
			name:  "close with nothing but loss pending",
			steps: []step{push(keyA, 0, "done\n"), pushLost(keyA, 5, "", 9), closeStream(keyA)},
			want: []got{whole(keyA, 0, "done"),
				{Key: keyA, Gen: 1, Offset: 5, Size: 9, LostBytes: 9, Truncated: true, Incomplete: true}},
		},
		{
			name: "oversize line with newline",
			cfg:  Config{MaxMessage: 10, OversizePrefix: 4},
			steps: []step{push(keyA, 0, "0123456"), push(keyA, 7, "789ABC"), push(keyA, 13, "DEF\n0123456789\r\n"),
				push(keyA, 29, "0123456789A\nok\n")},
			want: []got{{Key: keyA, Gen: 1, Offset: 0, Data: "0123", Size: 16, Oversize: true},
				whole(keyA, 17, "0123456789"),
				{Key: keyA, Gen: 1, Offset: 29, Data: "0123", Size: 11, Oversize: true},
				whole(keyA, 41, "ok")},
			stats: func(s Stats) string { return expectCount("oversize frames", s.OversizeFrames, 2) },
		},
		{
			name: "message of exactly MaxMessage split before its crlf",
			cfg:  Config{MaxMessage: 10, OversizePrefix: 4},
			steps: []step{push(keyA, 0, "0123456789\r"), push(keyA, 11, "\n"), push(keyA, 12, "0123456789"),
				push(keyA, 22, "A"), push(keyA, 23, "\n")},
			want: []got{whole(keyA, 0, "0123456789"), {Key: keyA, Gen: 1, Offset: 12, Data: "0123", Size: 11, Oversize: true}},
		},
		{
			name:  "oversize line without newline",
			cfg:   Config{MaxMessage: 10, OversizePrefix: 4},
			steps: []step{push(keyA, 0, "ok\n0123456"), push(keyA, 10, "789ABCDEF"), closeStream(keyA)},
			want: []got{whole(keyA, 0, "ok"),
				{Key: keyA, Gen: 1, Offset: 3, Data: "0123", Size: 16, Oversize: true, Truncated: true, Incomplete: true}},
		},
		{
			name: "many streams interleaved",
			steps: []step{push(keyA, 0, "a1"), push(keyB, 0, "b1\nb"), push(keyC, 0, "c1\n"), push(keyA, 2, "\na2\n"),
				push(keyB, 4, "2\n"), closeStream(keyC), push(keyC, 0, "c2\n")},
			want: []got{whole(keyB, 0, "b1"), whole(keyC, 0, "c1"), whole(keyA, 0, "a1"), whole(keyA, 3, "a2"),
				whole(keyB, 3, "b2"), whole(keyC, 0, "c2")},
		},
		{
			name: "MaxStreams eviction",
			cfg:  Config{MaxStreams: 2},
			steps: []step{push(keyA, 0, "a"), push(keyB, 0, "b"), push(keyA, 1, "A"), push(keyC, 0, "c\n"),
				push(keyA, 2, "\n")},
			want: []got{{Key: keyB, Gen: 1, Data: "b", Size: 1, Truncated: true, Incomplete: true},
				whole(keyC, 0, "c"), whole(keyA, 0, "aA")},
			stats: func(s Stats) string {
				return expectCount("evicted", s.StreamsEvicted, 1) + expectCount("streams", uint64(s.Streams), 2)
			},
		},
		{
			name: "MaxPending exceeded",
			cfg:  Config{MaxPending: 8},
			steps: []step{push(keyA, 0, "ab"), push(keyA, 10, "klmn"), push(keyA, 14, "opqr"),
				push(keyA, 18, "s\nt\n"), push(keyA, 2, "cdefghij")},
			want: []got{{Key: keyA, Gen: 1, Offset: 0, Data: "abklmnopqrs", Size: 19, LostBytes: 8, Truncated: true},
				whole(keyA, 20, "t")},
			stats: func(s Stats) string {
				return expectCount("overflowed", s.GapsOverflowed, 1) + expectCount("duplicates", s.DuplicateBytes, 8)
			},
		},
		{
			name:  "MaxPending exceeded by one large chunk",
			cfg:   Config{MaxPending: 4},
			steps: []step{push(keyA, 0, "ab"), push(keyA, 3, "d\n"), push(keyA, 6, "ghijklmn\n")},
			want: []got{{Key: keyA, Gen: 1, Offset: 0, Data: "abd", Size: 4, LostBytes: 1, Truncated: true},
				{Key: keyA, Gen: 1, Offset: 5, Data: "ghijklmn", Size: 9, LostBytes: 1, Truncated: true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, rec := newRecorder(t, tt.cfg)
			for _, s := range tt.steps {
				s(r)
			}
			if !sameFrames(rec.frames, tt.want) {
				t.Errorf("frames:\n%s\nwant:\n%s", framesString(rec.frames), framesString(tt.want))
			}
			st := r.Stats()
			if tt.stats != nil {
				if msg := tt.stats(st); msg != "" {
					t.Errorf("stats %+v:%s", st, msg)
				}
			}
			if st.Frames != uint64(len(rec.frames)) {
				t.Errorf("stats count %d frames, %d emitted", st.Frames, len(rec.frames))
			}
			checkConservation(t, r)
		})
	}
}

func expectCount(name string, got, want uint64) string {
	if got != want {
		return fmt.Sprintf(" %s %d, want %d;", name, got, want)
	}
	return ""
}

func sameFrames(a, b []got) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func framesString(fs []got) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "\t%v\n", f)
	}
	return b.String()
}

// checkConservation checks that every byte pushed was delivered in order, dropped (duplicate, stale or invalid),
// or is held.
func checkConservation(t testing.TB, r *Reassembler) {
	t.Helper()
	st := r.Stats()
	accounted := r.delivered + st.DuplicateBytes + st.StaleBytes + st.InvalidBytes + uint64(st.HeldBytes)
	if accounted != st.BytesIn {
		t.Errorf("%d bytes in, but %d delivered + %d duplicate + %d stale + %d invalid + %d held", st.BytesIn,
			r.delivered, st.DuplicateBytes, st.StaleBytes, st.InvalidBytes, st.HeldBytes)
	}
	held := 0
	for _, s := range r.streams {
		held += s.heldBytes
	}
	if held != st.HeldBytes {
		t.Errorf("streams hold %d bytes, stats say %d", held, st.HeldBytes)
	}
}

func TestTimesAndWriter(t *testing.T) {
	var frames []Frame
	r := New(Config{}, func(f Frame) {
		f.Data = bytes.Clone(f.Data)
		frames = append(frames, f)
	})
	w1 := Writer{Pid: 1, Tid: 2, Comm: "first"}
	w2 := Writer{Pid: 1, Tid: 3, Comm: "second"}
	r.Push(Chunk{Key: keyA, Gen: 1, Offset: 0, Data: []byte("he"), Time: 10, Writer: w1})
	r.Push(Chunk{Key: keyA, Gen: 1, Offset: 2, Data: []byte("llo"), Time: 20, Writer: w2})
	r.Push(Chunk{Key: keyA, Gen: 1, Offset: 5, Data: []byte("\nx\n"), Time: 30, Writer: w1})
	if len(frames) != 2 {
		t.Fatalf("%d frames, want 2", len(frames))
	}
	if f := frames[0]; f.Start != 10 || f.End != 20 || f.Writer != w2 || string(f.Data) != "hello" {
		t.Errorf("first frame: start %d end %d writer %+v data %q; want 10, 20, %+v, hello", f.Start, f.End, f.Writer,
			f.Data, w2)
	}
	if f := frames[1]; f.Start != 30 || f.End != 30 || f.Writer != w1 {
		t.Errorf("second frame: start %d end %d writer %+v; want 30, 30, %+v", f.Start, f.End, f.Writer, w1)
	}
}

// TestLargeMessage checks that a 16 MiB message in 64 KiB chunks comes out whole and byte-exact with the default
// Config, and that the stream does not keep its 16 MiB buffer afterwards.
func TestLargeMessage(t *testing.T) {
	const size = 16 << 20
	msg := randomLine(rand.New(rand.NewPCG(1, 2)), size)
	var frames int
	r := New(Config{}, func(f Frame) {
		frames++
		if f.Truncated || f.Oversize || f.Size != size || !bytes.Equal(f.Data, msg) {
			t.Errorf("frame of %d bytes (size %d, truncated %v, oversize %v) is not the message", len(f.Data), f.Size,
				f.Truncated, f.Oversize)
		}
	})
	stream := append(bytes.Clone(msg), '\n')
	for off := 0; off < len(stream); off += 64 << 10 {
		end := min(off+64<<10, len(stream))
		r.Push(Chunk{Key: keyA, Gen: 1, Offset: uint64(off), Data: stream[off:end]})
	}
	if frames != 1 {
		t.Fatalf("%d frames, want 1", frames)
	}
	if c := cap(r.streams[keyA].line.buf); c > retainBuffer {
		t.Errorf("stream keeps a buffer of %d bytes after the message", c)
	}
}

// TestHugeLineBoundedMemory pushes a 100 MB line without a newline: memory stays bounded and the line comes out as
// one oversize frame.
func TestHugeLineBoundedMemory(t *testing.T) {
	const total = 100_000_000
	var frames []Frame
	r := New(Config{}, func(f Frame) {
		f.Data = bytes.Clone(f.Data)
		frames = append(frames, f)
	})
	piece := bytes.Repeat([]byte("x"), 64<<10)
	off := 0
	for off < total {
		n := min(len(piece), total-off)
		r.Push(Chunk{Key: keyA, Gen: 1, Offset: uint64(off), Data: piece[:n]})
		off += n
	}
	if c := cap(r.streams[keyA].line.buf); c > DefaultOversizePrefix {
		t.Errorf("buffer of %d bytes held for an oversize line", c)
	}
	r.Push(Chunk{Key: keyA, Gen: 1, Offset: uint64(off), Data: []byte("\n")})
	if len(frames) != 1 {
		t.Fatalf("%d frames, want 1", len(frames))
	}
	if f := frames[0]; !f.Oversize || f.Truncated || f.Size != total || len(f.Data) != DefaultOversizePrefix {
		t.Errorf("frame: oversize %v truncated %v size %d data %d bytes", f.Oversize, f.Truncated, f.Size, len(f.Data))
	}
}

func TestFlushReleasesIdleBuffers(t *testing.T) {
	const sec = uint64(time.Second)
	r, _ := newRecorder(t, Config{IdleTimeout: time.Second})
	r.Push(Chunk{Key: keyA, Gen: 1, Data: []byte("whole\n"), Time: 1 * sec})
	r.Push(Chunk{Key: keyB, Gen: 1, Data: []byte("partial"), Time: 1 * sec})
	r.Push(Chunk{Key: keyC, Gen: 1, Data: []byte("x"), Time: 2 * sec})
	r.Push(Chunk{Key: keyC, Gen: 1, Offset: 1, Data: []byte("\n"), Time: 2 * sec})
	if cap(r.streams[keyC].line.buf) == 0 {
		t.Fatal("an active stream has no buffer to reuse")
	}
	r.Flush(2*sec + sec/2)
	if r.streams[keyB].line.buf == nil || r.streams[keyC].line.buf == nil {
		t.Error("buffers released before IdleTimeout")
	}
	r.Flush(3*sec + sec/2)
	if r.streams[keyC].line.buf != nil {
		t.Error("idle stream C keeps its buffer")
	}
	if got := string(r.streams[keyB].line.buf); got != "partial" {
		t.Errorf("idle stream B's partial message became %q", got)
	}
	// A released stream that is used again works, and goes idle again later.
	r.Push(Chunk{Key: keyC, Gen: 1, Offset: 2, Data: []byte("y"), Time: 4 * sec})
	r.Flush(6 * sec)
	if string(r.streams[keyC].line.buf) != "y" {
		t.Errorf("stream C holds %q, want y", r.streams[keyC].line.buf)
	}
	if r.sweptTail != r.newest {
		t.Error("not every stream was swept")
	}
}

func TestKeyString(t *testing.T) {
	for key, want := range map[Key]string{keyA: "pipe:11", keyB: "unix:22", {Kind: 9, Ino: 1}: "kind9:1"} {
		if got := key.String(); got != want {
			t.Errorf("%#v.String() = %q, want %q", key, got, want)
		}
	}
}

func TestLooksLikeMessageStart(t *testing.T) {
	for in, want := range map[string]bool{
		`{"jsonrpc":"2.0"}`: true, `{"id":1}`: true, `{"method":"x"}`: true, `{"result":{}}`: true,
		`{"error":{}}`: true, `{"params":{}}`: true, `[{"id":1}]`: true, `[ {"id":1}]`: true, ` {"id":1}`: true,
		`{"idx":1}`: false, `{"id`: false, `{ "id":1}`: false, `x{"id":1}`: false, ``: false, `[`: false,
		`{"jsonrpc`: false,
	} {
		if got := looksLikeMessageStart([]byte(in)); got != want {
			t.Errorf("looksLikeMessageStart(%q) = %v, want %v", in, got, want)
		}
	}
}

// randomLine returns n random bytes without '\n' or a final '\r'.
func randomLine(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		c := byte(rng.Uint32())
		if c == '\n' {
			c = 'n'
		}
		b[i] = c
	}
	if n > 0 && b[n-1] == '\r' {
		b[n-1] = 'r'
	}
	return b
}
