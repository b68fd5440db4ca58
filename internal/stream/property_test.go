package stream

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestRandomStreams pushes random messages of several streams, cut into random chunks, interleaved at random,
// reordered within a window, with duplicates and periodic Flush calls, and checks that every stream's frames are its
// messages exactly.
func TestRandomStreams(t *testing.T) {
	iterations := 300
	if testing.Short() {
		iterations = 30
	}
	for seed := range uint64(iterations) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			checkRandomStreams(t, seed)
		})
	}
}

// plannedStream is one stream of the random test: its messages and the chunks that carry them.
type plannedStream struct {
	key      Key
	messages [][]byte
	empty    int // empty lines written between the messages
	chunks   []Chunk
	next     int // index of the next chunk to push
}

func checkRandomStreams(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	cfg := Config{
		MaxPending:  1 << 20,   // more than a window of reordered chunks can hold
		GapTimeout:  time.Hour, // reordering, never loss
		IdleTimeout: time.Duration(1 + rng.IntN(1000)),
	}
	var streams []*plannedStream
	for i := range 1 + rng.IntN(8) {
		streams = append(streams, planStream(rng, Key{Kind: KindPipe + uint8(i%2), Ino: uint64(100 + i)}))
	}

	got := make(map[Key][][]byte)
	r := New(cfg, func(f Frame) {
		if f.Truncated || f.Oversize || f.LostBytes != 0 || f.Size != len(f.Data) {
			t.Errorf("%v: frame at %d damaged: %+v", f.Key, f.Offset, f)
		}
		got[f.Key] = append(got[f.Key], bytes.Clone(f.Data))
	})

	var clock uint64
	var recent [64]Chunk // chunks pushed lately, to push again as duplicates
	pushes := 0
	for live := slices.Clone(streams); len(live) > 0; {
		i := rng.IntN(len(live))
		s := live[i]
		c := s.chunks[s.next]
		s.next++
		if s.next == len(s.chunks) {
			live = slices.Delete(live, i, i+1)
		}
		clock += uint64(rng.IntN(1000))
		c.Time = clock
		r.Push(c)
		recent[pushes%len(recent)] = c
		pushes++
		if rng.IntN(20) == 0 {
			r.Push(recent[rng.IntN(min(pushes, len(recent)))])
		}
		if rng.IntN(10) == 0 {
			r.Flush(clock)
		}
	}
	for _, s := range streams {
		r.Close(s.key)
	}

	for _, s := range streams {
		if !slices.EqualFunc(got[s.key], s.messages, bytes.Equal) {
			t.Errorf("%v: %d frames, want %d messages%s", s.key, len(got[s.key]), len(s.messages),
				firstDifference(got[s.key], s.messages))
		}
	}
	st := r.Stats()
	wantEmpty := 0
	for _, s := range streams {
		wantEmpty += s.empty
	}
	if st.EmptyLines != uint64(wantEmpty) || st.LostBytes != 0 || st.TruncatedFrames != 0 || st.Streams != 0 {
		t.Errorf("stats %+v: want %d empty lines, nothing lost, no stream left", st, wantEmpty)
	}
	checkConservation(t, r)
}

// planStream makes random messages, writes them with random line endings and empty lines, cuts the bytes into
// random chunks and shuffles the chunks within a small window.
func planStream(rng *rand.Rand, key Key) *plannedStream {
	s := &plannedStream{key: key}
	maxChunk := []int{1, 7, 64, 4 << 10, 64 << 10}[rng.IntN(5)]
	large := 80 << 10 // spans many chunks
	if maxChunk < 64 {
		large = 2 << 10 // keeps the chunk count reasonable
	}
	var data []byte
	for range 1 + rng.IntN(60) {
		var n int
		switch rng.IntN(10) {
		case 0:
			n = 1 + rng.IntN(large)
		case 1, 2:
			n = 1 + rng.IntN(4)
		default:
			n = 1 + rng.IntN(400)
		}
		msg := randomLine(rng, n)
		s.messages = append(s.messages, msg)
		data = append(data, msg...)
		if rng.IntN(3) == 0 {
			data = append(data, '\r')
		}
		data = append(data, '\n')
		for rng.IntN(8) == 0 {
			s.empty++
			data = append(data, "\n"...)
		}
	}

	for off := 0; off < len(data); {
		n := min(1+rng.IntN(maxChunk), len(data)-off)
		s.chunks = append(s.chunks, Chunk{
			Key: key, Gen: 7, Offset: uint64(off), Data: data[off : off+n],
			Writer: Writer{Pid: 1, Tid: 1 + rng.IntN(3)},
		})
		off += n
	}

	// Each chunk moves at most window places: sort by index plus a random lag.
	window := rng.IntN(6)
	type ranked struct {
		rank  int
		chunk Chunk
	}
	order := make([]ranked, len(s.chunks))
	for i, c := range s.chunks {
		order[i] = ranked{i + rng.IntN(window+1), c}
	}
	slices.SortStableFunc(order, func(a, b ranked) int { return a.rank - b.rank })
	for i := range order {
		s.chunks[i] = order[i].chunk
	}
	return s
}

func firstDifference(got, want [][]byte) string {
	for i := range min(len(got), len(want)) {
		if !bytes.Equal(got[i], want[i]) {
			return fmt.Sprintf("; frame %d has %d bytes %.40q, want %d bytes %.40q", i, len(got[i]), got[i],
				len(want[i]), want[i])
		}
	}
	return ""
}
