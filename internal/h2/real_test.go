package h2

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpscope/mcpscope/internal/httpmsg"
	"github.com/mcpscope/mcpscope/internal/httpmsg/httpmsgtest"
)

func handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Mcp-Session-Id", "sess-1")
		fmt.Fprintf(w, `{"echo":%q}`, body)
	})
	mux.HandleFunc("/gzip", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		fmt.Fprint(zw, `{"jsonrpc":"2.0","id":1,"result":{}}`)
		zw.Close()
	})
	mux.HandleFunc("/sse", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		f := w.(http.Flusher)
		for _, ev := range []string{"id: p1\ndata: \n\n", "event: message\ndata: {\"a\":1}\n\n", "data: 2\n\n"} {
			io.WriteString(w, ev)
			f.Flush()
		}
	})
	mux.HandleFunc("/trailer", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		io.WriteString(w, "body")
		w.Header().Set("X-Sum", "42")
	})
	mux.HandleFunc("/size", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Length", fmt.Sprint(n))
		io.Copy(w, io.LimitReader(zeros{}, n))
	})
	return mux
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'z'
	}
	return len(p), nil
}

// record runs fn against an h2c (prior knowledge) server behind a recording proxy; net/http speaks HTTP/2
// without TLS when both sides enable unencrypted HTTP/2.
func record(t *testing.T, h http.Handler, fn func(base string, c *http.Client)) []*httpmsgtest.Conn {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	defer srv.Close()
	rec := httpmsgtest.NewRecorder(t, srv.Listener.Addr().String())
	tr := &http.Transport{Protocols: new(http.Protocols), DisableCompression: true}
	tr.Protocols.SetUnencryptedHTTP2(true)
	c := &http.Client{Transport: tr}
	fn("http://"+rec.Addr(), c)
	tr.CloseIdleConnections()
	return rec.Conns()
}

func do(t *testing.T, c *http.Client, method, url string, body io.Reader) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	if resp.ProtoMajor != 2 {
		t.Fatalf("%s %s: %s, not HTTP/2", method, url, resp.Proto)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

func replayAll(t *testing.T, conn *httpmsgtest.Conn, cfg Config, maxChunks []int) ([]httpmsg.Event, Stats) {
	t.Helper()
	var first []string
	var evs []httpmsg.Event
	var st Stats
	for _, mc := range maxChunks {
		rng := rand.New(rand.NewPCG(uint64(mc), 11))
		e, s := run(cfg, httpmsgtest.Replay(conn, rng, mc))
		got := summaries(e)
		if first == nil {
			first, evs, st = got, e, s
			continue
		}
		if !slices.Equal(got, first) || s != st {
			t.Fatalf("chunking %d differs:\n got %q %+v\nwant %q %+v", mc, got, s, first, st)
		}
	}
	return evs, st
}

func TestRealH2C(t *testing.T) {
	conns := record(t, handler(), func(base string, c *http.Client) {
		do(t, c, "POST", base+"/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
		do(t, c, "GET", base+"/gzip", nil)
		do(t, c, "GET", base+"/sse", nil)
		do(t, c, "GET", base+"/trailer", nil)
		do(t, c, "HEAD", base+"/json", nil)
	})
	if len(conns) != 1 {
		t.Fatalf("%d connections", len(conns))
	}
	evs, st := replayAll(t, conns[0], Config{}, []int{0, 1, 7, 100, 4096})
	want := []string{
		`request [1] POST /json body="{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}"`,
		`response [1] POST /json -> [1] 200 body="{\"echo\":\"{\\\"jsonrpc\\\":\\\"2.0\\\",\\\"id\\\":1,\\\"method\\\":\\\"ping\\\"}\"}"`,
		`request [3] GET /gzip body=""`,
		`response [3] GET /gzip -> [3] 200 body="{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}"`,
		`request [5] GET /sse body=""`,
		`stream-start [5] GET /sse -> [5] 200`,
		`sse [5] type="" id="p1" data=""`,
		`sse [5] type="message" id="p1" data="{\"a\":1}"`,
		`sse [5] type="" id="p1" data="2"`,
		`response [5] GET /sse -> [5] 200`,
		`request [7] GET /trailer body=""`,
		`response [7] GET /trailer -> [7] 200 body="body"`,
		`request [9] HEAD /json body=""`,
		`response [9] HEAD /json -> [9] 200 body=""`,
	}
	if got := summaries(evs); !slices.Equal(got, want) {
		t.Fatalf("events\n got %q\nwant %q", got, want)
	}
	if evs[1].Response.MCP.SessionID != "sess-1" || evs[0].Request.Host == "" {
		t.Errorf("MCP %+v host %q", evs[1].Response.MCP, evs[0].Request.Host)
	}
	if evs[11].Response.Trailers.Get("x-sum") != "42" {
		t.Errorf("trailers %v", evs[11].Response.Trailers)
	}
	if st.FrameErrors != 0 || st.HPACKErrors != 0 || st.Skipped != 0 || st.Truncated != 0 || st.Unknown != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestRealH2CLargeBody moves 16 MiB each way over one stream.
func TestRealH2CLargeBody(t *testing.T) {
	const size = 16 << 20
	payload := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	conns := record(t, handler(), func(base string, c *http.Client) {
		do(t, c, "POST", base+"/size", bytes.NewReader(payload))
	})
	evs, st := replayAll(t, conns[0], Config{}, []int{0, 65536})
	if len(evs) != 2 || !bytes.Equal(evs[0].Request.Body, payload) || len(evs[1].Response.Body) != size {
		t.Fatalf("events %q", summaries(evs))
	}
	if st.Truncated != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestRealH2CMidStream starts capture in the middle of the connection: the dynamic table is unknown, so headers
// are marked unknown, but bodies are still delivered per stream, and an event stream is recognised by its bytes.
func TestRealH2CMidStream(t *testing.T) {
	conns := record(t, handler(), func(base string, c *http.Client) {
		do(t, c, "POST", base+"/json", strings.NewReader(`{"first":1}`))
		do(t, c, "POST", base+"/json", strings.NewReader(`{"second":2}`))
		do(t, c, "GET", base+"/sse", nil)
	})
	whole, _ := run(Config{}, httpmsgtest.Replay(conns[0], nil, 0))
	// Start both directions right after the first exchange ended.
	cut := [2]int64{whole[0].Request.EndOffset, whole[1].Response.EndOffset}
	var chunks []httpmsgtest.Chunk
	for _, c := range httpmsgtest.Replay(conns[0], rand.New(rand.NewPCG(1, 2)), 50) {
		end := c.Off + int64(len(c.Data))
		if end <= cut[c.Dir] {
			continue
		}
		if c.Off < cut[c.Dir] {
			c.Data = c.Data[cut[c.Dir]-c.Off:]
			c.Off = cut[c.Dir]
		}
		chunks = append(chunks, c)
	}
	evs, st := run(Config{}, chunks)
	got := summaries(evs)
	want := []string{
		`request [3] ? body="{\"second\":2}"`,
		`response [3] ? -> [3] ? body="{\"echo\":\"{\\\"second\\\":2}\"}"`,
		`request [5] ? body=""`,
		`stream-start [5] ? -> [5] ?`,
		`sse [5] type="" id="p1" data=""`,
		`sse [5] type="message" id="p1" data="{\"a\":1}"`,
		`sse [5] type="" id="p1" data="2"`,
		`response [5] ? -> [5] ?`,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events\n got %q\nwant %q\nstats %+v", got, want, st)
	}
	if st.Unknown == 0 || st.Skipped != 0 {
		t.Errorf("stats %+v", st)
	}
	// What HPACK lets us decode exactly without the start: static-table fields (:method POST, :status 200) and
	// literals; nothing else, and nothing wrong.
	req, resp := evs[0].Request, evs[1].Response
	t.Logf("partial request headers %v, response headers %v", req.Headers, resp.Headers)
	if req.Method != "POST" || resp.Status != 200 {
		t.Errorf("method %q status %d", req.Method, resp.Status)
	}
	for _, f := range append(req.Headers, resp.Headers...) {
		if !slices.Contains(whole[2].Request.Headers, f) && !slices.Contains(whole[3].Response.Headers, f) {
			t.Errorf("invented header %v", f)
		}
	}
}

// TestRealH2CStreamBegunBeforeCapture joins a connection (MidStream) while an event stream is being answered: its
// message says it began before capture (and is not whole), not that bytes were lost; a stream whose HEADERS fall in
// a capture gap later says truncated only.
func TestRealH2CStreamBegunBeforeCapture(t *testing.T) {
	conns := record(t, handler(), func(base string, c *http.Client) {
		do(t, c, "GET", base+"/sse", nil)
	})
	whole, _ := run(Config{}, httpmsgtest.Replay(conns[0], nil, 0))
	resp := whole[len(whole)-1].Response
	if resp == nil || resp.Status != 200 {
		t.Fatalf("the stream's response: %+v", whole[len(whole)-1])
	}
	// The client has sent everything; the server's capture starts one byte into the response's HEADERS frame.
	cut := [2]int64{int64(len(conns[0].Stream(ClientToServer))), resp.FirstOffset + 1}
	var joined, afterGap []httpmsgtest.Chunk
	for _, c := range httpmsgtest.Replay(conns[0], nil, 0) {
		if end := c.Off + int64(len(c.Data)); end > cut[c.Dir] {
			if c.Off < cut[c.Dir] {
				c.Data = c.Data[cut[c.Dir]-c.Off:]
				c.Off = cut[c.Dir]
			}
			afterGap = append(afterGap, c)
			c.Off -= cut[c.Dir] // MidStream: offsets count from the first byte capture saw
			joined = append(joined, c)
		}
	}
	response := func(evs []httpmsg.Event) *httpmsg.Message {
		for _, e := range slices.Backward(evs) {
			if e.Response != nil {
				return e.Response
			}
		}
		return nil
	}
	evs, st := run(Config{MidStream: true}, joined)
	if got := response(evs); got == nil || !got.Truncated || got.LostBytes != 0 || !got.BeganBeforeCapture {
		t.Errorf("joined mid-stream: response %+v, want truncated, began before capture, no bytes lost (stats %+v)", got, st)
	}
	// The same bytes after a loss: the stream's start may be among the lost bytes.
	evs, st = run(Config{}, afterGap)
	if got := response(evs); got == nil || !got.Truncated || got.BeganBeforeCapture || st.Lost == 0 {
		t.Errorf("after a gap: response %+v, want truncated, not began before capture, bytes lost (stats %+v)", got, st)
	}
}

// recordLossInBody records a 5000-byte POST, then a small one, over h2c, and returns the connection and the client
// stream's offsets [lo, hi) of 100 bytes in the middle of the large body: the bytes the tests below lose.
func recordLossInBody(t *testing.T) (conn *httpmsgtest.Conn, lo, hi int64) {
	t.Helper()
	big := strings.Repeat("y", 5000)
	conns := record(t, handler(), func(base string, c *http.Client) {
		do(t, c, "POST", base+"/json", strings.NewReader(big))
		do(t, c, "POST", base+"/json", strings.NewReader(`{"after":1}`))
	})
	i := int64(bytes.Index(conns[0].Stream(ClientToServer), []byte(big)))
	return conns[0], i + 2000, i + 2100
}

// spans reports whether c is a client chunk that holds all of [lo, hi) and more on both sides.
func spans(c httpmsgtest.Chunk, lo, hi int64) bool {
	return c.Dir == ClientToServer && c.Off < lo && c.Off+int64(len(c.Data)) > hi
}

// TestRealH2CGapInData loses bytes inside a DATA frame: the frame's stream is marked, the framing and the header
// compression state survive, and later streams decode normally.
func TestRealH2CGapInData(t *testing.T) {
	conn, lo, hi := recordLossInBody(t)
	var chunks []httpmsgtest.Chunk
	for _, c := range httpmsgtest.Replay(conn, nil, 0) {
		if spans(c, lo, hi) {
			chunks = append(chunks,
				httpmsgtest.Chunk{Dir: c.Dir, Off: c.Off, Data: c.Data[:lo-c.Off]},
				httpmsgtest.Chunk{Dir: c.Dir, Off: hi, Data: c.Data[hi-c.Off:]})
			continue
		}
		chunks = append(chunks, c)
	}
	evs, st := run(Config{}, chunks)
	got := filter(summaries(evs), "request")
	if len(got) != 2 || !strings.HasPrefix(got[0], `request [1] POST /json truncated lost=100`) || got[1] != `request [3] POST /json body="{\"after\":1}"` {
		t.Fatalf("events %q stats %+v", got, st)
	}
	if st.Lost != 100 || st.Unknown != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestRealMCPStreamableH2C captures the go-sdk Streamable HTTP transport over HTTP/2.
// echoHandler serves a go-sdk server over Streamable HTTP whose echo tool sends progress notifications first when
// asked for them.
func echoHandler(progress int) http.Handler {
	srv := mcp.NewServer(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	type in struct {
		Text string `json:"text"`
	}
	mcp.AddTool(srv, &mcp.Tool{Name: "echo"}, func(ctx context.Context, req *mcp.CallToolRequest, a in) (*mcp.CallToolResult, any, error) {
		if tok := req.Params.GetProgressToken(); tok != nil {
			for i := range progress {
				_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok, Progress: float64(i + 1)})
			}
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: a.Text}}}, nil, nil
	})
	return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
}

// callEcho connects a go-sdk client to the echoHandler server at base and calls echo with each text in turn, the
// last with a progress token when progress is set.
func callEcho(t *testing.T, base string, c *http.Client, texts []string, progress bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: base + "/mcp", HTTPClient: c, DisableStandaloneSSE: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	for i, text := range texts {
		p := &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": text}}
		if progress && i == len(texts)-1 {
			p.SetProgressToken("t")
		}
		if _, err := cs.CallTool(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRealMCPStreamableH2C(t *testing.T) {
	conns := record(t, echoHandler(1), func(base string, c *http.Client) {
		callEcho(t, base, c, []string{strings.Repeat("q", 100000)}, true)
	})
	var payloads []string
	sessions := map[string]bool{}
	for _, conn := range conns {
		evs, st := replayAll(t, conn, Config{}, []int{0, 3, 1500})
		// A stream the client resets while closing the session (a race the loaded test machine sometimes loses) is
		// delivered truncated, and rightly so; nothing else may be.
		if st.FrameErrors != 0 || st.HPACKErrors != 0 || st.Truncated > st.Resets {
			t.Errorf("stats %+v", st)
		}
		for _, e := range evs {
			switch e.Kind {
			case httpmsg.EventRequest:
				payloads = append(payloads, string(e.Request.Body))
				if s := e.Request.MCP.SessionID; s != "" {
					sessions[s] = true
				}
			case httpmsg.EventSSE:
				payloads = append(payloads, e.SSE.Data)
			}
		}
	}
	all := strings.Join(payloads, "\n")
	for _, m := range []string{`"method":"initialize"`, `"method":"tools/call"`, `"method":"notifications/progress"`, strings.Repeat("q", 100000)} {
		if strings.Count(all, m) < 1 {
			t.Errorf("%.40s… not seen", m)
		}
	}
	if len(sessions) != 1 {
		t.Errorf("sessions %v", sessions)
	}
}

// TestRealH2CGaps cuts one hole at random places of a real recording: the loss is counted exactly, nothing
// panics, and the body of the last request, which starts after the hole, is still delivered on its stream.
func TestRealH2CGaps(t *testing.T) {
	conns := record(t, handler(), func(base string, c *http.Client) {
		do(t, c, "POST", base+"/json", strings.NewReader(strings.Repeat("a", 3000)))
		do(t, c, "GET", base+"/sse", nil)
		do(t, c, "POST", base+"/json", strings.NewReader(strings.Repeat("b", 40000)))
		do(t, c, "POST", base+"/json", strings.NewReader(`{"last":true}`))
	})
	whole, _ := run(Config{}, httpmsgtest.Replay(conns[0], nil, 0))
	var last *httpmsg.Message
	for _, e := range whole {
		if e.Kind == httpmsg.EventRequest {
			last = e.Request
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	recovered := 0
	for i := range 300 {
		dir := Dir(rng.IntN(2))
		limit := last.FirstOffset
		if dir == ServerToClient {
			limit = int64(len(conns[0].Stream(dir))) / 2
		}
		lo := rng.Int64N(limit)
		hi := min(lo+1+rng.Int64N(3000), limit)
		var chunks []httpmsgtest.Chunk
		for _, c := range httpmsgtest.Replay(conns[0], rng, 1+rng.IntN(3000)) {
			end := c.Off + int64(len(c.Data))
			if c.Dir != dir || end <= lo || c.Off >= hi {
				chunks = append(chunks, c)
				continue
			}
			if c.Off < lo {
				chunks = append(chunks, httpmsgtest.Chunk{Dir: c.Dir, Off: c.Off, Data: c.Data[:lo-c.Off]})
			}
			if end > hi {
				chunks = append(chunks, httpmsgtest.Chunk{Dir: c.Dir, Off: hi, Data: c.Data[hi-c.Off:]})
			}
		}
		evs, st := run(Config{}, chunks)
		if st.Lost != hi-lo {
			t.Fatalf("case %d: lost %d, cut %d", i, st.Lost, hi-lo)
		}
		for _, e := range evs {
			if e.Kind == httpmsg.EventRequest && e.Request.StreamID == last.StreamID && string(e.Request.Body) == `{"last":true}` {
				recovered++
				break
			}
		}
	}
	// Resynchronisation needs two plausible frame headers in a row; a hole can leave the last request's HEADERS
	// and DATA as the only frames, which are still found. Expect (nearly) all.
	if recovered < 295 {
		t.Errorf("last request recovered in %d of 300 cases", recovered)
	}
}

// TestRealMCPBigEchoAnyChunking records a go-sdk session over h2c as the HTTPS tests run it (a 1 MiB echo answered
// over SSE, then a call with progress notifications, then more calls) and replays it cut in many ways, as reads of
// any size deliver it: every chunking gives the same events, and the echo arrives whole.
func TestRealMCPBigEchoAnyChunking(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 1<<16)
	conns := record(t, echoHandler(4), func(base string, c *http.Client) {
		callEcho(t, base, c, []string{"hi", big, "after"}, true)
	})
	var whole, after int
	for _, conn := range conns {
		evs, st := replayAll(t, conn, Config{}, []int{0, 1 << 20, 70000, 16393, 16384, 4096, 1500, 1000, 9})
		if st.FrameErrors != 0 || st.HPACKErrors != 0 || st.Truncated > st.Resets {
			// Seen once in a full `make test` (2026-11-30: Truncated 2, Resets 1), never in 55 runs alone: say which
			// messages were cut, to tell a parser fault from a recording where one reset ended two messages.
			t.Errorf("stats %+v; events %q", st, summaries(evs))
		}
		for _, e := range evs {
			if e.Kind == httpmsg.EventSSE && strings.Contains(e.SSE.Data, big) {
				whole++
			}
			if e.Kind == httpmsg.EventSSE && strings.Contains(e.SSE.Data, `"text":"after"`) {
				after++
			}
		}
	}
	if whole != 1 || after != 1 {
		t.Errorf("the 1 MiB echo's answer whole %d times, the last call's answer %d times; want 1 and 1", whole, after)
	}
}

// TestRealH2CRestartInData: the kernel lost a piece of a DATA frame of unknown length (a TLS call never seen whole:
// its stream restarted), so the bytes after it arrive one byte past the last, and Restart says the length is not
// that. The parser trusts no frame length across it: the request is marked truncated, the parser finds the next
// frame boundary, and the next request's body still arrives.
func TestRealH2CRestartInData(t *testing.T) {
	recorded, lo, hi := recordLossInBody(t)
	var evs []httpmsg.Event
	conn := NewConn(Config{}, func(e httpmsg.Event) { evs = append(evs, e) })
	t0 := time.Unix(0, 0)
	var shift int64 // the offsets after the loss continue one byte past the last fed, as the monitor numbers them
	for n, c := range httpmsgtest.Replay(recorded, nil, 0) {
		at := t0.Add(time.Duration(n))
		if spans(c, lo, hi) {
			conn.Feed(c.Dir, c.Off, c.Data[:lo-c.Off], at)
			conn.Restart(c.Dir)
			shift = hi - lo - 1
			conn.Feed(c.Dir, hi-shift, c.Data[hi-c.Off:], at)
			continue
		}
		off := c.Off
		if c.Dir == ClientToServer {
			off -= shift
		}
		conn.Feed(c.Dir, off, c.Data, at)
	}
	conn.Close(t0.Add(time.Hour))
	got := filter(summaries(evs), "request")
	slices.Sort(got) // the truncated request ends at the close, after the next one
	if len(got) != 2 || !strings.HasPrefix(got[0], "request [1] POST /json truncated") || !strings.HasPrefix(got[1], `request [3] ? body="{\"after\":1}"`) {
		t.Fatalf("requests %q", got)
	}
}
