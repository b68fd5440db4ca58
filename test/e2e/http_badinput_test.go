package e2e

// Bad input on the HTTP path, end to end: `mcpscope watch -- gopeer http-badinput` opens raw TCP connections that
// carry broken HTTP (binary bytes, a broken header section, a bad chunk size, a body cut by the close, server-sent
// event streams cut mid-event by gopeer http-badserver) around one valid go-sdk session with gopeer server-http.
// The monitor must exit 0, record the valid session whole and paired, count every bad part in the final stats
// record, and write no JSON-RPC message record for any of them. test/peers/README.md lists the bytes sent.

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpscope/mcpscope/internal/record"
)

// badConn is one raw connection of gopeer http-badinput, as its report describes it.
type badConn struct {
	Case     string `json:"case"`
	Local    string `json:"local"`
	Remote   string `json:"remote"`
	Sent     int    `json:"sent"`
	Received int    `json:"received"`
	Status   int    `json:"status"`
}

// badCase is what one case of http-badinput must do to the capture.
type badCase struct {
	name string
	// the counters of badInputCounters it moves (the valid session moves none of them): each must be positive,
	// and, when the case runs alone, a value above 1 is the exact count wanted.
	counters map[string]uint64
	// the kind "http" records of its connection.
	exchanges []exchange
	// the cut event-stream cases: their request (a complete tools/call, id 901) is a message; nothing else is.
	request bool
}

// The counters that only bad input moves: each must be zero unless a case of the run names it.
var badInputCounters = []string{"http_malformed", "http_skipped_bytes", "http_junk_bodies", "http_truncated", "http_sse_discarded",
	"http_junk_events", "http_unknown_bytes", "http_unpaired"}

// The counters of each case are those it moved when run alone under the monitor: the byte counts follow from what
// gopeer sends (the JSON-RPC request of the cut cases is 103 bytes; cutbody sends its first 51; the cut event is 107
// bytes, of which 53 are sent).
var badCases = []badCase{
	{
		// Never looks like MCP: the kernel does not follow it, so it leaves no trace at all.
		name: "binary",
	},
	{
		// The POST is followed (its head is MCP's); its binary body is junk (and so is the server's 400 text), then
		// 4096 binary bytes on the same connection fail to parse as a request and are skipped.
		name:      "junkbody",
		counters:  map[string]uint64{"http_junk_bodies": 2, "http_malformed": 1, "http_skipped_bytes": 4096},
		exchanges: []exchange{{event: "exchange", method: "POST", path: "/mcp", status: 400, contentType: "text/plain", reqSize: 512}},
	},
	{
		// Content-Length: 12x breaks the header section: the request is cut there, and its body, read as the next
		// request's start line, is skipped. The server's 400 text body is junk.
		name:      "badheader",
		counters:  map[string]uint64{"http_malformed": 2, "http_skipped_bytes": 103, "http_truncated": 1, "http_junk_bodies": 1},
		exchanges: []exchange{{event: "exchange", method: "POST", path: "/mcp", status: 400, contentType: "text/plain", reqSize: 0}},
	},
	{
		// A chunk size "zz": the request is cut at it and the rest of its body skipped.
		name:      "badchunk",
		counters:  map[string]uint64{"http_malformed": 1, "http_skipped_bytes": 110, "http_truncated": 1, "http_junk_bodies": 1},
		exchanges: []exchange{{event: "exchange", method: "POST", path: "/mcp", status: 400, contentType: "text/plain", reqSize: 0}},
	},
	{
		// The client closes halfway through a chunk: the request is cut, and never answered.
		name:      "cutbody",
		counters:  map[string]uint64{"http_truncated": 1},
		exchanges: []exchange{{event: "unanswered", method: "POST", path: "/mcp", reqSize: 51}},
	},
	{
		// A close-delimited event stream cut mid-event: the half event is discarded, the response cut.
		name:     "cutsse",
		counters: map[string]uint64{"http_sse_discarded": 53, "http_truncated": 1},
		request:  true,
	},
	{
		// The same, chunked: the connection closes in the middle of the chunk.
		name:     "cutssechunk",
		counters: map[string]uint64{"http_sse_discarded": 53, "http_truncated": 1},
		request:  true,
	},
}

// startBadServer starts `gopeer http-badserver` on a free 127.0.0.1 port.
func startBadServer(t *testing.T) httpServer {
	t.Helper()
	stdout, stderr := newLineWriter("http://"), newLineWriter("")
	cmd, exited := startProcess(t, testEnv.gopeer, []string{"http-badserver", "-lifetime", scaled(3 * time.Minute).String()}, nil, stdout, stderr)
	line := strings.TrimSpace(stdout.wait(t, 30*time.Second, exited, "gopeer http-badserver"))
	u, err := url.Parse(line)
	if err != nil {
		t.Fatalf("http-badserver printed %q: %v", line, err)
	}
	return httpServer{url: line, addr: u.Host, pid: cmd.Process.Pid, comm: filepath.Base(testEnv.gopeer)}
}

// TestHTTPBadInput runs every bad case alone (so that the counters it moves are its own), then all of them in one
// client, each time around a valid go-sdk session.
func TestHTTPBadInput(t *testing.T) {
	requireBPF(t)
	srv := startGopeerServerHTTP(t, testEnv.gopeer, "streamable", "legacy")
	bad := startBadServer(t)
	for _, tc := range badCases {
		t.Run(tc.name, func(t *testing.T) {
			runBadInput(t, srv, bad, []badCase{tc})
		})
	}
	t.Run("all", func(t *testing.T) {
		runBadInput(t, srv, bad, badCases)
	})
}

// runBadInput runs `gopeer http-badinput -cases ...` under the monitor and checks the capture.
func runBadInput(t *testing.T, srv, bad httpServer, cases []badCase) {
	t.Helper()
	var names []string
	for _, c := range cases {
		names = append(names, c.name)
	}
	report := filepath.Join(t.TempDir(), "report.json")
	res := watch(t, 60*time.Second, noDB, testEnv.gopeer, "http-badinput", "-cases", strings.Join(names, ","), "-sse", bad.url,
		"-report", report, srv.url)
	if res.exitCode != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", res.exitCode, res.stderr)
	}
	if strings.Contains(res.stderr, "panic") || strings.Contains(res.stderr, "goroutine ") {
		t.Errorf("mcpscope or gopeer panicked:\n%s", res.stderr)
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("http-badinput report: %v; stderr:\n%s", err, res.stderr)
	}
	var rep struct {
		OK    bool      `json:"ok"`
		Conns []badConn `json:"conns"`
	}
	if err := json.Unmarshal(b, &rep); err != nil || !rep.OK || len(rep.Conns) != len(cases) {
		t.Fatalf("http-badinput report %s (%v), want ok and %d connections", b, err, len(cases))
	}
	byAddr := map[string]badConn{} // client address → its bad connection
	for _, c := range rep.Conns {
		byAddr[c.Local] = c
	}

	// Every record names both ends by their real addresses: a port 0 is a socket's address read after the kernel
	// released its port (a connection reset by the server).
	for _, h := range res.http {
		if strings.HasSuffix(h.From.Addr, ":0") || strings.HasSuffix(h.To.Addr, ":0") {
			t.Errorf("http record %s %s %d: client %s, server %s: an address with port 0", h.HTTP.Method, h.HTTP.Path, h.HTTP.Status,
				h.From.Addr, h.To.Addr)
		}
	}
	for _, r := range res.records {
		if strings.HasSuffix(r.From.Addr, ":0") || strings.HasSuffix(r.To.Addr, ":0") {
			t.Errorf("message record %s %s: from %s to %s: an address with port 0", r.Type, r.Method, r.From.Addr, r.To.Addr)
		}
	}

	// Split the records: those of a bad connection, and the valid session's.
	var valid watchResult
	valid.stderr = res.stderr
	valid.stats = res.stats
	badMsgs := map[string][]record.Message{}
	badHTTP := map[string][]record.HTTP{}
	for _, r := range res.records {
		// A record without a direction (never expected) is taken as the client's.
		client := r.From
		if r.Direction == record.ServerToClient {
			client = r.To
		}
		if c, ok := byAddr[client.Addr]; ok {
			badMsgs[c.Case] = append(badMsgs[c.Case], r)
			continue
		}
		valid.records = append(valid.records, r)
	}
	for _, h := range res.http {
		if c, ok := byAddr[h.From.Addr]; ok {
			badHTTP[c.Case] = append(badHTTP[c.Case], h)
			continue
		}
		valid.http = append(valid.http, h)
	}

	// The valid session, whole and paired, as if nothing else had happened.
	checkHTTPBasics(t, valid, srv, "gopeer")
	c2s, s2c := byDirection(valid.records)
	checkSequence(t, "client to server", c2s, []wire{
		{typ: "request", method: "initialize", id: "1", size: 173},
		{typ: "notification", method: "notifications/initialized", size: 66},
		{typ: "request", method: "tools/call", id: "2", size: 100, tool: "echo"},
	})
	checkSequence(t, "server to client", s2c, []wire{
		{typ: "response", method: "initialize", id: "1", size: 177},
		{typ: "response", method: "tools/call", id: "2", size: 81, tool: "echo"},
	})
	checkHTTPInfo(t, "client to server", c2s, "POST", "/mcp", 0, "application/json")
	checkHTTPInfo(t, "server to client", s2c, "POST", "/mcp", 200, "text/event-stream")
	checkExchanges(t, valid.http, []exchange{
		{event: "exchange", method: "POST", path: "/mcp", status: 202, reqSize: 66}, // notifications/initialized
		{event: "exchange", method: "DELETE", path: "/mcp", status: 204, reqSize: 0},
	})

	// The bad connections: no JSON-RPC message record but the complete requests the cut streams answer.
	for _, tc := range cases {
		msgs := badMsgs[tc.name]
		if tc.request {
			if len(msgs) != 1 || msgs[0].Type != record.TypeRequest || msgs[0].Direction != record.ClientToServer ||
				msgs[0].Method != "tools/call" || string(msgs[0].ID) != "901" || msgs[0].Size != 103 || msgs[0].Truncated {
				t.Errorf("%s: message records %d, want the tools/call request 901 alone (no record of the cut event):\n%s",
					tc.name, len(msgs), summary(msgs))
			} else if msgs[0].To.Pid != bad.pid || msgs[0].To.Addr != bad.addr {
				t.Errorf("%s: request sent to %+v, want http-badserver (pid %d, %s)", tc.name, msgs[0].To, bad.pid, bad.addr)
			}
		} else if len(msgs) != 0 {
			t.Errorf("%s: %d message records for a connection that carried no JSON-RPC message:\n%s%s", tc.name, len(msgs),
				summary(msgs), rawOf(res, msgs))
		}
		checkExchanges(t, badHTTP[tc.name], tc.exchanges)
	}

	// The counters: the valid session moves none of these; every case moves its own.
	c := res.finalCounters(t)
	want := map[string]uint64{}
	for _, tc := range cases {
		for k, v := range tc.counters {
			want[k] += v
		}
	}
	for _, k := range badInputCounters {
		switch w, ok := want[k]; {
		case k == "http_truncated":
			// The valid session may add one: the go-sdk client closes a keep-alive connection without reading the
			// last chunk (the end) of an SSE response whose event it already has, so the monitor sees that response
			// cut by the close (its message records are whole). Seen in 2 of 20 runs without bad input.
			if c[k] < w {
				t.Errorf("counter %s = %d, want at least %d (cases %v)", k, c[k], w, names)
			}
		case !ok && c[k] != 0:
			t.Errorf("counter %s = %d, want 0 (cases %v)", k, c[k], names)
		case ok && w > 1 && len(cases) == 1 && c[k] != w:
			t.Errorf("counter %s = %d, want %d (case %s)", k, c[k], w, names[0])
		case ok && c[k] == 0:
			t.Errorf("counter %s = 0, want > 0 (cases %v)", k, names)
		}
	}
	// (checkHTTPBasics checked kernel_undelivered_bytes and truncated: no message record is marked cut.)
	if c["http_lost_bytes"] != 0 {
		t.Errorf("counter http_lost_bytes = %d, want 0", c["http_lost_bytes"])
	}
	wantMsgs := uint64(len(valid.records))
	for _, tc := range cases {
		if tc.request {
			wantMsgs++
		}
	}
	if c["messages"] != wantMsgs {
		t.Errorf("counter messages = %d, want %d", c["messages"], wantMsgs)
	}
	if t.Failed() {
		var counters []string
		for k, v := range c {
			if strings.HasPrefix(k, "http_") && v != 0 {
				counters = append(counters, fmt.Sprintf("%s=%d", k, v))
			}
		}
		slices.Sort(counters)
		t.Logf("cases %v: http counters %s; connections %+v", names, strings.Join(counters, " "), rep.Conns)
		for _, h := range res.http {
			b, _ := json.Marshal(h)
			t.Logf("http record: %s", b)
		}
	}
}

// rawOf returns the JSONL lines of the given message records, for failure messages.
func rawOf(res watchResult, msgs []record.Message) string {
	var b strings.Builder
	for _, m := range msgs {
		for i, r := range res.records {
			if r.Time.Equal(m.Time) && r.From == m.From && r.Size == m.Size {
				fmt.Fprintf(&b, "  %s\n", res.raw[i])
				break
			}
		}
	}
	return b.String()
}
