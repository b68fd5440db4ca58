package http1

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

// realHandler serves the shapes of HTTP/1.1 traffic net/http produces.
func realHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"echo":%q}`, body)
	})
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		for i := range 3 {
			fmt.Fprintf(w, "part%d;", i)
			w.(http.Flusher).Flush()
		}
		w.Header().Set("X-Sum", "42")
	})
	mux.HandleFunc("/gzip", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Type", "application/json")
		zw := gzip.NewWriter(w)
		fmt.Fprint(zw, `{"jsonrpc":"2.0","id":1,"result":{}}`)
		zw.Close()
	})
	mux.HandleFunc("/sse", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache, no-transform")
		f := w.(http.Flusher)
		for _, ev := range []string{
			"id: p1\ndata: \n\n",
			"event: message\nid: e1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n",
			": keep-alive\n\n",
			"data: line1\r\ndata: line2\r\n\r\n",
			"retry: 1000\ndata:no-space\n\n",
		} {
			io.WriteString(w, ev)
			f.Flush()
		}
	})
	mux.HandleFunc("/nocontent", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("/notmodified", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("ETag", `"x"`)
		w.WriteHeader(http.StatusNotModified)
	})
	mux.HandleFunc("/size", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/octet-stream")
		// Echo back as many bytes as received: a body as large as the request's.
		w.Header().Set("Content-Length", fmt.Sprint(n))
		io.CopyN(w, zeroReader{}, n)
	})
	return mux
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'z'
	}
	return len(p), nil
}

// record runs fn against a server behind a recording proxy, with a client limited to one keep-alive connection.
func record(t *testing.T, h http.Handler, fn func(base string, c *http.Client)) []*httpmsgtest.Conn {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	rec := httpmsgtest.NewRecorder(t, srv.Listener.Addr().String())
	tr := &http.Transport{MaxConnsPerHost: 1, DisableCompression: true}
	c := &http.Client{Transport: tr}
	fn("http://"+rec.Addr(), c)
	tr.CloseIdleConnections()
	return rec.Conns()
}

func doReq(t *testing.T, c *http.Client, method, url string, body io.Reader) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// replayAll feeds one recording in several chunkings and checks that every chunking yields the same events.
func replayAll(t *testing.T, conn *httpmsgtest.Conn, cfg Config, maxChunks []int) ([]httpmsg.Event, Stats) {
	t.Helper()
	var first []string
	var evs []httpmsg.Event
	var st Stats
	for _, mc := range maxChunks {
		rng := rand.New(rand.NewPCG(uint64(mc), 7))
		e, s := run(cfg, httpmsgtest.Replay(conn, rng, mc))
		got := summaries(e)
		if first == nil {
			first, evs, st = got, e, s
			continue
		}
		if !slices.Equal(got, first) {
			t.Fatalf("chunking %d differs:\n got %q\nwant %q", mc, got, first)
		}
		if s != st {
			t.Fatalf("chunking %d stats differ:\n got %+v\nwant %+v", mc, s, st)
		}
	}
	return evs, st
}

func TestRealNetHTTP(t *testing.T) {
	conns := record(t, realHandler(), func(base string, c *http.Client) {
		doReq(t, c, "POST", base+"/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
		doReq(t, c, "GET", base+"/chunked", nil)
		doReq(t, c, "GET", base+"/gzip", nil)
		doReq(t, c, "GET", base+"/sse", nil)
		doReq(t, c, "HEAD", base+"/json", nil)
		doReq(t, c, "GET", base+"/nocontent", nil)
		doReq(t, c, "GET", base+"/notmodified", nil)
		// A chunked request body: net/http chunks bodies of unknown length.
		doReq(t, c, "POST", base+"/json", io.MultiReader(strings.NewReader("chunked "), strings.NewReader("request")))
	})
	if len(conns) != 1 {
		t.Fatalf("%d connections, want 1 (keep-alive)", len(conns))
	}
	evs, st := replayAll(t, conns[0], Config{}, []int{0, 1, 5, 64, 4096})
	want := []string{
		`request POST /json body="{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}"`,
		`response POST /json -> 200 body="{\"echo\":\"{\\\"jsonrpc\\\":\\\"2.0\\\",\\\"id\\\":1,\\\"method\\\":\\\"ping\\\"}\"}"`,
		`request GET /chunked body=""`,
		`response GET /chunked -> 200 body="part0;part1;part2;"`,
		`request GET /gzip body=""`,
		`response GET /gzip -> 200 body="{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}"`,
		`request GET /sse body=""`,
		`stream-start GET /sse -> 200`,
		`sse type="" id="p1" data=""`,
		`sse type="message" id="e1" data="{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}"`,
		`sse type="" id="e1" data="line1\nline2"`,
		`sse type="" id="e1" data="no-space"`,
		`response GET /sse -> 200`,
		`request HEAD /json body=""`,
		`response HEAD /json -> 200 body=""`,
		`request GET /nocontent body=""`,
		`response GET /nocontent -> 204 body=""`,
		`request GET /notmodified body=""`,
		`response GET /notmodified -> 304 body=""`,
		`request POST /json body="chunked request"`,
		`response POST /json -> 200 body="{\"echo\":\"chunked request\"}"`,
	}
	if got := summaries(evs); !slices.Equal(got, want) {
		t.Fatalf("events\n got %q\nwant %q", got, want)
	}
	if evs[3].Response.Trailers.Get("X-Sum") != "42" {
		t.Errorf("trailers %v", evs[3].Response.Trailers)
	}
	if ev := evs[11].SSE; !ev.HasRetry || ev.Retry != 1000 {
		t.Errorf("retry %+v", ev)
	}
	if st.Skipped != 0 || st.Malformed != 0 || st.Lost != 0 || st.Truncated != 0 || st.SSE.Comments != 1 {
		t.Errorf("stats %+v", st)
	}
	// Offsets tile the client stream exactly.
	var end int64
	for _, e := range evs {
		if e.Kind == httpmsg.EventRequest {
			if e.Request.FirstOffset != end {
				t.Errorf("request at %d, previous ended at %d", e.Request.FirstOffset, end)
			}
			end = e.Request.EndOffset
		}
	}
	if end != int64(len(conns[0].Stream(ClientToServer))) {
		t.Errorf("requests end at %d of %d", end, len(conns[0].Stream(ClientToServer)))
	}
}

// TestRealLargeBody sends and receives 16 MiB bodies, which must arrive whole.
func TestRealLargeBody(t *testing.T) {
	const size = 16 << 20
	payload := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	conns := record(t, realHandler(), func(base string, c *http.Client) {
		doReq(t, c, "POST", base+"/size", bytes.NewReader(payload))
	})
	evs, st := replayAll(t, conns[0], Config{}, []int{0, 65536})
	if len(evs) != 2 || !bytes.Equal(evs[0].Request.Body, payload) || len(evs[1].Response.Body) != size {
		t.Fatalf("events %q", summaries(evs))
	}
	if st.Truncated != 0 || st.BodyExcess != 0 {
		t.Errorf("stats %+v", st)
	}
	// With a smaller limit the excess is counted, the framing kept.
	evs, st = replayAll(t, conns[0], Config{MaxBody: 1 << 20}, []int{0})
	if len(evs) != 2 || evs[0].Request.BodyExcess != size-(1<<20) || st.BodyExcess != 2*(size-(1<<20)) {
		t.Fatalf("events %q stats %+v", summaries(evs), st)
	}
}

func newMCPServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	type echoIn struct {
		Text string `json:"text"`
	}
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "echo"}, func(ctx context.Context, req *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
		if tok := req.Params.GetProgressToken(); tok != nil {
			_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok, Progress: 1, Total: 1})
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
	})
	return s
}

// runMCPClient connects a go-sdk client through transport, lists and calls a tool with a progress token.
func runMCPClient(t *testing.T, transport mcp.Transport) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "client", Version: "1"}, nil)
	cs, err := client.Connect(ctx, transport, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	if _, err := cs.ListTools(ctx, nil); err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	params := &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": strings.Repeat("x", 70000)}}
	params.SetProgressToken("tok")
	if _, err := cs.CallTool(ctx, params); err != nil {
		t.Fatalf("tools/call: %v", err)
	}
	cs.Close()
}

// mcpBodies returns the JSON-RPC payloads seen: POST bodies, JSON response bodies and SSE event data.
func mcpBodies(evs []httpmsg.Event) (sessionIDs, versions map[string]bool, payloads []string) {
	sessionIDs, versions = map[string]bool{}, map[string]bool{}
	for _, e := range evs {
		switch e.Kind {
		case httpmsg.EventRequest:
			if s := e.Request.MCP.Session(); s != "" {
				sessionIDs[s] = true
			}
			if v := e.Request.MCP.ProtocolVersion; v != "" {
				versions[v] = true
			}
			if len(e.Request.Body) > 0 {
				payloads = append(payloads, string(e.Request.Body))
			}
		case httpmsg.EventResponse:
			if len(e.Response.Body) > 0 && e.Response.ContentType == "application/json" {
				payloads = append(payloads, string(e.Response.Body))
			}
		case httpmsg.EventSSE:
			if e.MCP.LegacySessionID != "" {
				sessionIDs[e.MCP.LegacySessionID] = true
			}
			if e.SSE.Data != "" {
				payloads = append(payloads, e.SSE.Data)
			}
		}
	}
	return sessionIDs, versions, payloads
}

func countContaining(payloads []string, sub string) int {
	n := 0
	for _, p := range payloads {
		if strings.Contains(p, sub) {
			n++
		}
	}
	return n
}

// TestRealMCPStreamable captures a go-sdk client and server speaking Streamable HTTP.
func TestRealMCPStreamable(t *testing.T) {
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return newMCPServer() }, nil)
	conns := record(t, h, func(base string, c *http.Client) {
		runMCPClient(t, &mcp.StreamableClientTransport{Endpoint: base + "/mcp", HTTPClient: c, DisableStandaloneSSE: true})
	})
	var all []httpmsg.Event
	for _, conn := range conns {
		evs, st := replayAll(t, conn, Config{}, []int{0, 1, 9, 1500})
		if st.Malformed != 0 || st.Skipped != 0 || st.Truncated != 0 {
			t.Errorf("stats %+v", st)
		}
		all = append(all, evs...)
	}
	sessions, versions, payloads := mcpBodies(all)
	if len(sessions) != 1 || len(versions) == 0 {
		t.Errorf("sessions %v versions %v", sessions, versions)
	}
	for _, m := range []string{`"method":"initialize"`, `"method":"notifications/initialized"`, `"method":"tools/list"`, `"method":"tools/call"`, `"method":"notifications/progress"`, `"serverInfo"`} {
		if countContaining(payloads, m) != 1 {
			t.Errorf("%s seen %d times in %d payloads", m, countContaining(payloads, m), len(payloads))
		}
	}
	if countContaining(payloads, strings.Repeat("x", 70000)) != 2 {
		t.Errorf("the 70 kB echo is not whole in both directions")
	}
}

// TestRealMCPLegacySSE captures the 2024-11-05 HTTP+SSE transport: a GET event stream announcing the POST endpoint.
func TestRealMCPLegacySSE(t *testing.T) {
	h := mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return newMCPServer() }, nil)
	conns := record(t, h, func(base string, c *http.Client) {
		// Two connections: the SSE stream holds one, POSTs need another.
		c.Transport.(*http.Transport).MaxConnsPerHost = 2
		runMCPClient(t, &mcp.SSEClientTransport{Endpoint: base + "/sse", HTTPClient: c})
	})
	var all []httpmsg.Event
	var endpoint string
	for _, conn := range conns {
		evs, _ := replayAll(t, conn, Config{}, []int{0, 1, 13})
		for _, e := range evs {
			if e.Kind == httpmsg.EventSSE && e.MCP.Endpoint != "" {
				endpoint = e.MCP.Endpoint
			}
		}
		all = append(all, evs...)
	}
	sessions, _, payloads := mcpBodies(all)
	if endpoint == "" || len(sessions) != 1 || !strings.Contains(strings.ToLower(endpoint), "sessionid=") {
		t.Errorf("endpoint %q sessions %v", endpoint, sessions)
	}
	for _, m := range []string{`"method":"initialize"`, `"method":"tools/call"`, `"method":"notifications/progress"`, `"serverInfo"`} {
		if countContaining(payloads, m) != 1 {
			t.Errorf("%s seen %d times", m, countContaining(payloads, m))
		}
	}
}

// TestRealGaps cuts one hole at random places of a real recording: the loss is counted exactly, nothing panics,
// and parsing recovers: the last exchange, which starts after the hole, is always delivered intact.
func TestRealGaps(t *testing.T) {
	conns := record(t, realHandler(), func(base string, c *http.Client) {
		doReq(t, c, "POST", base+"/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
		doReq(t, c, "GET", base+"/chunked", nil)
		doReq(t, c, "GET", base+"/sse", nil)
		doReq(t, c, "GET", base+"/gzip", nil)
		doReq(t, c, "POST", base+"/json", strings.NewReader(`{"last":true}`))
	})
	whole, _ := run(Config{}, httpmsgtest.Replay(conns[0], nil, 0))
	last := whole[len(whole)-1]
	lastStart := [2]int64{last.Request.FirstOffset, last.Response.FirstOffset}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 300 {
		dir := Dir(rng.IntN(2))
		lo := rng.Int64N(lastStart[dir])
		hi := min(lo+1+rng.Int64N(200), lastStart[dir])
		var chunks []httpmsgtest.Chunk
		for _, c := range httpmsgtest.Replay(conns[0], rng, 1+rng.IntN(300)) {
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
			t.Fatalf("case %d (%s %d..%d): lost %d", i, dir, lo, hi, st.Lost)
		}
		got := summaries(evs)
		// The request must be intact; its response too, though it may be paired with another request when the
		// hole swallowed a request line (HTTP/1.1 pairs by order only).
		if !slices.Contains(got, `request POST /json body="{\"last\":true}"`) {
			t.Fatalf("case %d (%s %d..%d): last request lost:\n%q\n%+v", i, dir, lo, hi, got, st)
		}
		ok := false
		for _, e := range evs {
			if e.Kind == httpmsg.EventResponse && string(e.Response.Body) == `{"echo":"{\"last\":true}"}` && !e.Response.Truncated {
				ok = true
			}
		}
		if !ok {
			t.Fatalf("case %d (%s %d..%d): last response lost:\n%q\n%+v", i, dir, lo, hi, got, st)
		}
	}
}
