package http1

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/mcpscope/mcpscope/internal/httpmsg"
	"github.com/mcpscope/mcpscope/internal/httpmsg/httpmsgtest"
)

// fuzzConfig keeps limits small so that the fuzzer reaches them.
var fuzzConfig = Config{MaxHeaderBytes: 2048, MaxHeaders: 16, MaxBody: 4096, MaxPending: 8}

// interleave cuts the two streams into pieces of size n and alternates them, client first.
func interleave(req, resp []byte, n int) []httpmsgtest.Chunk {
	var out []httpmsgtest.Chunk
	var off [2]int64
	for len(req) > 0 || len(resp) > 0 {
		for d, s := range []*[]byte{&req, &resp} {
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

// checkInvariants verifies what must hold for any input.
func checkInvariants(t *testing.T, evs []httpmsg.Event, st Stats, cfg Config) {
	t.Helper()
	for _, e := range evs {
		for _, m := range []*httpmsg.Message{e.Request, e.Response} {
			if m == nil {
				continue
			}
			if int64(len(m.Body)) > cfg.MaxBody {
				t.Fatalf("body %d over limit", len(m.Body))
			}
			if m.EndOffset < m.FirstOffset && e.Kind != httpmsg.EventStreamStart && e.Kind != httpmsg.EventSSE {
				t.Fatalf("offsets %d..%d", m.FirstOffset, m.EndOffset)
			}
			if m.Incomplete && !m.Truncated {
				t.Fatalf("incomplete but not truncated")
			}
		}
	}
	for _, v := range []int64{st.Skipped, st.Lost, st.BodyExcess, st.Tunneled, st.Duplicate} {
		if v < 0 {
			t.Fatalf("negative counter: %+v", st)
		}
	}
}

// FuzzHTTP1 feeds a client and a server stream in two chunkings: the events and counters must not depend on how
// the bytes were cut. A third run cuts a gap out of each stream and must merely survive.
func FuzzHTTP1(f *testing.F) {
	f.Add([]byte("POST /mcp HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"), []byte("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: x\n\n"), uint16(3))
	f.Add([]byte("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n"), []byte("HTTP/1.1 101 OK\r\n\r\nxx"), uint16(1))
	f.Fuzz(func(t *testing.T, req, resp []byte, cut uint16) {
		n := int(cut%61) + 1
		base := interleave(req, resp, n)
		whole, st1 := run(fuzzConfig, base)
		checkInvariants(t, whole, st1, fuzzConfig)
		k := int(cut>>8)%5 + 1
		parts, st2 := run(fuzzConfig, rechunk(base, k))
		if a, b := summaries(whole), summaries(parts); !slices.Equal(a, b) {
			t.Fatalf("chunking %d/%d changed events:\nwhole %q\nparts %q", n, k, a, b)
		}
		if st1 != st2 {
			t.Fatalf("chunking %d/%d changed stats:\nwhole %+v\nparts %+v", n, k, st1, st2)
		}
		// Gaps: drop every third chunk.
		chunks := base
		var holed []httpmsgtest.Chunk
		var lost int64
		for i, c := range chunks {
			if i%3 == 1 {
				lost += int64(len(c.Data))
				continue
			}
			holed = append(holed, c)
		}
		evs, st3 := run(fuzzConfig, holed)
		checkInvariants(t, evs, st3, fuzzConfig)
		// Bytes lost at the very end are never declared (no later chunk reveals them).
		if st3.Lost > lost {
			t.Fatalf("lost %d > dropped %d", st3.Lost, lost)
		}
	})
}

// FuzzChunked checks the chunked decoder against net/http's: whatever httputil's reader decodes, this parser
// decodes to the same bytes, in any chunking.
func FuzzChunked(f *testing.F) {
	f.Add([]byte("3\r\nabc\r\n0\r\n\r\n"), uint16(2))
	f.Add([]byte("a;ext=\"q\"\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n"), uint16(5))
	f.Add([]byte("1\n\n\r\n0\r\n\r\n"), uint16(1))
	f.Fuzz(func(t *testing.T, body []byte, cut uint16) {
		head := "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
		req := append([]byte(head), body...)
		cfg := Config{MaxBody: 1 << 20}
		whole, st1 := run(cfg, interleave(req, nil, 1<<30))
		parts, st2 := run(cfg, rechunk(interleave(req, nil, 1<<30), int(cut%29)+1))
		if a, b := summaries(whole), summaries(parts); !slices.Equal(a, b) || st1 != st2 {
			t.Fatalf("chunking changed result:\n%q %+v\n%q %+v", a, st1, b, st2)
		}
		checkInvariants(t, whole, st1, cfg)
		want, err := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(body)))
		if err != nil {
			return
		}
		if len(whole) == 0 || whole[0].Kind != httpmsg.EventRequest {
			t.Fatalf("net/http decoded %q, parser gave %q", want, summaries(whole))
		}
		if got := whole[0].Request.Body; !bytes.Equal(got, want) {
			t.Fatalf("body %q, net/http %q", got, want)
		}
	})
}

// TestWriteFuzzCorpus writes the seed corpora from real recordings; run with MCPSCOPE_WRITE_CORPUS=1.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("MCPSCOPE_WRITE_CORPUS") == "" {
		t.Skip("set MCPSCOPE_WRITE_CORPUS=1 to rewrite testdata/fuzz")
	}
	conns := record(t, realHandler(), func(base string, c *http.Client) {
		doReq(t, c, "POST", base+"/json", bytes.NewReader([]byte(`{"jsonrpc":"2.0","id":1,"method":"ping"}`)))
		doReq(t, c, "GET", base+"/chunked", nil)
		doReq(t, c, "GET", base+"/gzip", nil)
		doReq(t, c, "GET", base+"/sse", nil)
		doReq(t, c, "HEAD", base+"/json", nil)
	})
	req, resp := conns[0].Stream(ClientToServer), conns[0].Stream(ServerToClient)
	writeCorpus(t, "FuzzHTTP1", "real-nethttp", req, resp, uint16(7))
	writeCorpus(t, "FuzzHTTP1", "real-nethttp-mid", req[len(req)/3:], resp[len(resp)/2:], uint16(60))
	writeCorpus(t, "FuzzChunked", "nethttp-trailers", []byte("6\r\npart0;\r\n6\r\npart1;\r\n0\r\nX-Sum: 42\r\n\r\n"), uint16(4))
	writeCorpus(t, "FuzzChunked", "bare-lf", []byte("2\nok\n0\n\n"), uint16(1))
}

func writeCorpus(t *testing.T, fuzz, name string, args ...any) {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch v := a.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%s)\n", strconv.Quote(string(v)))
		case uint16:
			fmt.Fprintf(&b, "uint16(%d)\n", v)
		}
	}
	dir := filepath.Join("testdata", "fuzz", fuzz)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
