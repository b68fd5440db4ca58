package stream

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchStream is the bytes of a stream of JSON-like messages and the chunks that carry them.
type benchStream struct {
	data     []byte
	chunks   [][2]int // [start, end) in data
	messages int
}

// newBenchStream writes messages of minSize to maxSize bytes up to about total bytes. With chunkSize > 0 the stream
// is cut every chunkSize bytes regardless of messages; with chunkSize == 0 each message is written by its own write,
// which the kernel cuts into 32 KiB chunks (what a real MCP writer produces).
func newBenchStream(total, minSize, maxSize, chunkSize int) *benchStream {
	rng := rand.New(rand.NewPCG(1, 1))
	s := &benchStream{}
	for len(s.data) < total {
		n := minSize + rng.IntN(maxSize-minSize+1)
		start := len(s.data)
		s.data = fmt.Appendf(s.data, `{"jsonrpc":"2.0","id":%d,"result":{"text":"`, s.messages)
		for len(s.data)-start < n-3 {
			s.data = append(s.data, 'a'+byte(rng.IntN(26)))
		}
		s.data = append(s.data, "\"}}\n"...)
		s.messages++
		if chunkSize == 0 {
			for off := start; off < len(s.data); off += 32 << 10 {
				s.chunks = append(s.chunks, [2]int{off, min(off+32<<10, len(s.data))})
			}
		}
	}
	if chunkSize > 0 {
		for off := 0; off < len(s.data); off += chunkSize {
			s.chunks = append(s.chunks, [2]int{off, min(off+chunkSize, len(s.data))})
		}
	}
	return s
}

// run pushes the stream b.N times. With keys > 1 the chunks are dealt round robin to that many streams, each of which
// sees its chunks back to back. With swapEvery > 0 every swapEvery-th chunk of a stream is pushed before its
// predecessor.
func (s *benchStream) run(b *testing.B, keys int, swapEvery int) {
	frames := 0
	r := New(Config{}, func(f Frame) {
		if f.Truncated {
			b.Fatalf("truncated frame at %d", f.Offset)
		}
		frames++
	})
	chunks := make([]Chunk, len(s.chunks))
	next := make([]uint64, keys) // per key: offset of its next chunk
	for i, c := range s.chunks {
		k := i % keys
		chunks[i] = Chunk{
			Key: Key{Kind: KindPipe, Ino: uint64(k)}, Gen: 1, Offset: next[k], Data: s.data[c[0]:c[1]],
			Writer: Writer{Pid: 1, Tid: 1, Comm: "server"},
		}
		next[k] += uint64(c[1] - c[0])
	}
	if swapEvery > 0 {
		for i := swapEvery; i < len(chunks); i += swapEvery {
			chunks[i-1], chunks[i] = chunks[i], chunks[i-1]
		}
	}
	b.SetBytes(int64(len(s.data)))
	b.ReportAllocs()
	var round, clock uint64
	for b.Loop() {
		for i := range chunks {
			c := chunks[i]
			c.Offset += round * next[i%keys]
			clock += 1000
			c.Time = clock
			r.Push(c)
		}
		round++
		r.Flush(clock)
	}
	b.ReportMetric(float64(frames)/float64(b.N), "frames/op")
}

// BenchmarkReassembleSmall: messages of 200 B to 1 KiB.
func BenchmarkReassembleSmall(b *testing.B) {
	for _, chunk := range []int{0, 4 << 10, 64 << 10} {
		b.Run(chunkName(chunk), func(b *testing.B) {
			newBenchStream(4<<20, 200, 1<<10, chunk).run(b, 1, 0)
		})
	}
}

// BenchmarkReassembleMixed: messages of 200 B to 64 KiB.
func BenchmarkReassembleMixed(b *testing.B) {
	for _, chunk := range []int{0, 4 << 10, 64 << 10} {
		b.Run(chunkName(chunk), func(b *testing.B) {
			newBenchStream(16<<20, 200, 64<<10, chunk).run(b, 1, 0)
		})
	}
}

// BenchmarkReassembleLarge: messages of 0.5 to 1.5 MiB and of 16 MiB.
func BenchmarkReassembleLarge(b *testing.B) {
	for _, size := range []struct {
		name     string
		min, max int
	}{{"msg=1MiB", 1 << 19, 3 << 19}, {"msg=16MiB", 16 << 20, 16 << 20}} {
		for _, chunk := range []int{0, 4 << 10, 64 << 10} {
			b.Run(size.name+"/"+chunkName(chunk), func(b *testing.B) {
				newBenchStream(32<<20, size.min, size.max, chunk).run(b, 1, 0)
			})
		}
	}
}

// BenchmarkReassembleInterleaved: 64 streams, chunks of 4 KiB dealt round robin, so that every chunk carries
// partial messages of a different stream than the previous one.
func BenchmarkReassembleInterleaved(b *testing.B) {
	newBenchStream(8<<20, 200, 16<<10, 4<<10).run(b, 64, 0)
}

// BenchmarkReassembleReordered: every 8th chunk arrives before its predecessor.
func BenchmarkReassembleReordered(b *testing.B) {
	newBenchStream(8<<20, 200, 16<<10, 4<<10).run(b, 1, 8)
}

func chunkName(size int) string {
	if size == 0 {
		return "chunk=write"
	}
	return fmt.Sprintf("chunk=%dKiB", size>>10)
}
