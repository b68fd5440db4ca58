package h2

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/mcpscope/mcpscope/internal/sse"

	"github.com/mcpscope/mcpscope/internal/httpmsg"
	"github.com/mcpscope/mcpscope/internal/httpmsg/httpmsgtest"
)

var fuzzConfig = Config{MaxHeaderBytes: 4096, MaxBody: 4096, MaxStreams: 8, SSE: sse.Config{MaxEvent: 1024}}

func split(client, server []byte, n int, offs [2]int64) []httpmsgtest.Chunk {
	var out []httpmsgtest.Chunk
	off := offs
	for len(client) > 0 || len(server) > 0 {
		for d, s := range []*[]byte{&client, &server} {
			k := min(n, len(*s))
			if k == 0 {
				continue
			}
			out = append(out, httpmsgtest.Chunk{Dir: Dir(d), Off: off[d], Data: (*s)[:k]})
			off[d] += int64(k)
			*s = (*s)[k:]
		}
	}
	return out
}

// FuzzH2 feeds two directions of frames, from the start and as if capture had begun mid-connection, in two
// chunkings each: the events must not depend on the chunking, bodies stay within the limit, and nothing panics
// (the first-frame judges of a connection begun before capture included).
func FuzzH2(f *testing.F) {
	w := newWire(true)
	w.headers(0, 1, false, post()...)
	w.data(0, 1, true, `{"x":1}`)
	w.headers(1, 1, false, ":status", "200", "content-type", "text/event-stream")
	w.data(1, 1, true, "data: {}\n\n")
	f.Add(w.chunks[0].Data, w.chunks[1].Data, uint16(7), false)
	f.Fuzz(func(t *testing.T, client, server []byte, cut uint16, mid bool) {
		for _, b := range [][]byte{client, server} {
			if sender, ok := FrameSender(b); ok && !LooksLikeFrame(b) {
				t.Fatalf("FrameSender(%q) = %v without a frame", b, sender)
			}
		}
		var offs [2]int64
		if mid {
			offs = [2]int64{100, 100}
		}
		n := int(cut%97) + 1
		base := split(client, server, n, offs)
		a, sa := run(fuzzConfig, base)
		for _, e := range a {
			for _, m := range []*httpmsg.Message{e.Request, e.Response} {
				if m != nil && int64(len(m.Body)) > fuzzConfig.MaxBody {
					t.Fatalf("body %d", len(m.Body))
				}
			}
		}
		k := int(cut>>8)%7 + 1
		b, sb := run(fuzzConfig, rechunk(base, k))
		if x, y := summaries(a), summaries(b); !slices.Equal(x, y) {
			t.Fatalf("chunking %d/%d changed events:\n%q\n%q\n%+v\n%+v", n, k, x, y, sa, sb)
		}
		// Drop every third chunk: gaps everywhere.
		var holed []httpmsgtest.Chunk
		for i, c := range base {
			if i%3 != 1 {
				holed = append(holed, c)
			}
		}
		run(fuzzConfig, holed)
	})
}

// TestWriteFuzzCorpus writes seed corpora from real h2c recordings; run with MCPSCOPE_WRITE_CORPUS=1.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("MCPSCOPE_WRITE_CORPUS") == "" {
		t.Skip("set MCPSCOPE_WRITE_CORPUS=1 to rewrite testdata/fuzz")
	}
	conns := record(t, handler(), func(base string, c *http.Client) {
		do(t, c, "POST", base+"/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
		do(t, c, "GET", base+"/gzip", nil)
		do(t, c, "GET", base+"/sse", nil)
		do(t, c, "GET", base+"/trailer", nil)
	})
	cl, sv := conns[0].Stream(ClientToServer), conns[0].Stream(ServerToClient)
	writeCorpus(t, "real-h2c", cl, sv, uint16(13), false)
	writeCorpus(t, "real-h2c-mid", cl[len(cl)/2:], sv[len(sv)/2:], uint16(1000), true)
	w := newWire(true)
	b := w.block(0, post()...)
	w.fr[0].WriteHeaders(httpHeaders(1, b[:4]))
	w.fr[0].WriteContinuation(1, true, b[4:])
	w.fr[0].WriteDataPadded(1, true, []byte("x"), make([]byte, 9))
	w.fr[0].WriteRSTStream(3, 8)
	w.flush()
	writeCorpus(t, "crafted-continuation-padding", w.chunks[0].Data, w.chunks[1].Data, uint16(2), false)
}

func writeCorpus(t *testing.T, name string, client, server []byte, cut uint16, mid bool) {
	t.Helper()
	var b bytes.Buffer
	fmt.Fprintf(&b, "go test fuzz v1\n[]byte(%s)\n[]byte(%s)\nuint16(%d)\nbool(%v)\n",
		strconv.Quote(string(client)), strconv.Quote(string(server)), cut, mid)
	dir := filepath.Join("testdata", "fuzz", "FuzzH2")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func httpHeaders(id uint32, frag []byte) http2.HeadersFrameParam {
	return http2.HeadersFrameParam{StreamID: id, BlockFragment: frag}
}

// FuzzHPACK checks the partial decoder against x/net's decoder on blocks decoded from a connection's start: where
// x/net decodes both blocks, the partial decoder must decode them completely and identically.
func FuzzHPACK(f *testing.F) {
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	for _, fs := range [][]hpack.HeaderField{
		{{Name: ":method", Value: "POST"}, {Name: ":path", Value: "/mcp"}, {Name: "mcp-session-id", Value: "abc", Sensitive: true}},
		{{Name: ":status", Value: "200"}, {Name: "content-type", Value: "text/event-stream"}},
	} {
		for _, fl := range fs {
			enc.WriteField(fl)
		}
	}
	f.Add(buf.Bytes(), uint16(20))
	f.Fuzz(func(t *testing.T, in []byte, cut uint16) {
		at := int(cut) % (len(in) + 1)
		var d partialDecoder
		ref := hpack.NewDecoder(4096, nil)
		for _, block := range [][]byte{in[:at], in[at:]} {
			want, err := ref.DecodeFull(block)
			got, complete, perr := d.decode(block)
			if err != nil {
				return
			}
			if perr != nil || !complete {
				t.Fatalf("x/net decoded %v; partial: complete %v, %v", want, complete, perr)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("got %v want %v", got, want)
			}
		}
	})
}
