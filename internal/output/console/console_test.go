package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpscope/mcpscope/internal/record"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

var t0 = time.Date(2026, 11, 22, 7, 18, 12, 123456789, time.UTC)

func ptr[T any](v T) *T { return &v }

var (
	node   = record.Endpoint{Pid: 4242, Comm: "node"}
	server = record.Endpoint{Pid: 4250, Comm: "server-everything"}
)

func at(d time.Duration) time.Time { return t0.Add(d) }

// fixture is a capture exercising every column and marker.
func fixture() []any {
	mib := 1 << 20
	records := []any{
		&record.Message{Time: at(0), Type: record.TypeRequest, ID: json.RawMessage(`1`), Method: "initialize", From: node, To: server, Size: 212,
			Message: json.RawMessage(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"inspector","version":"2.12.0"}}}`)},
		&record.Message{Time: at(4 * time.Millisecond), Type: record.TypeResponse, ID: json.RawMessage(`1`), Method: "initialize", From: server, To: node, Size: 380, LatencyMs: ptr(4.21)},
		&record.Message{Time: at(5 * time.Millisecond), Type: record.TypeNotification, Method: "notifications/initialized", From: node, To: server, Size: 54},
		// A 1 MiB tools/call and its response.
		&record.Message{Time: at(10 * time.Millisecond), Type: record.TypeRequest, ID: json.RawMessage(`3`), Method: "tools/call", Tool: "echo", From: node, To: server, Size: mib,
			ProgressToken: json.RawMessage(`"p3"`)},
		&record.Message{Time: at(16500 * time.Microsecond), Type: record.TypeNotification, Method: "notifications/progress", From: server, To: node, Size: 97, ProgressToken: json.RawMessage(`"p3"`), RelatedID: json.RawMessage(`3`)},
		&record.Message{Time: at(16501 * time.Microsecond), Type: record.TypeNotification, Method: "notifications/progress", From: server, To: node, Size: 97, ProgressToken: json.RawMessage(`"orphan"`)},
		&record.Message{Time: at(16502 * time.Microsecond), Type: record.TypeResponse, ID: json.RawMessage(`3`), Method: "tools/call", Tool: "echo", From: server, To: node, Size: mib + 30, LatencyMs: ptr(6.5), IsError: ptr(false)},
		// Errors.
		&record.Message{Time: at(20 * time.Millisecond), Type: record.TypeResponse, ID: json.RawMessage(`9`), Method: "tools/call", Tool: "nope", From: server, To: node, Size: 89, LatencyMs: ptr(0.42),
			Error: &record.RPCError{Code: -32602, Message: "Unknown tool: nope"}},
		&record.Message{Time: at(21 * time.Millisecond), Type: record.TypeResponse, ID: json.RawMessage(`10`), Method: "tools/call", Tool: "fail", From: server, To: node, Size: 141, LatencyMs: ptr(130.0), IsError: ptr(true)},
		&record.Message{Time: at(22 * time.Millisecond), Type: record.TypeResponse, ID: json.RawMessage(`"req-77"`), From: server, To: node, Size: 70,
			Error: &record.RPCError{Code: -32601, Message: "Method not found"}},
		// Cancellation and a late response.
		&record.Message{Time: at(time.Second), Type: record.TypeNotification, Method: "notifications/cancelled", From: node, To: server, Size: 81, RelatedID: json.RawMessage(`7`)},
		&record.Message{Time: at(3350 * time.Millisecond), Type: record.TypeResponse, ID: json.RawMessage(`7`), Method: "tools/call", Tool: "trigger-long-running-operation", From: server, To: node, Size: 160, LatencyMs: ptr(2350.0), Late: true},
		// Lost bytes, with and without a count; no reader seen.
		&record.Message{Time: at(4 * time.Second), Type: record.TypeResponse, ID: json.RawMessage(`11`), Method: "resources/read", Resource: "file:///var/log/big.log", From: server, To: node, Size: 200000, LatencyMs: ptr(75000.0), Truncated: true, LostBytes: 4096},
		&record.Message{Time: at(5 * time.Second), Type: "", From: server, To: record.Endpoint{}, Size: 65536, Truncated: true},
		// Method kinds, batches, modern-era retries and results.
		&record.Message{Time: at(6 * time.Second), Type: record.TypeRequest, ID: json.RawMessage(`12`), Method: "frobnicate/now", MethodKind: "unknown", From: node, To: server, Size: 60},
		&record.Message{Time: at(6*time.Second + time.Millisecond), Type: record.TypeRequest, ID: json.RawMessage(`13`), Method: "skills/list", MethodKind: "extension", From: node, To: server, Size: 58},
		&record.Message{Time: at(7 * time.Second), Type: record.TypeRequest, ID: json.RawMessage(`14`), Method: "ping", From: node, To: server, Size: 44, Batch: &record.Batch{Index: 0, Count: 2, Size: 90}},
		&record.Message{Time: at(7 * time.Second), Type: record.TypeRequest, ID: json.RawMessage(`15`), Method: "prompts/get", Prompt: "simple_prompt", From: node, To: server, Size: 44, Batch: &record.Batch{Index: 1, Count: 2, Size: 90}},
		&record.Message{Time: at(8 * time.Second), Type: record.TypeResponse, ID: json.RawMessage(`16`), Method: "tools/call", Tool: "confirm", From: server, To: node, Size: 300, LatencyMs: ptr(3.0), ResultType: "input_required"},
		&record.Message{Time: at(9 * time.Second), Type: record.TypeRequest, ID: json.RawMessage(`17`), Method: "tools/call", Tool: "confirm", From: node, To: server, Size: 350, RetryOf: json.RawMessage(`16`)},
		&record.Message{Time: at(9*time.Second + 900*time.Millisecond), Type: record.TypeResponse, ID: json.RawMessage(`17`), Method: "tools/call", Tool: "confirm", From: server, To: node, Size: 120, LatencyMs: ptr(1900.0), ResultType: "complete"},
		&record.Stats{Kind: record.KindStats, Time: at(10 * time.Second), Counters: map[string]uint64{"messages": 21, "kernel_lost_bytes": 69632, "junk_lines": 1}},
		// Hostile strings: terminal escapes, bidi overrides, invalid UTF-8, long names, and a pretty-printed message.
		&record.Message{Time: at(11 * time.Second), Type: record.TypeRequest, ID: json.RawMessage(`"\u001b[2J"`), Method: "tools/call",
			Tool: "evil\x1b]0;pwned\x07\u202etxt.exe\xff", From: record.Endpoint{Pid: 666, Comm: "bad\ncomm"}, To: server, Size: 123,
			Message: json.RawMessage("{\n  \"jsonrpc\": \"2.0\",\n\t\"id\": \"\\u001b[2J\",\n  \"method\": \"tools/call\",\n  \"params\": {\"name\": \"évil\", \"arguments\": {\"text\": \"" + strings.Repeat("x", 100) + "\"}}\n}")},
		&record.Message{Time: at(12 * time.Second), Type: record.TypeResponse, ID: json.RawMessage(`18`), Method: "resources/read",
			Resource: "ui://widgets/" + strings.Repeat("a-very-long-segment/", 4) + "end", From: server, To: node, Size: 5 << 30, LatencyMs: ptr(312000.0),
			Error: &record.RPCError{Code: -32002, Message: "Resource not found: ui://widgets/\x1b[31mred\nline two and a much longer tail to be cut"}},
	}
	return append(records, httpFixture()...)
}

var (
	httpClient = record.Endpoint{Pid: 5100, Comm: "claude", Addr: "127.0.0.1:51234"}
	httpServer = record.Endpoint{Pid: 5200, Comm: "python3", Addr: "127.0.0.1:3001"}
	remote     = record.Endpoint{Addr: "[2001:db8::7]:40000"}
)

// httpFixture is a Streamable HTTP conversation: messages with their HTTP context, and the exchanges that carried
// no JSON-RPC (kind "http"): accepted, refused, a stream opened, a session deleted, a request never answered.
func httpFixture() []any {
	post := func(status int, ct string) *record.HTTPInfo {
		return &record.HTTPInfo{Proto: "HTTP/1.1", Method: "POST", Path: "/mcp", Status: status, ContentType: ct, SessionID: "redacted:5e2c1a9b07d4"}
	}
	exchange := func(d time.Duration, event, method, path string, status int, latency float64, reqSize, respSize int64, body string) *record.HTTP {
		return &record.HTTP{Kind: record.KindHTTP, Time: at(d), Transport: record.TransportHTTP, Session: "http:redacted:5e2c1a9b07d4", Event: event,
			From: httpClient, To: httpServer, HTTP: record.HTTPInfo{Proto: "HTTP/1.1", Method: method, Path: path, Status: status},
			LatencyMs: ptr(latency), RequestSize: reqSize, ResponseSize: respSize, ResponseBody: body}
	}
	unanswered := exchange(20*time.Second, "unanswered", "POST", "/mcp", 0, 0, 40, 0, "")
	unanswered.LatencyMs = nil
	truncated := exchange(21*time.Second, "exchange", "POST", "/mcp", 500, 3, 90, 4096, "<html>\n<body>Internal \x1b[31mError</body>")
	truncated.Truncated, truncated.LostBytes = true, 100
	return []any{
		&record.Message{Time: at(13 * time.Second), Transport: record.TransportHTTP, Type: record.TypeRequest, ID: json.RawMessage(`4`), Method: "tools/call", Tool: "echo",
			From: httpClient, To: httpServer, Size: 100, HTTP: post(0, "application/json")},
		&record.Message{Time: at(13*time.Second + 4500*time.Microsecond), Transport: record.TransportHTTP, Type: record.TypeResponse, ID: json.RawMessage(`4`), Method: "tools/call", Tool: "echo",
			From: httpServer, To: httpClient, Size: 81, LatencyMs: ptr(4.5), HTTP: post(200, "text/event-stream")},
		exchange(13*time.Second+6*time.Millisecond, "exchange", "POST", "/mcp", 202, 0.41, 54, 0, ""),
		exchange(14*time.Second, "stream_open", "GET", "/mcp", 200, 0.8, 0, 0, ""),
		exchange(15*time.Second, "exchange", "POST", "/mcp", 404, 1.2, 40, 18, "\nSession not found\nplease re-initialize"),
		exchange(16*time.Second, "exchange", "POST", "/mcp", 400, 0.9, 40, 0, ""),
		exchange(17*time.Second, "exchange", "DELETE", "/mcp", 200, 0.3, 0, 0, ""),
		// A remote client (no process, an address) whose request the server refused with a JSON-RPC error in a 400.
		&record.Message{Time: at(18 * time.Second), Transport: record.TransportHTTPS, Type: record.TypeRequest, ID: json.RawMessage(`1`), Method: "ping",
			From: remote, To: httpServer, Size: 40, HTTP: post(0, "application/json")},
		&record.Message{Time: at(18*time.Second + time.Millisecond), Transport: record.TransportHTTPS, Type: record.TypeResponse, ID: json.RawMessage(`1`), Method: "ping",
			From: httpServer, To: remote, Size: 90, LatencyMs: ptr(1.0), HTTP: post(400, "application/json"),
			Error: &record.RPCError{Code: -32600, Message: "Bad Request: Mcp-Session-Id header is required"}},
		exchange(19*time.Second, "exchange", "GET", "/sse", 200, 2, 0, 0, ""),
		unanswered,
		truncated,
		// A status with no reason phrase, and an exchange with nothing known of the request.
		&record.HTTP{Time: at(22 * time.Second), Event: "exchange", From: remote, To: record.Endpoint{Addr: "10.0.0.5:443"}, HTTP: record.HTTPInfo{Status: 599}},
		// An HTTP/2 event stream that was open before capture: its start unseen, nothing lost.
		&record.HTTP{Kind: record.KindHTTP, Time: at(23 * time.Second), Transport: record.TransportHTTPS, Event: "exchange", From: httpClient, To: httpServer,
			HTTP: record.HTTPInfo{Proto: "HTTP/2", ContentType: "text/event-stream", StreamID: 1}, ResponseSize: 120, Truncated: true, BeganBeforeCapture: true},
	}
}

func render(t *testing.T, opts Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	opts.Location = time.UTC
	w := New(&buf, opts)
	for _, r := range fixture() {
		var err error
		switch r := r.(type) {
		case *record.Message:
			err = w.WriteMessage(r)
		case *record.HTTP:
			err = w.WriteHTTP(r)
		case *record.Stats:
			err = w.WriteStats(r)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"plain", Options{}},
		{"color", Options{Color: true}},
		{"verbose", Options{Verbose: true, MaxJSON: 120}},
		{"narrow", Options{Width: 12}},
		{"unlimited", Options{Width: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := render(t, tc.opts)
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (run go test -update and review the diff):\n%s", path, got)
			}
			checkSafe(t, got, tc.opts.Color)
		})
	}
}

// checkSafe checks that out has no control characters but newlines and, with colour, SGR sequences, and no
// trailing spaces.
func checkSafe(t *testing.T, out []byte, color bool) {
	t.Helper()
	for i, l := range strings.Split(string(out), "\n") {
		if strings.HasSuffix(l, " ") {
			t.Errorf("line %d has trailing spaces: %q", i+1, l)
		}
		for j := 0; j < len(l); j++ {
			c := l[j]
			if c == 0x1b && color && j+1 < len(l) && l[j+1] == '[' {
				k := strings.IndexByte(l[j:], 'm')
				if k < 0 || strings.Trim(l[j+2:j+k], "0123456789;") != "" {
					t.Errorf("line %d: not an SGR sequence at %d: %q", i+1, j, l)
				}
				j += k
				continue
			}
			if c < 0x20 || c == 0x7f {
				t.Errorf("line %d: control character %#x: %q", i+1, c, l)
			}
		}
		if strings.ContainsRune(l, '\u202e') || !utf8Valid(l) {
			t.Errorf("line %d: bidi override or invalid UTF-8: %q", i+1, l)
		}
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\ufffd") == s }

func TestStatsOnlyVerbose(t *testing.T) {
	s := &record.Stats{Kind: record.KindStats, Time: t0, Counters: map[string]uint64{"messages": 1}}
	var buf bytes.Buffer
	w := New(&buf, Options{Location: time.UTC})
	if err := w.WriteStats(s); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if buf.Len() != 0 {
		t.Errorf("stats printed without Verbose: %q", buf.String())
	}
	buf.Reset()
	w = New(&buf, Options{Location: time.UTC, Verbose: true})
	w.WriteStats(s)
	w.Close()
	if want := "# stats 07:18:12.123456  messages=1\n"; buf.String() != want {
		t.Errorf("got %q, want %q", buf.String(), want)
	}
}

func TestLocalTime(t *testing.T) {
	var buf bytes.Buffer
	w := New(&buf, Options{Location: time.FixedZone("", 2*3600)})
	w.WriteMessage(&record.Message{Time: t0, Type: record.TypeRequest, From: node, To: server})
	w.Close()
	if !strings.HasPrefix(buf.String(), "09:18:12.123456  node[4242] → server-everything[4250]  request") {
		t.Errorf("got %q", buf.String())
	}
}

type failingWriter struct{ err error }

func (f failingWriter) Write(p []byte) (int, error) { return 0, f.err }

func TestErrors(t *testing.T) {
	w := New(failingWriter{syscall.EPIPE}, Options{Verbose: true})
	m := &record.Message{Time: t0, Type: record.TypeRequest, From: node, To: server}
	if err := w.WriteMessage(m); err != nil {
		t.Fatalf("buffered write failed early: %v", err)
	}
	err := w.Flush()
	if !errors.Is(err, syscall.EPIPE) || !strings.HasPrefix(err.Error(), "console: write: ") {
		t.Fatalf("Flush: got %v, want a wrapped EPIPE", err)
	}
	for _, err := range []error{w.WriteMessage(m), w.Flush(), w.Close()} {
		if !errors.Is(err, syscall.EPIPE) {
			t.Errorf("got %v, want EPIPE", err)
		}
	}
	for _, err := range []error{w.WriteMessage(m), w.WriteStats(&record.Stats{}), w.Flush(), w.Close()} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("after Close: got %v, want ErrClosed", err)
		}
	}
}

func TestEscape(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"echo", 40, "echo"},
		{"", 40, ""},
		{"héllo 😀", 40, "héllo 😀"},
		{"a\x1b[31mb", 40, `a\x1b[31mb`},
		{"tab\tnl\ncr\rdel\x7f", -1, `tab\x09nl\x0acr\x0ddel\x7f`},
		{"c1\u0085\u009b", -1, `c1\u0085\u009b`},
		{"bidi\u202eevil\u2066\u200f", -1, `bidi\u202eevil\u2066\u200f`},
		{"bad\xff\xc3", -1, `bad\xff\xc3`},
		{"abcdefghij", 10, "abcdefghij"},
		{"abcdefghijk", 10, "abcdefghi…"},
		{"ééééééééééé", 10, "ééééééééé…"},
		{"abcdefg\x1bhij", 10, "abcdefg…"}, // an escape is not split
		{"abc", 1, "…"},
		{strings.Repeat("x", 1000), -1, strings.Repeat("x", 1000)},
	} {
		if got := escape(tc.in, tc.max); got != tc.want {
			t.Errorf("escape(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

func TestUnits(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"}, {1 << 20, "1.0 MiB"}, {16<<20 + 1, "16.0 MiB"}, {5 << 30, "5.0 GiB"}, {3 << 40, "3.0 TiB"}} {
		if got := string(appendSize(nil, tc.n)); got != tc.want {
			t.Errorf("appendSize(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
	for _, tc := range []struct {
		ms   float64
		want string
	}{{0, "0 µs"}, {0.42, "420 µs"}, {0.9994, "999 µs"}, {0.9996, "1.0 ms"}, {6.5, "6.5 ms"}, {99.94, "99.9 ms"}, {99.96, "100 ms"},
		{130, "130 ms"}, {999.4, "999 ms"}, {999.6, "1.00 s"}, {2350, "2.35 s"}, {75000, "75.0 s"}, {312000, "312 s"}} {
		if got := string(appendLatency(nil, tc.ms)); got != tc.want {
			t.Errorf("appendLatency(%v) = %q, want %q", tc.ms, got, tc.want)
		}
	}
}

func BenchmarkWriteMessage(b *testing.B) {
	var msgs []*record.Message
	for _, r := range fixture() {
		if m, ok := r.(*record.Message); ok {
			msgs = append(msgs, m)
		}
	}
	for _, opts := range []struct {
		name string
		o    Options
	}{{"plain", Options{}}, {"color", Options{Color: true}}, {"verbose", Options{Verbose: true}}} {
		b.Run(opts.name, func(b *testing.B) {
			var n int64
			w := New(&countWriter{&n}, opts.o)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := w.WriteMessage(msgs[i%len(msgs)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
			w.Close()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(n)/float64(b.N), "B/record")
		})
	}
}

type countWriter struct{ n *int64 }

func (c *countWriter) Write(p []byte) (int, error) { *c.n += int64(len(p)); return len(p), nil }

// TestHTTP checks the line of each kind of HTTP exchange, and that endpoints fall back to the address when no
// process is known, each printed by a fresh Writer so that columns have their starting widths.
func TestHTTP(t *testing.T) {
	line := func(r any, opts Options) string {
		t.Helper()
		var buf bytes.Buffer
		opts.Location = time.UTC
		w := New(&buf, opts)
		var err error
		switch r := r.(type) {
		case *record.HTTP:
			err = w.WriteHTTP(r)
		case *record.Message:
			err = w.WriteMessage(r)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		checkSafe(t, buf.Bytes(), opts.Color)
		return buf.String()
	}
	h := &record.HTTP{Kind: record.KindHTTP, Time: t0, Transport: record.TransportHTTP, Event: "exchange", From: httpClient, To: httpServer,
		HTTP: record.HTTPInfo{Method: "POST", Path: "/mcp", Status: 202}, LatencyMs: ptr(0.41), RequestSize: 54}
	for _, tc := range []struct {
		name   string
		modify func(*record.HTTP)
		want   string
	}{
		{"accepted", func(*record.HTTP) {},
			"07:18:12.123456  claude[5100] → python3[5200]  http          POST /mcp               202 Accepted                     0 B   410 µs\n"},
		{"error with body", func(h *record.HTTP) {
			h.HTTP.Status, h.ResponseBody, h.ResponseSize = 400, "  \r\nBad Request: No valid session ID provided\r\nmore", 48
		}, "07:18:12.123456  claude[5100] → python3[5200]  http          POST /mcp               400 Bad Request                 48 B   410 µs  ✗ 400 Bad Request: No valid session ID provid…\n"},
		{"error without body", func(h *record.HTTP) { h.HTTP.Status = 401 },
			"07:18:12.123456  claude[5100] → python3[5200]  http          POST /mcp               401 Unauthorized                 0 B   410 µs  ✗ 401 Unauthorized\n"},
		{"stream open", func(h *record.HTTP) {
			h.Event, h.HTTP.Method, h.HTTP.Path, h.HTTP.Status = "stream_open", "GET", "/sse", 200
		},
			"07:18:12.123456  claude[5100] → python3[5200]  http          GET /sse                stream open                            410 µs\n"},
		{"delete", func(h *record.HTTP) { h.HTTP.Method, h.HTTP.Status = "DELETE", 200 },
			"07:18:12.123456  claude[5100] → python3[5200]  http          DELETE /mcp             200 OK                           0 B   410 µs\n"},
		{"unanswered", func(h *record.HTTP) { h.Event, h.HTTP.Status, h.LatencyMs = "unanswered", 0, nil },
			"07:18:12.123456  claude[5100] → python3[5200]  http          POST /mcp               no response                     54 B\n"},
		{"remote client", func(h *record.HTTP) { h.From = remote },
			"07:18:12.123456  [2001:db8::7]:40000 → python3[5200]  http          POST /mcp               202 Accepted                     0 B   410 µs\n"},
		{"hostile", func(h *record.HTTP) {
			h.HTTP.Status, h.HTTP.Path, h.ResponseBody = 404, "/mcp\x1b[2J", "\x1b]0;pwned\x07 gone\u202e"
		}, "07:18:12.123456  claude[5100] → python3[5200]  http          POST /mcp\\x1b[2J        404 Not Found                    0 B   410 µs  ✗ 404 \\x1b]0;pwned\\x07 gone\\u202e\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := *h
			tc.modify(&r)
			if got := line(&r, Options{}); got != tc.want {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
	// An error status is red, like a JSON-RPC error.
	r := *h
	r.HTTP.Status = 500
	if got := line(&r, Options{Color: true}); !strings.Contains(got, sgrRed+"500 Internal Server Error"+sgrReset) || !strings.Contains(got, sgrRed+"✗ 500 Internal Server Error"+sgrReset) {
		t.Errorf("500 not marked in red: %q", got)
	}
	// Verbose mode prints the start of the body under the line.
	r.ResponseBody = "\n<html>\n\t<h1>Oops</h1>\n</html>\n"
	if got := line(&r, Options{Verbose: true}); !strings.HasSuffix(got, "\n    <html>  <h1>Oops</h1> </html>\n") {
		t.Errorf("verbose: %q", got)
	}
	// A message from a remote peer, and one carried by an HTTP error response.
	m := &record.Message{Time: t0, Transport: record.TransportHTTPS, Type: record.TypeResponse, ID: json.RawMessage(`1`), Method: "ping",
		From: httpServer, To: remote, Size: 90, HTTP: &record.HTTPInfo{Method: "POST", Path: "/mcp", Status: 403}}
	if got, want := line(m, Options{}), "07:18:12.123456  python3[5200] → [2001:db8::7]:40000  response      ping                                      id=1          90 B           ✗ HTTP 403 Forbidden\n"; got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
	// Nothing known of a peer but its pid being 0: "?" as before.
	m.To, m.HTTP = record.Endpoint{}, nil
	if got := line(m, Options{}); !strings.HasPrefix(got, "07:18:12.123456  python3[5200] → ?  response") {
		t.Errorf("got %q", got)
	}

	w := New(&bytes.Buffer{}, Options{})
	w.Close()
	if err := w.WriteHTTP(h); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: got %v, want ErrClosed", err)
	}
}

func TestWriteFootprint(t *testing.T) {
	var buf bytes.Buffer
	w := New(&buf, Options{Location: time.UTC})
	f := &record.Footprint{
		Time: time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC), ID: []byte("3"), Method: "tools/call", Tool: "work",
		Server: record.Endpoint{Pid: 20, Comm: "server"}, Client: record.Endpoint{Pid: 10, Comm: "host"},
		UserCPUMs: 203.4, SysCPUMs: 108.6, Shared: true,
		Syscalls: []record.FootprintSyscall{{Name: "openat", Count: 30, Errors: 13}, {Name: "read", Count: 5}},
		Files:    []record.FootprintFile{{Path: "/a"}}, Execs: []record.FootprintExec{{Filename: "/bin/sh"}, {Filename: "/bin/cat"}},
	}
	if err := w.WriteFootprint(f); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	got := buf.String()
	for _, want := range []string{"server[20] → host[10]", "footprint", "tools/call", "work", "id=3",
		"CPU 203+109 ms, 35 syscalls (13 failed), 1 files, 2 programs, shared with an overlapping call"} {
		if !strings.Contains(got, want) {
			t.Errorf("line %q lacks %q", got, want)
		}
	}
	if strings.Count(got, "\n") != 1 {
		t.Errorf("want one line, got %q", got)
	}
}
