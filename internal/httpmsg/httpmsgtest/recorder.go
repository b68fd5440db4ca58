// Package httpmsgtest records real TCP traffic on loopback for the HTTP parser tests: a [Recorder] is a TCP proxy
// that keeps both directions of every connection it relays, in the order the bytes passed, which is the order
// kernel capture would deliver them in. [Replay] feeds a recording to a parser in random chunkings.
package httpmsgtest

import (
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/mcpscope/mcpscope/internal/httpmsg"
)

// Piece is one read's worth of bytes relayed in one direction.
type Piece struct {
	Dir  httpmsg.Dir
	Data []byte
}

// Conn is one relayed connection.
type Conn struct {
	Pieces []Piece
}

// Stream returns the bytes of one direction, concatenated.
func (c *Conn) Stream(d httpmsg.Dir) []byte {
	var b []byte
	for _, p := range c.Pieces {
		if p.Dir == d {
			b = append(b, p.Data...)
		}
	}
	return b
}

// Recorder relays 127.0.0.1 connections to a target address and records them.
type Recorder struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns []*Conn
	open  []net.Conn
}

// NewRecorder listens on a loopback port and relays every connection to target. It is closed when the test ends.
func NewRecorder(tb testing.TB, target string) *Recorder {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	r := &Recorder{ln: ln, target: target}
	r.wg.Add(1)
	go r.accept()
	tb.Cleanup(func() { r.Close() })
	return r
}

// Addr is the address clients should dial.
func (r *Recorder) Addr() string { return r.ln.Addr().String() }

func (r *Recorder) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", r.target)
		if err != nil {
			c.Close()
			continue
		}
		rc := &Conn{}
		r.mu.Lock()
		r.conns = append(r.conns, rc)
		r.open = append(r.open, c, s)
		r.mu.Unlock()
		r.wg.Add(2)
		go r.relay(rc, httpmsg.ClientToServer, c, s)
		go r.relay(rc, httpmsg.ServerToClient, s, c)
	}
}

func (r *Recorder) relay(rc *Conn, d httpmsg.Dir, src, dst net.Conn) {
	defer r.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			// Record before forwarding, so that an answer can never be recorded before what it answers.
			r.mu.Lock()
			rc.Pieces = append(rc.Pieces, Piece{Dir: d, Data: append([]byte(nil), buf[:n]...)})
			r.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if tc, ok := dst.(*net.TCPConn); ok && errors.Is(err, io.EOF) {
				_ = tc.CloseWrite()
			} else {
				dst.Close()
			}
			return
		}
	}
}

// Close stops accepting, gives open connections a second to finish, closes them, and waits for the relays.
func (r *Recorder) Close() {
	r.ln.Close()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-time.After(time.Second):
	}
	r.mu.Lock()
	for _, c := range r.open {
		c.Close()
	}
	r.mu.Unlock()
	<-done
}

// Conns closes the recorder and returns the recorded connections in accept order.
func (r *Recorder) Conns() []*Conn {
	r.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conns
}

// Chunk is one piece of input for a parser.
type Chunk struct {
	Dir  httpmsg.Dir
	Off  int64
	Data []byte
}

// Replay cuts a recording into chunks, in recorded order, each piece split at random points (1 to maxChunk
// bytes; a zero maxChunk keeps pieces whole), with per-direction stream offsets.
func Replay(c *Conn, rng *rand.Rand, maxChunk int) []Chunk {
	var out []Chunk
	var off [2]int64
	for _, p := range c.Pieces {
		data := p.Data
		for len(data) > 0 {
			n := len(data)
			if maxChunk > 0 {
				n = min(n, 1+rng.IntN(maxChunk))
			}
			out = append(out, Chunk{Dir: p.Dir, Off: off[p.Dir], Data: data[:n]})
			off[p.Dir] += int64(n)
			data = data[n:]
		}
	}
	return out
}
