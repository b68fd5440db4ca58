package http1

import (
	"bytes"
	"compress/gzip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mcpscope/mcpscope/internal/httpmsg"
	"github.com/mcpscope/mcpscope/internal/httpmsg/httpmsgtest"
)

const (
	C = ClientToServer
	S = ServerToClient
)

func gz(s string) string {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

const sseHead = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"

func TestConn(t *testing.T) {
	bomb := gz(strings.Repeat("A", 10000))
	tests := []struct {
		name   string
		cfg    Config
		chunks []httpmsgtest.Chunk
		want   []string
		check  func(t *testing.T, evs []httpmsg.Event, st Stats)
		conn   func(t *testing.T, c *Conn)
	}{
		{
			name: "content_length_keep_alive",
			chunks: script(
				C, "POST /mcp HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{}",
				S, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
				C, "DELETE /mcp HTTP/1.1\r\nHost: h\r\n\r\n",
				S, "HTTP/1.1 204 No Content\r\n\r\n",
			),
			want: []string{
				`request POST /mcp body="{}"`,
				`response POST /mcp -> 200 body="abc"`,
				`request DELETE /mcp body=""`,
				`response DELETE /mcp -> 204 body=""`,
			},
		},
		{
			name: "pipelining",
			chunks: script(
				C, "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nHEAD /c HTTP/1.1\r\n\r\n",
				S, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nbHTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n",
			),
			want: []string{
				`request GET /a body=""`, `request GET /b body=""`, `request HEAD /c body=""`,
				`response GET /a -> 200 body="a"`, `response GET /b -> 200 body="b"`, `response HEAD /c -> 200 body=""`,
			},
		},
		{
			name: "chunked_extensions_trailers",
			chunks: script(
				C, "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\n\r\n",
				S, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nok\r\nA \r\n0123456789\r\n0\r\nX-Sum: 1\r\nX-Other: 2\r\n\r\n",
			),
			want: []string{`request POST /x body="abc"`, `response POST /x -> 200 body="ok0123456789"`},
			check: func(t *testing.T, evs []httpmsg.Event, _ Stats) {
				tr := evs[1].Response.Trailers
				if len(tr) != 2 || tr.Get("x-sum") != "1" {
					t.Errorf("trailers = %v", tr)
				}
			},
		},
		{
			name: "bare_lf_obs_fold_repeated",
			chunks: script(
				C, "GET / HTTP/1.0\nAccept: a\nX-Long: one\n two\nAccept: b\n\n",
				S, "HTTP/1.0 200 OK\nSet-Cookie: a=1\nSet-Cookie: b=2\n\nuntil close",
			),
			want: []string{`request GET / body=""`, `response GET / -> 200 body="until close"`},
			check: func(t *testing.T, evs []httpmsg.Event, _ Stats) {
				h := evs[0].Request.Headers
				if got := h.Values("accept"); !slices.Equal(got, []string{"a", "b"}) {
					t.Errorf("Accept = %q", got)
				}
				if got := h.Get("X-Long"); got != "one two" {
					t.Errorf("X-Long = %q", got)
				}
				if h[0].Name != "Accept" || h[1].Name != "X-Long" || h[2].Name != "Accept" {
					t.Errorf("order/names = %v", h)
				}
				if got := evs[1].Response.Headers.Values("set-cookie"); len(got) != 2 {
					t.Errorf("Set-Cookie = %q", got)
				}
			},
		},
		{
			name: "interim_and_no_body_statuses",
			chunks: script(
				C, "POST /u HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
				S, "HTTP/1.1 100 Continue\r\n\r\n",
				C, "x",
				S, "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
			),
			want: []string{`interim POST /u -> 100`, `request POST /u body="x"`, `response POST /u -> 304 body=""`},
		},
		{
			name: "gzip",
			chunks: script(
				C, "GET /g HTTP/1.1\r\n\r\n",
				S, "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: "+strconv.Itoa(len(gz(`{"a":1}`)))+"\r\n\r\n"+gz(`{"a":1}`),
			),
			want: []string{`request GET /g body=""`, `response GET /g -> 200 body="{\"a\":1}"`},
		},
		{
			name: "gzip_bomb_bounded",
			cfg:  Config{MaxBody: 100},
			chunks: script(
				C, "GET /g HTTP/1.1\r\n\r\n",
				S, "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: "+strconv.Itoa(len(bomb))+"\r\n\r\n"+bomb,
			),
			want: []string{`request GET /g body=""`, `response GET /g -> 200 truncated body="` + strings.Repeat("A", 100) + `"`},
			check: func(t *testing.T, evs []httpmsg.Event, st Stats) {
				m := evs[1].Response
				if m.BodySize != 10000 || m.BodyExcess != 9900 || st.BodyExcess != 9900 {
					t.Errorf("size %d excess %d stats %d", m.BodySize, m.BodyExcess, st.BodyExcess)
				}
			},
		},
		{
			name: "corrupt_gzip",
			chunks: script(
				C, "GET /g HTTP/1.1\r\n\r\n",
				S, "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 5\r\n\r\nhello",
			),
			want: []string{`request GET /g body=""`, `response GET /g -> 200 truncated body=""`},
			check: func(t *testing.T, evs []httpmsg.Event, st Stats) {
				if evs[1].Response.DecodeError == "" || st.DecodeErr != 1 {
					t.Errorf("decode error %q, stats %d", evs[1].Response.DecodeError, st.DecodeErr)
				}
			},
		},
		{
			name: "body_limit",
			cfg:  Config{MaxBody: 4},
			chunks: script(
				C, "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789GET /next HTTP/1.1\r\n\r\n",
			),
			want: []string{`request POST / truncated body="0123"`, `request GET /next body=""`},
			check: func(t *testing.T, evs []httpmsg.Event, st Stats) {
				if evs[0].Request.BodyExcess != 6 || st.BodyExcess != 6 {
					t.Errorf("excess %d / %d", evs[0].Request.BodyExcess, st.BodyExcess)
				}
			},
		},
		{
			name: "sse_streamed",
			chunks: script(
				C, "GET /sse HTTP/1.1\r\nAccept: text/event-stream\r\n\r\n",
				S, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n",
				S, "30\r\nevent: endpoint\r\ndata: /message?sessionId=s1\r\n\r\n\r\n",
				C, "POST /message?sessionId=s1 HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
				S, "0\r\n\r\n",
			),
			want: []string{
				`request GET /sse body=""`,
				`stream-start GET /sse -> 200`,
				`sse type="endpoint" id="" data="/message?sessionId=s1"`,
				`request POST /message?sessionId=s1 body="{}"`,
				`response GET /sse -> 200`,
			},
			check: func(t *testing.T, evs []httpmsg.Event, _ Stats) {
				if evs[2].MCP.LegacySessionID != "s1" || evs[2].MCP.Endpoint != "/message?sessionId=s1" {
					t.Errorf("endpoint MCP = %+v", evs[2].MCP)
				}
				if evs[3].Request.MCP.LegacySessionID != "s1" {
					t.Errorf("POST MCP = %+v", evs[3].Request.MCP)
				}
			},
		},
		{
			name: "gzip_event_stream",
			chunks: script(
				C, "GET /sse HTTP/1.1\r\n\r\n",
				S, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: gzip\r\nContent-Length: "+
					strconv.Itoa(len(gz("data: a\n\ndata: b\n\n")))+"\r\n\r\n"+gz("data: a\n\ndata: b\n\n"),
			),
			want: []string{
				`request GET /sse body=""`, `stream-start GET /sse -> 200`,
				`sse type="" id="" data="a"`, `sse type="" id="" data="b"`, `response GET /sse -> 200`,
			},
			check: func(t *testing.T, evs []httpmsg.Event, _ Stats) {
				if evs[2].Response == nil || evs[2].Request == nil {
					t.Errorf("event without its exchange: %+v", evs[2])
				}
			},
		},
		{
			name: "upgrade_websocket_tunnel",
			chunks: script(
				C, "GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05hello",
				S, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x02hi",
			),
			want: []string{`request GET /ws body=""`, `response GET /ws -> 101 body=""`},
			check: func(t *testing.T, _ []httpmsg.Event, st Stats) {
				if st.Tunneled != 11 || st.Skipped != 0 {
					t.Errorf("tunneled %d skipped %d", st.Tunneled, st.Skipped)
				}
			},
			conn: func(t *testing.T, c *Conn) {
				proto, start, ok := c.Tunnel()
				if !ok || proto != "websocket" || start != [2]int64{61, 56} {
					t.Errorf("tunnel %q %v %v", proto, start, ok)
				}
			},
		},
		{
			name: "upgrade_refused_resumes",
			chunks: script(
				C, "GET /a HTTP/1.1\r\nUpgrade: h2c\r\n\r\nGET /b HTTP/1.1\r\n\r\n",
				S, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
			),
			want: []string{`request GET /a body=""`, `request GET /b body=""`, `response GET /a -> 200 body=""`, `response GET /b -> 200 body=""`},
		},
		{
			name: "connect",
			chunks: script(
				C, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03\x01",
				S, "HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x03",
			),
			want: []string{`request CONNECT example.com:443 body=""`, `response CONNECT example.com:443 -> 200 body=""`},
		},
		{
			name: "gap_inside_body_keeps_framing",
			chunks: []httpmsgtest.Chunk{
				{Dir: C, Off: 0, Data: []byte("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n01")},
				{Dir: C, Off: 45, Data: []byte("6789GET /next HTTP/1.1\r\n\r\n")},
			},
			want: []string{`request POST / truncated lost=4 body="016789"`, `request GET /next body=""`},
		},
		{
			name: "gap_in_headers_resyncs",
			chunks: []httpmsgtest.Chunk{
				{Dir: C, Off: 0, Data: []byte("POST / HTTP/1.1\r\nConte")},
				{Dir: C, Off: 40, Data: []byte("t-Length: 3\r\n\r\nabc\r\n")},
				{Dir: C, Off: 60, Data: []byte(`{"x":1}POST /mcp HTTP/1.1` + "\r\nContent-Length: 0\r\n\r\n")},
			},
			want: []string{`request POST / truncated incomplete lost=18 body=""`, `request POST /mcp body=""`},
			check: func(t *testing.T, evs []httpmsg.Event, st Stats) {
				if st.Lost != 18 || st.Malformed != 0 {
					t.Errorf("stats %+v", st)
				}
				if evs[1].Request.FirstOffset != 67 {
					t.Errorf("first offset %d", evs[1].Request.FirstOffset)
				}
			},
		},
		{
			name: "first_chunk_after_loss",
			chunks: []httpmsgtest.Chunk{
				{Dir: C, Off: 1000, Data: []byte("rest of a body\r\nPOST /mcp HTTP/1.1\r\nContent-Length: 0\r\n\r\n")},
				{Dir: S, Off: 5000, Data: []byte("y\":2}}HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")},
			},
			want: []string{`request POST /mcp body=""`, `response POST /mcp -> 202 body=""`},
			check: func(t *testing.T, _ []httpmsg.Event, st Stats) {
				if st.Skipped != 16+6 || st.Lost != 6000 || st.Malformed != 0 {
					t.Errorf("stats %+v", st)
				}
			},
		},
		{
			name: "mid_stream_start",
			cfg:  Config{MidStream: true},
			chunks: script(
				C, "rest of a body\r\nPOST /mcp HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
				S, "y\":2}}HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n",
			),
			want: []string{`request POST /mcp body=""`, `response POST /mcp -> 202 body=""`},
			check: func(t *testing.T, _ []httpmsg.Event, st Stats) {
				if st.Skipped != 16+6 || st.Lost != 0 || st.Malformed != 0 {
					t.Errorf("stats %+v", st)
				}
			},
		},
		{
			name: "garbage_counted",
			chunks: script(
				C, "\x16\x03\x01\x02\x00junkjunkjunk\r\n\r\nGET / HTTP/1.1\r\n\r\n",
			),
			want: []string{`request GET / body=""`},
			check: func(t *testing.T, _ []httpmsg.Event, st Stats) {
				if st.Malformed != 1 || st.Skipped != 21 {
					t.Errorf("stats %+v", st)
				}
			},
		},
		{
			name: "bad_content_length",
			chunks: script(
				C, "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcGET /ok HTTP/1.1\r\n\r\n",
			),
			want: []string{`request POST / truncated incomplete body=""`, `request GET /ok body=""`},
		},
		{
			name: "header_overflow",
			cfg:  Config{MaxHeaderBytes: 64},
			chunks: script(
				C, "GET / HTTP/1.1\r\nX: "+strings.Repeat("a", 100)+"\r\n\r\nGET /ok HTTP/1.1\r\n\r\n",
			),
			want: []string{`request GET /ok body=""`},
			check: func(t *testing.T, _ []httpmsg.Event, st Stats) {
				if st.Overflow != 1 {
					t.Errorf("stats %+v", st)
				}
			},
		},
		{
			name: "truncated_chunked_at_close",
			chunks: script(
				C, "GET / HTTP/1.1\r\n\r\n",
				S, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
			),
			want: []string{`request GET / body=""`, `response GET / -> 200 truncated incomplete body="ab"`},
		},
		{
			// An event's place in the server's byte stream, framing included, whatever the capture's chunks:
			// footprints find the write that carried it by this offset.
			name: "sse_wire_end_through_chunks",
			chunks: script(
				C, "GET /mcp HTTP/1.1\r\nAccept: text/event-stream\r\n\r\n",
				S, sseHead+"b\r\ndata: a\n\nda\r\n7\r\nta: b\n\n\r\n0\r\n\r\n",
			),
			want: []string{`request GET /mcp body=""`, `stream-start GET /mcp -> 200`, `sse type="" id="" data="a"`,
				`sse type="" id="" data="b"`, `response GET /mcp -> 200`},
			check: func(t *testing.T, evs []httpmsg.Event, _ Stats) {
				var got []int64
				for _, e := range evs {
					if e.Kind == httpmsg.EventSSE {
						got = append(got, e.WireEnd)
					}
				}
				h := int64(len(sseHead))
				if want := []int64{h + 3 + 9, h + 3 + 11 + 2 + 3 + 7}; !slices.Equal(got, want) {
					t.Errorf("events end at %v in the stream, want %v", got, want)
				}
			},
		},
		{
			name: "response_without_request",
			chunks: script(
				S, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
			),
			want: []string{`response <nil> -> 200 body=""`},
			check: func(t *testing.T, _ []httpmsg.Event, st Stats) {
				if st.Unpaired != 1 {
					t.Errorf("stats %+v", st)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, n := range []int{0, 1, 3, 7} {
				chunks := tc.chunks
				if n > 0 {
					chunks = rechunk(chunks, n)
				}
				evs, st, c := runConn(tc.cfg, chunks)
				if tc.conn != nil {
					tc.conn(t, c)
				}
				got := summaries(evs)
				if !slices.Equal(got, tc.want) {
					t.Fatalf("chunk %d: events\n got: %q\nwant: %q\nstats %+v", n, got, tc.want, st)
				}
				if tc.check != nil {
					tc.check(t, evs, st)
				}
			}
		})
	}
}

func TestLooksLikeHTTP(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"GET / HTTP/1.1\r\n", true},
		{"POST /mcp HTTP/1.1", true},
		{"PO", true},
		{"POST", true},
		{"POST ", true},
		{"OPTIONS * HTTP/1.1", true},
		{"CONNECT host:443 HTTP/1.1", true},
		{"GET http://x/ HTTP/1.1", true},
		{"HTTP/1.1 200 OK", true},
		{"HTTP/1.0 404", true},
		{"HTT", true},
		{"", false},
		{"GETX / HTTP/1.1", false},
		{"GET x", false},
		{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", false},
		{"HTTP/2 200", false},
		{"HTTP/1.1 2x0", false},
		{`{"jsonrpc":"2.0"}`, false},
		{"\x16\x03\x01", false},
	}
	for _, tc := range tests {
		if got := LooksLikeHTTP([]byte(tc.in)); got != tc.want {
			t.Errorf("LooksLikeHTTP(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
