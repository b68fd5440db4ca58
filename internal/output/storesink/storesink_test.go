package storesink

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpscope/mcpscope/internal/record"
	"github.com/mcpscope/mcpscope/internal/store"
)

var t0 = time.Date(2026, 11, 22, 7, 18, 12, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// clock is a settable clock for the sink.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

var (
	claude = record.Endpoint{Pid: 100, Comm: "claude"}
	node   = record.Endpoint{Pid: 200, Comm: "node"}
	cursor = record.Endpoint{Pid: 300, Comm: "cursor"}
	python = record.Endpoint{Pid: 400, Comm: "python3"}
)

// conv builds messages of one session; ms is the time in milliseconds after t0.
type conv struct {
	session        string
	client, server record.Endpoint
	era            string
}

func (c conv) msg(ms int, typ string, fromClient bool, id, method, body string) *record.Message {
	m := &record.Message{Kind: record.KindMessage, Time: t0.Add(time.Duration(ms) * time.Millisecond), Transport: record.TransportStdio,
		Session: c.session, Type: typ, Method: method, Era: c.era, Message: json.RawMessage(body), Size: len(body)}
	if fromClient {
		m.Direction, m.From, m.To = record.ClientToServer, c.client, c.server
	} else {
		m.Direction, m.From, m.To = record.ServerToClient, c.server, c.client
	}
	if id != "" {
		m.ID = json.RawMessage(id)
	}
	return m
}

func (c conv) call(ms int, id, method, name, args string) *record.Message {
	body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"method":%q,"params":{"name":%q,"arguments":%s}}`, id, method, name, args)
	m := c.msg(ms, record.TypeRequest, true, id, method, body)
	m.Arguments = json.RawMessage(args) // as the parser labels it (mcp.Parsed.Arguments)
	switch method {
	case "tools/call":
		m.Tool = name
	case "prompts/get":
		m.Prompt = name
	case "resources/read":
		m.Resource = name
		m.Message = json.RawMessage(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"method":"resources/read","params":{"uri":%q}}`, id, name))
		m.Arguments = nil
		m.Size = len(m.Message)
	}
	return m
}

// result answers req (sent at reqMs) at ms.
func (c conv) result(ms, reqMs int, req *record.Message, body string) *record.Message {
	m := c.msg(ms, record.TypeResponse, false, string(req.ID), req.Method, body)
	m.Tool, m.Resource, m.Prompt = req.Tool, req.Resource, req.Prompt
	m.LatencyMs = ptr(float64(ms - reqMs))
	return m
}

func (c conv) notify(ms int, fromClient bool, method, related string) *record.Message {
	body := fmt.Sprintf(`{"jsonrpc":"2.0","method":%q,"params":{"requestId":%s}}`, method, related)
	m := c.msg(ms, record.TypeNotification, fromClient, "", method, body)
	m.RelatedID = json.RawMessage(related)
	return m
}

// rows returns the rows of q, one line each, values separated by "|".
func rows(t *testing.T, path, q string) string {
	t.Helper()
	db, err := store.OpenReadOnly(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	var b strings.Builder
	for _, row := range res.Rows {
		for i, v := range row {
			if i > 0 {
				b.WriteString("|")
			}
			if v == nil {
				b.WriteString("NULL")
			} else {
				fmt.Fprint(&b, v)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

func newSink(t *testing.T, path string, sopts store.Options, opts Options) *Sink {
	t.Helper()
	st, err := store.Open(context.Background(), path, sopts)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{now: t0}
	if opts.Now == nil {
		opts.Now = clk.Now
	}
	opts.Hostname, opts.Pid, opts.Version = "host", 1, "test"
	return New(st, opts)
}

// TestSessionToRows feeds a realistic capture: two sessions using the same ids, a call with progress, a tool
// error, a JSON-RPC error, a cancelled call never answered, a cancelled call answered late, a call never
// answered, a prompt, and a modern-era call that needs input and is retried.
func TestSessionToRows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	sink := newSink(t, path, store.Options{}, Options{})
	a := conv{session: "stdio:100-200", client: claude, server: node, era: record.EraLegacy}
	b := conv{session: "stdio:300-400", client: cursor, server: python, era: record.EraModern}

	initReq := a.msg(0, record.TypeRequest, true, "1", "initialize", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25"}}`)
	initResp := a.result(2, 0, initReq, `{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-11-25"}}`)
	initResp.ProtocolVersion = "2025-11-25"
	echoA := a.call(10, "2", "tools/call", "echo", `{"message":"hi"}`)
	echoB := b.call(11, "2", "tools/call", "echo", `{"message":"from b"}`) // the same id, another session
	fail := a.call(20, "3", "tools/call", "fail", `{}`)
	read := a.call(21, "4", "resources/read", "file:///etc/hosts", "")
	slow := a.call(30, "5", "tools/call", "slow", `{"seconds":60}`)
	late := a.call(31, "6", "tools/call", "slow", `{"seconds":1}`)
	never := a.call(40, "7", "tools/call", "hang", `{}`)
	prompt := a.call(41, "8", "prompts/get", "review", `{"code":"x"}`)
	ask := b.call(50, "3", "tools/call", "deploy", `{"env":"prod"}`)
	askResp := b.result(52, 50, ask, `{"jsonrpc":"2.0","id":3,"result":{"resultType":"input_required"}}`)
	askResp.ResultType = "input_required"
	retry := b.call(60, "4", "tools/call", "deploy", `{"env":"prod"}`)
	retry.RetryOf = json.RawMessage("3")
	retryResp := b.result(70, 50, retry, `{"jsonrpc":"2.0","id":4,"result":{"resultType":"complete","content":[]}}`)
	retryResp.ResultType = "complete"

	progress := a.notify(12, false, "notifications/progress", "2")
	failResp := a.result(22, 20, fail, `{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"disk full"}],"isError":true}}`)
	failResp.IsError = ptr(true)
	readResp := a.result(23, 21, read, `{"jsonrpc":"2.0","id":4,"error":{"code":-32602,"message":"Resource not found"}}`)
	readResp.Error = &record.RPCError{Code: -32602, Message: "Resource not found"}
	lateResp := a.result(36, 31, late, `{"jsonrpc":"2.0","id":6,"result":{"content":[]}}`)
	lateResp.Late = true

	for _, m := range []*record.Message{
		initReq, initResp, echoA, echoB, progress, progress,
		b.result(13, 11, echoB, `{"jsonrpc":"2.0","id":2,"result":{"content":[{"type":"text","text":"from b"}]}}`),
		a.result(15, 10, echoA, `{"jsonrpc":"2.0","id":2,"result":{"content":[{"type":"text","text":"hi"}]}}`),
		fail, read, failResp, readResp,
		slow, late, a.notify(32, true, "notifications/cancelled", "5"), a.notify(33, true, "notifications/cancelled", "6"), lateResp,
		never, prompt, a.result(45, 41, prompt, `{"jsonrpc":"2.0","id":8,"result":{"messages":[]}}`),
		ask, askResp, retry, retryResp,
	} {
		if err := sink.WriteMessage(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := sink.WriteStats(&record.Stats{Kind: record.KindStats, Counters: map[string]uint64{"messages": 24}}); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}

	check := func(q, want string) {
		t.Helper()
		if got := rows(t, path, q); got != want {
			t.Errorf("%s\n got:\n%s\nwant:\n%s", q, got, want)
		}
	}
	check(`SELECT c.id, s.name, c.method, coalesce(c.tool, c.prompt, c.resource), c.rpc_id, c.client_comm, c.server_comm, c.arguments,
  c.started_at, c.ended_at, c.duration_ms, c.status, c.is_error, c.error_code, c.error_message, c.cancelled,
  (SELECT rpc_id || ' ' || type FROM messages WHERE id = c.request_message_id),
  (SELECT rpc_id || ' ' || type FROM messages WHERE id = c.response_message_id)
FROM tool_calls c JOIN sessions s ON s.id = c.session_id ORDER BY c.id`, strings.Join([]string{
		`1|stdio:100-200|tools/call|echo|2|claude|node|{"message":"hi"}|2026-11-22T07:18:12.010000000Z|2026-11-22T07:18:12.015000000Z|5|ok|NULL|NULL|NULL|0|2 request|2 response`,
		`2|stdio:300-400|tools/call|echo|2|cursor|python3|{"message":"from b"}|2026-11-22T07:18:12.011000000Z|2026-11-22T07:18:12.013000000Z|2|ok|NULL|NULL|NULL|0|2 request|2 response`,
		`3|stdio:100-200|tools/call|fail|3|claude|node|{}|2026-11-22T07:18:12.020000000Z|2026-11-22T07:18:12.022000000Z|2|tool_error|1|NULL|NULL|0|3 request|3 response`,
		`4|stdio:100-200|resources/read|file:///etc/hosts|4|claude|node|NULL|2026-11-22T07:18:12.021000000Z|2026-11-22T07:18:12.023000000Z|2|error|NULL|-32602|Resource not found|0|4 request|4 response`,
		`5|stdio:100-200|tools/call|slow|5|claude|node|{"seconds":60}|2026-11-22T07:18:12.030000000Z|NULL|NULL|cancelled|NULL|NULL|NULL|1|5 request|NULL`,
		`6|stdio:100-200|tools/call|slow|6|claude|node|{"seconds":1}|2026-11-22T07:18:12.031000000Z|2026-11-22T07:18:12.036000000Z|5|ok|NULL|NULL|NULL|1|6 request|6 response`,
		`7|stdio:100-200|tools/call|hang|7|claude|node|{}|2026-11-22T07:18:12.040000000Z|NULL|NULL|unanswered|NULL|NULL|NULL|0|7 request|NULL`,
		`8|stdio:100-200|prompts/get|review|8|claude|node|{"code":"x"}|2026-11-22T07:18:12.041000000Z|2026-11-22T07:18:12.045000000Z|4|ok|NULL|NULL|NULL|0|8 request|8 response`,
		`9|stdio:300-400|tools/call|deploy|4|cursor|python3|{"env":"prod"}|2026-11-22T07:18:12.050000000Z|2026-11-22T07:18:12.070000000Z|20|ok|NULL|NULL|NULL|0|3 request|4 response`,
	}, "\n")+"\n")
	// Every message, linked to its session and call.
	check(`SELECT m.id, s.name, m.type, coalesce(m.rpc_id, m.related_id), m.method, m.call_id, m.late, m.result_type, m.retry_of
FROM messages m JOIN sessions s ON s.id = m.session_id ORDER BY m.id`, strings.Join([]string{
		"1|stdio:100-200|request|1|initialize|NULL|0|NULL|NULL",
		"2|stdio:100-200|response|1|initialize|NULL|0|NULL|NULL",
		"3|stdio:100-200|request|2|tools/call|1|0|NULL|NULL",
		"4|stdio:300-400|request|2|tools/call|2|0|NULL|NULL",
		"5|stdio:100-200|notification|2|notifications/progress|1|0|NULL|NULL",
		"6|stdio:100-200|notification|2|notifications/progress|1|0|NULL|NULL",
		"7|stdio:300-400|response|2|tools/call|2|0|NULL|NULL",
		"8|stdio:100-200|response|2|tools/call|1|0|NULL|NULL",
		"9|stdio:100-200|request|3|tools/call|3|0|NULL|NULL",
		"10|stdio:100-200|request|4|resources/read|4|0|NULL|NULL",
		"11|stdio:100-200|response|3|tools/call|3|0|NULL|NULL",
		"12|stdio:100-200|response|4|resources/read|4|0|NULL|NULL",
		"13|stdio:100-200|request|5|tools/call|5|0|NULL|NULL",
		"14|stdio:100-200|request|6|tools/call|6|0|NULL|NULL",
		"15|stdio:100-200|notification|5|notifications/cancelled|5|0|NULL|NULL",
		"16|stdio:100-200|notification|6|notifications/cancelled|6|0|NULL|NULL",
		"17|stdio:100-200|response|6|tools/call|6|1|NULL|NULL",
		"18|stdio:100-200|request|7|tools/call|7|0|NULL|NULL",
		"19|stdio:100-200|request|8|prompts/get|8|0|NULL|NULL",
		"20|stdio:100-200|response|8|prompts/get|8|0|NULL|NULL",
		"21|stdio:300-400|request|3|tools/call|9|0|NULL|NULL",
		"22|stdio:300-400|response|3|tools/call|9|0|input_required|NULL",
		"23|stdio:300-400|request|4|tools/call|9|0|NULL|3",
		"24|stdio:300-400|response|4|tools/call|9|0|complete|NULL",
	}, "\n")+"\n")
	check("SELECT id, capture_id, name, client_pid, client_comm, server_pid, server_comm, era, protocol_version, first_seen, last_seen, messages FROM sessions ORDER BY id",
		"1|1|stdio:100-200|100|claude|200|node|legacy|2025-11-25|2026-11-22T07:18:12.000000000Z|2026-11-22T07:18:12.045000000Z|18\n"+
			"2|1|stdio:300-400|300|cursor|400|python3|modern|NULL|2026-11-22T07:18:12.011000000Z|2026-11-22T07:18:12.070000000Z|6\n")
	check("SELECT pid, comm, first_seen, last_seen FROM processes ORDER BY id",
		"100|claude|2026-11-22T07:18:12.000000000Z|2026-11-22T07:18:12.045000000Z\n"+
			"200|node|2026-11-22T07:18:12.000000000Z|2026-11-22T07:18:12.045000000Z\n"+
			"300|cursor|2026-11-22T07:18:12.011000000Z|2026-11-22T07:18:12.070000000Z\n"+
			"400|python3|2026-11-22T07:18:12.011000000Z|2026-11-22T07:18:12.070000000Z\n")
	check("SELECT id, started_at, ended_at, version, hostname, pid, counters, rows_dropped FROM captures",
		`1|2026-11-22T07:18:12.000000000Z|2026-11-22T07:18:12.000000000Z|test|host|1|{"messages":24}|0`+"\n")
	// The message text is verbatim.
	check("SELECT message = '"+string(echoA.Message)+"', size FROM messages WHERE id = 3", fmt.Sprintf("1|%d\n", len(echoA.Message)))
	check("PRAGMA foreign_key_check", "")
}

// TestNeverBlocks: with the database locked by another writer, WriteMessage and Flush still return at once; rows
// that do not fit in the queue are dropped and counted, and once the lock goes, the rows of the calls and
// sessions come out right anyway, because every batch carries their current state.
func TestNeverBlocks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nb.db")
	clk := &clock{now: t0}
	sink := newSink(t, path, store.Options{QueueBatches: 2}, Options{BatchRows: 10, Now: clk.Now})
	blocker, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Close()
	blocker.SetMaxOpenConns(1)
	if _, err := blocker.Exec("BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	a := conv{session: "stdio:100-200", client: claude, server: node}
	var slowest time.Duration
	for i := range 200 {
		id := fmt.Sprint(i + 1)
		req := a.call(i*10, id, "tools/call", "echo", `{}`)
		for _, m := range []*record.Message{req, a.result(i*10+5, i*10, req, `{"jsonrpc":"2.0","id":`+id+`,"result":{}}`)} {
			start := time.Now()
			if err := sink.WriteMessage(m); err != nil {
				t.Fatal(err)
			}
			if err := sink.Flush(); err != nil {
				t.Fatal(err)
			}
			slowest = max(slowest, time.Since(start))
		}
	}
	if slowest > 100*time.Millisecond {
		t.Errorf("a WriteMessage+Flush took %v while the database was locked", slowest)
	}
	if sink.Dropped() == 0 {
		t.Fatal("nothing dropped with the database locked and a queue of 2 batches")
	}
	// One more call after the lock goes: its batch carries the session's current row.
	if _, err := blocker.Exec("COMMIT"); err != nil {
		t.Fatal(err)
	}
	req := a.call(5000, "999", "tools/call", "last", `{}`)
	sink.WriteMessage(req)
	sink.WriteMessage(a.result(5001, 5000, req, `{"jsonrpc":"2.0","id":999,"result":{}}`))
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	dropped := sink.Store().Stats().RowsDropped
	if got := rows(t, path, "SELECT rows_dropped > 0, ended_at IS NOT NULL FROM captures"); got != "1|1\n" {
		t.Errorf("capture row: %s", got)
	}
	if got := rows(t, path, "SELECT messages, last_seen FROM sessions"); got != "402|2026-11-22T07:18:17.001000000Z\n" {
		t.Errorf("session row: %s", got)
	}
	if got := rows(t, path, "SELECT status, count(*) FROM tool_calls GROUP BY status"); got != "ok|"+rows(t, path, "SELECT count(*) FROM tool_calls") {
		t.Errorf("calls by status: %s (every call recorded was answered)", got)
	}
	if got := rows(t, path, "PRAGMA foreign_key_check"); got != "" {
		t.Errorf("foreign_key_check: %s", got)
	}
	t.Logf("%d rows dropped; slowest WriteMessage+Flush %v", dropped, slowest)
}

func TestForgetOldest(t *testing.T) {
	m := map[int]time.Time{}
	for i := range 10 {
		m[i] = t0.Add(time.Duration(i) * time.Second)
	}
	busy := func(v time.Time) (time.Time, bool) { return v, v.Sub(t0) != 0 } // entry 0 may not go
	forgetOldest(m, busy)
	var left []int
	for k := range m {
		left = append(left, k)
	}
	slices.Sort(left)
	if fmt.Sprint(left) != "[0 6 7 8 9]" {
		t.Errorf("left %v, want the busy one and the 4 newest", left)
	}
	forgetOldest(map[int]time.Time{}, busy) // nothing to forget
}

// TestBoundedMemory runs more sessions than the Sink remembers: old idle ones are forgotten, one with an open
// call is kept, and every row is still written.
func TestBoundedMemory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	sink := newSink(t, path, store.Options{QueueBatches: 4096, QueueBytes: 1 << 30, CloseTimeout: time.Minute}, Options{})
	first := conv{session: "stdio:1-2", client: record.Endpoint{Pid: 1, Comm: "c"}, server: record.Endpoint{Pid: 2, Comm: "s"}}
	sink.WriteMessage(first.call(0, "1", "tools/call", "long", `{}`))
	n := maxKnown + 100
	for i := range n {
		c := conv{session: fmt.Sprintf("stdio:%d-%d", 10+2*i, 11+2*i), client: record.Endpoint{Pid: 10 + 2*i, Comm: "c"}, server: record.Endpoint{Pid: 11 + 2*i, Comm: "s"}}
		sink.WriteMessage(c.msg(i+1, record.TypeNotification, true, "", "notifications/initialized", `{"jsonrpc":"2.0","method":"notifications/initialized"}`))
	}
	if len(sink.sessions) > maxKnown || len(sink.processes) > maxKnown {
		t.Errorf("%d sessions and %d processes remembered, bound %d", len(sink.sessions), len(sink.processes), maxKnown)
	}
	if sink.sessions["stdio:1-2"] == nil {
		t.Error("the session with an open call was forgotten")
	}
	req := first.call(n+10, "1", "tools/call", "long", `{}`)
	sink.WriteMessage(first.result(n+20, 0, req, `{"jsonrpc":"2.0","id":1,"result":{}}`))
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	if got := rows(t, path, "SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM messages), (SELECT status FROM tool_calls)"); got != fmt.Sprintf("%d|%d|ok\n", n+1, n+2) {
		t.Errorf("sessions|messages|status = %s", got)
	}
}

// TestHTTPToRows feeds a Streamable HTTP capture: a session whose first record is a bare exchange (the 200 of an
// initialize is a message, but here the client's GET comes first), a call from a local client over two
// connections of one process, exchanges without JSON-RPC, and a call from a client on another host.
func TestHTTPToRows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "http.db")
	sink := newSink(t, path, store.Options{}, Options{})
	const sess = "http:redacted:5e2c1a9b07d4"
	client1 := record.Endpoint{Pid: 100, Comm: "claude", Addr: "127.0.0.1:51234"}
	client2 := record.Endpoint{Pid: 100, Comm: "claude", Addr: "127.0.0.1:51236"} // the same process, another connection
	server := record.Endpoint{Pid: 200, Comm: "python3", Addr: "127.0.0.1:3001"}
	remote := record.Endpoint{Addr: "203.0.113.7:40000"}
	info := func(method string, status int) *record.HTTPInfo {
		return &record.HTTPInfo{Proto: "HTTP/1.1", Method: method, Path: "/mcp", Status: status, SessionID: "redacted:5e2c1a9b07d4"}
	}
	exchange := func(ms int, from record.Endpoint, event, method string, status int) *record.HTTP {
		return &record.HTTP{Kind: record.KindHTTP, Time: t0.Add(time.Duration(ms) * time.Millisecond), Transport: record.TransportHTTP,
			Session: sess, Event: event, From: from, To: server, HTTP: *info(method, status), LatencyMs: ptr(0.5),
			RequestHeaders: []record.HTTPHeader{{Name: "Authorization", Value: "[redacted]"}}}
	}
	a := conv{session: sess, client: client1, server: server, era: record.EraLegacy}
	req := a.call(10, "4", "tools/call", "echo", `{"message":"hi"}`)
	req.Transport, req.HTTP = record.TransportHTTP, info("POST", 0)
	resp := a.result(15, 10, req, `{"jsonrpc":"2.0","id":4,"result":{"content":[]}}`)
	resp.Transport, resp.HTTP = record.TransportHTTP, info("POST", 200)
	resp.HTTP.SSEEventID = "7"
	r := conv{session: "http:redacted:c41d09e2b6f5", client: remote, server: server, era: record.EraLegacy}
	rreq := r.call(30, "1", "tools/call", "echo", `{}`)
	rreq.Transport, rreq.HTTP = record.TransportHTTPS, info("POST", 0)
	rresp := r.result(31, 30, rreq, `{"jsonrpc":"2.0","id":1,"result":{"content":[]}}`)
	rresp.Transport, rresp.HTTP = record.TransportHTTPS, info("POST", 200)

	open := exchange(5, client2, "stream_open", "GET", 200)
	refused := exchange(20, client1, "exchange", "POST", 404)
	refused.ResponseBody = "Session not found"
	for _, rec := range []any{open, req, resp, refused, rreq, rresp, exchange(40, client1, "exchange", "DELETE", 200)} {
		var err error
		switch rec := rec.(type) {
		case *record.Message:
			err = sink.WriteMessage(rec)
		case *record.HTTP:
			err = sink.WriteHTTP(rec)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// The sink owns what it was given: the pipeline may reuse its records.
	resp.HTTP.Status, refused.RequestHeaders[0].Value, refused.ResponseBody = 999, "secret", "changed"
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sink.WriteHTTP(refused); !errors.Is(err, ErrClosed) {
		t.Errorf("WriteHTTP after Close: %v", err)
	}

	check := func(q, want string) {
		t.Helper()
		if got := rows(t, path, q); got != want {
			t.Errorf("%s\n got:\n%s\nwant:\n%s", q, got, want)
		}
	}
	// The first session began with an exchange; exchanges are not counted as messages.
	check("SELECT id, name, transport, client_pid, client_comm, client_addr, server_pid, server_addr, first_seen, last_seen, messages FROM sessions ORDER BY id",
		"1|"+sess+"|http|100|claude|127.0.0.1:51234|200|127.0.0.1:3001|2026-11-22T07:18:12.005000000Z|2026-11-22T07:18:12.040000000Z|2\n"+
			"2|http:redacted:c41d09e2b6f5|https|NULL|NULL|203.0.113.7:40000|200|127.0.0.1:3001|2026-11-22T07:18:12.030000000Z|2026-11-22T07:18:12.031000000Z|2\n")
	// One row per process, whatever its sockets; none for the remote client.
	check("SELECT pid, comm, first_seen, last_seen FROM processes ORDER BY id",
		"100|claude|2026-11-22T07:18:12.005000000Z|2026-11-22T07:18:12.040000000Z\n"+
			"200|python3|2026-11-22T07:18:12.005000000Z|2026-11-22T07:18:12.040000000Z\n")
	check("SELECT id, session_id, client_pid, client_addr, server_pid, server_addr, status, duration_ms FROM tool_calls ORDER BY id",
		"1|1|100|127.0.0.1:51234|200|127.0.0.1:3001|ok|5\n2|2|0|203.0.113.7:40000|200|127.0.0.1:3001|ok|1\n")
	check("SELECT id, call_id, transport, from_addr, to_addr, http_method, http_status, http_sse_event_id, http_session_id FROM messages ORDER BY id",
		"1|1|http|127.0.0.1:51234|127.0.0.1:3001|POST|NULL|NULL|redacted:5e2c1a9b07d4\n"+
			"2|1|http|127.0.0.1:3001|127.0.0.1:51234|POST|200|7|redacted:5e2c1a9b07d4\n"+
			"3|2|https|203.0.113.7:40000|127.0.0.1:3001|POST|NULL|NULL|redacted:5e2c1a9b07d4\n"+
			"4|2|https|127.0.0.1:3001|203.0.113.7:40000|POST|200|NULL|redacted:5e2c1a9b07d4\n")
	check("SELECT id, session_id, ts, event, client_pid, client_addr, method, status, latency_ms, request_headers, response_body FROM http_exchanges ORDER BY id",
		`1|1|2026-11-22T07:18:12.005000000Z|stream_open|100|127.0.0.1:51236|GET|200|0.5|[{"name":"Authorization","value":"[redacted]"}]|NULL`+"\n"+
			`2|1|2026-11-22T07:18:12.020000000Z|exchange|100|127.0.0.1:51234|POST|404|0.5|[{"name":"Authorization","value":"[redacted]"}]|Session not found`+"\n"+
			`3|1|2026-11-22T07:18:12.040000000Z|exchange|100|127.0.0.1:51234|DELETE|200|0.5|[{"name":"Authorization","value":"[redacted]"}]|NULL`+"\n")
	check("SELECT source, row_id, status, detail FROM http_errors", "http_exchanges|2|404|Session not found\n")
	check("PRAGMA foreign_key_check", "")
}

// TestHTTPBatching: exchanges fill batches like messages, and Flush hands over a batch holding only exchanges.
func TestHTTPBatching(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hb.db")
	clk := &clock{now: t0}
	sink := newSink(t, path, store.Options{}, Options{BatchRows: 4, Now: clk.Now})
	for i := range 10 {
		h := &record.HTTP{Kind: record.KindHTTP, Time: t0.Add(time.Duration(i) * time.Millisecond), Transport: record.TransportHTTP,
			Session: "http:conn:127.0.0.1:5000-127.0.0.1:3001", Event: "exchange", From: claude, To: node, HTTP: record.HTTPInfo{Method: "POST", Status: 202}}
		if err := sink.WriteHTTP(h); err != nil {
			t.Fatal(err)
		}
	}
	// The store may commit queued batches together: wait for the rows, not for a number of commits.
	waitRows := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for rows(t, path, "SELECT count(*) FROM http_exchanges") != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s exchanges written, want %s", rows(t, path, "SELECT count(*) FROM http_exchanges"), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitRows("8\n") // two full batches of 4; the last 2 wait for Flush (the clock stands still: no batch ages)
	time.Sleep(20 * time.Millisecond)
	if got := rows(t, path, "SELECT count(*) FROM http_exchanges"); got != "8\n" {
		t.Errorf("before Flush: %s exchanges written, want 8", got)
	}
	if err := sink.Flush(); err != nil {
		t.Fatal(err)
	}
	waitRows("10\n")
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	if got := rows(t, path, "SELECT name, messages, client_comm, server_comm FROM sessions"); got != "http:conn:127.0.0.1:5000-127.0.0.1:3001|0|claude|node\n" {
		t.Errorf("session: %s", got)
	}
}
