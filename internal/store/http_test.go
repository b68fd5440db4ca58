package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpscope/mcpscope/internal/record"
)

const httpSession = "http:redacted:5e2c1a9b07d4"

var (
	remoteClient = record.Endpoint{Addr: "203.0.113.7:40000"} // on another host: no process
	httpServer   = record.Endpoint{Pid: 5200, Comm: "python3", Addr: "10.0.0.5:3001"}
)

// httpBatch is an HTTP session of a remote client with a local server: a tools/call POSTed and answered in an
// SSE event, and four exchanges without JSON-RPC (202 Accepted, a 404 with its body and headers, an SSE stream
// opened, a request never answered).
func httpBatch(st *Store) *Batch {
	capID, sessID, callID := st.NextID(IDCapture), st.NextID(IDSession), st.NextID(IDCall)
	reqID, respID := st.NextID(IDMessage), st.NextID(IDMessage)
	req := []byte(`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}`)
	resp := []byte(`{"jsonrpc":"2.0","id":4,"result":{"content":[{"type":"text","text":"Echo: hi"}]}}`)
	post := func(status int, ct string) *record.HTTPInfo {
		return &record.HTTPInfo{Proto: "HTTP/1.1", Method: "POST", Path: "/mcp", Host: "10.0.0.5:3001", Status: status, ContentType: ct,
			SessionID: "redacted:5e2c1a9b07d4", ProtocolVersion: "2025-11-25"}
	}
	exchange := func(d time.Duration, event, method string, status int, latency *float64) HTTPExchange {
		return HTTPExchange{ID: st.NextID(IDHTTPExchange), SessionID: sessID, Record: record.HTTP{Kind: record.KindHTTP, Time: t0.Add(d),
			Transport: record.TransportHTTP, Session: httpSession, Event: event, From: remoteClient, To: httpServer,
			HTTP: record.HTTPInfo{Proto: "HTTP/1.1", Method: method, Path: "/mcp", Host: "10.0.0.5:3001", Status: status,
				SessionID: "redacted:5e2c1a9b07d4"}, LatencyMs: latency}}
	}
	accepted := exchange(10*time.Millisecond, "exchange", "POST", 202, ptr(0.41))
	accepted.Record.RequestSize = 54
	notFound := exchange(20*time.Millisecond, "exchange", "POST", 404, ptr(1.2))
	notFound.Record.HTTP.ContentType = "text/plain"
	notFound.Record.RequestSize, notFound.Record.ResponseSize = 40, 18
	notFound.Record.RequestHeaders = []record.HTTPHeader{{Name: "Host", Value: "10.0.0.5:3001"}, {Name: "Authorization", Value: "[redacted]"},
		{Name: "User-Agent", Value: "node <&> 22"}}
	notFound.Record.ResponseHeaders = []record.HTTPHeader{{Name: "Content-Type", Value: "text/plain"}}
	notFound.Record.ResponseBody = "Session not found\n"
	stream := exchange(30*time.Millisecond, "stream_open", "GET", 200, ptr(0.8))
	stream.Record.HTTP.ContentType = "text/event-stream"
	stream.Record.BeganBeforeCapture = true
	unanswered := exchange(40*time.Millisecond, "unanswered", "POST", 0, nil)
	unanswered.Record.Truncated, unanswered.Record.LostBytes = true, 7

	respHTTP := post(200, "text/event-stream")
	respHTTP.SSEEventID = "1"
	return &Batch{
		Captures:  []Capture{{ID: capID, StartedAt: t0, Version: "test", Hostname: "host", Pid: 1}},
		Processes: []Process{{ID: st.NextID(IDProcess), CaptureID: capID, Pid: 5200, Comm: "python3", FirstSeen: t0, LastSeen: t0.Add(time.Second)}},
		Sessions: []Session{{ID: sessID, CaptureID: capID, Name: httpSession, Transport: "http", Client: remoteClient, Server: httpServer,
			Era: "legacy", ProtocolVersion: "2025-11-25", FirstSeen: t0, LastSeen: t0.Add(40 * time.Millisecond), Messages: 2}},
		Calls: []Call{{ID: callID, SessionID: sessID, Method: "tools/call", Tool: "echo", RPCID: "4", Client: remoteClient, Server: httpServer,
			Arguments: []byte(`{"message":"hi"}`), StartedAt: t0, EndedAt: t0.Add(4500 * time.Microsecond), DurationMs: ptr(4.5),
			Status: StatusOK, RequestMessageID: reqID, ResponseMessageID: respID}},
		Messages: []Message{
			{ID: reqID, SessionID: sessID, CallID: callID, Record: record.Message{Kind: "message", Time: t0, Transport: "http", Session: httpSession,
				Direction: record.ClientToServer, Type: record.TypeRequest, ID: json.RawMessage("4"), Method: "tools/call", Tool: "echo",
				From: remoteClient, To: httpServer, Size: len(req), HTTP: post(0, "application/json"), Message: req}},
			{ID: respID, SessionID: sessID, CallID: callID, Record: record.Message{Kind: "message", Time: t0.Add(4500 * time.Microsecond), Transport: "http",
				Session: httpSession, Direction: record.ServerToClient, Type: record.TypeResponse, ID: json.RawMessage("4"), Method: "tools/call",
				Tool: "echo", From: httpServer, To: remoteClient, Size: len(resp), LatencyMs: ptr(4.5), HTTP: respHTTP, Message: resp}},
		},
		Exchanges: []HTTPExchange{accepted, notFound, stream, unanswered},
	}
}

// TestWriteHTTP writes an HTTP session and reads it back: the HTTP context of messages, the exchanges without
// JSON-RPC, the addresses of a remote peer, the http_errors view, and Call.
func TestWriteHTTP(t *testing.T) {
	path := filepath.Join(t.TempDir(), "http.db")
	st := openStore(t, path, Options{})
	b := httpBatch(st)
	rows := b.Rows()
	if !st.Submit(b) {
		t.Fatal("Submit refused the batch")
	}
	closeStore(t, st)
	if s := st.Stats(); s.RowsWritten != uint64(rows) || s.RowsWritten != 10 {
		t.Errorf("stats %+v, want the batch's 10 rows written", s)
	}
	db := openRO(t, path)
	for _, tc := range []struct{ q, want string }{
		{"SELECT name, transport, client_pid, client_comm, client_addr, server_pid, server_comm, server_addr, messages FROM sessions",
			httpSession + "|http|NULL|NULL|203.0.113.7:40000|5200|python3|10.0.0.5:3001|2\n"},
		{"SELECT client_pid, client_comm, client_addr, server_pid, server_addr, status FROM tool_calls",
			"0||203.0.113.7:40000|5200|10.0.0.5:3001|ok\n"},
		{`SELECT id, transport, from_pid, from_addr, to_pid, to_addr, http_proto, http_method, http_path, http_host, http_status, http_content_type,
  http_session_id, http_protocol_version, http_mcp_method, http_mcp_name, http_sse_event_id, http_stream_id FROM messages ORDER BY id`,
			"1|http|0|203.0.113.7:40000|5200|10.0.0.5:3001|HTTP/1.1|POST|/mcp|10.0.0.5:3001|NULL|application/json|redacted:5e2c1a9b07d4|2025-11-25|NULL|NULL|NULL|NULL\n" +
				"2|http|5200|10.0.0.5:3001|0|203.0.113.7:40000|HTTP/1.1|POST|/mcp|10.0.0.5:3001|200|text/event-stream|redacted:5e2c1a9b07d4|2025-11-25|NULL|NULL|1|NULL\n"},
		{`SELECT e.id, s.name, e.ts, e.transport, e.event, e.client_pid, e.client_comm, e.client_addr, e.server_pid, e.server_comm, e.server_addr,
  e.proto, e.method, e.path, e.host, e.status, e.content_type, e.http_session_id, e.latency_ms, e.request_size, e.response_size,
  e.request_headers, e.response_headers, e.response_body, e.truncated, e.lost_bytes, e.began_before_capture
FROM http_exchanges e JOIN sessions s ON s.id = e.session_id ORDER BY e.id`, strings.Join([]string{
			"1|" + httpSession + "|2026-11-22T07:18:12.133456789Z|http|exchange|0||203.0.113.7:40000|5200|python3|10.0.0.5:3001|HTTP/1.1|POST|/mcp|10.0.0.5:3001|202|NULL|redacted:5e2c1a9b07d4|0.41|54|0|NULL|NULL|NULL|0|0|0",
			"2|" + httpSession + `|2026-11-22T07:18:12.143456789Z|http|exchange|0||203.0.113.7:40000|5200|python3|10.0.0.5:3001|HTTP/1.1|POST|/mcp|10.0.0.5:3001|404|text/plain|redacted:5e2c1a9b07d4|1.2|40|18|[{"name":"Host","value":"10.0.0.5:3001"},{"name":"Authorization","value":"[redacted]"},{"name":"User-Agent","value":"node <&> 22"}]|[{"name":"Content-Type","value":"text/plain"}]|Session not found` + "\n|0|0|0",
			"3|" + httpSession + "|2026-11-22T07:18:12.153456789Z|http|stream_open|0||203.0.113.7:40000|5200|python3|10.0.0.5:3001|HTTP/1.1|GET|/mcp|10.0.0.5:3001|200|text/event-stream|redacted:5e2c1a9b07d4|0.8|0|0|NULL|NULL|NULL|0|0|1",
			"4|" + httpSession + "|2026-11-22T07:18:12.163456789Z|http|unanswered|0||203.0.113.7:40000|5200|python3|10.0.0.5:3001|HTTP/1.1|POST|/mcp|10.0.0.5:3001|NULL|NULL|redacted:5e2c1a9b07d4|NULL|0|0|NULL|NULL|NULL|1|7|0",
		}, "\n") + "\n"},
		// The headers are JSON, as in JSONL.
		{"SELECT h.value ->> 'value' FROM http_exchanges, json_each(request_headers) h WHERE h.value ->> 'name' = 'User-Agent'", "node <&> 22\n"},
		{"SELECT source, row_id, session, method, path, status, detail FROM http_errors", "http_exchanges|2|" + httpSession + "|POST|/mcp|404|Session not found\n\n"},
		{"SELECT call_id, server_pid, server_addr FROM call_footprints", "1|5200|10.0.0.5:3001\n"},
		{"PRAGMA foreign_key_check", ""},
	} {
		if got := query(t, db, tc.q); got != tc.want {
			t.Errorf("%s\n got %q\nwant %q", tc.q, got, tc.want)
		}
	}
	c, err := db.Call(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if c.ClientAddr != "203.0.113.7:40000" || c.Summary.ServerAddr != "10.0.0.5:3001" || c.Request == nil || c.Response == nil {
		t.Fatalf("Call(1) = %+v", c)
	}
	wantReq := MessageHTTP{Method: "POST", Path: "/mcp", ContentType: "application/json", SessionID: "redacted:5e2c1a9b07d4", FromAddr: "203.0.113.7:40000", ToAddr: "10.0.0.5:3001"}
	wantResp := MessageHTTP{Method: "POST", Path: "/mcp", Status: 200, ContentType: "text/event-stream", SessionID: "redacted:5e2c1a9b07d4", FromAddr: "10.0.0.5:3001", ToAddr: "203.0.113.7:40000"}
	if c.Request.HTTP != wantReq || c.Response.HTTP != wantResp || c.Request.Transport != "http" {
		t.Errorf("request %+v\nresponse %+v", c.Request, c.Response)
	}
	calls, err := db.RecentCalls(context.Background(), 5)
	if err != nil || len(calls) != 1 || calls[0].ServerAddr != "10.0.0.5:3001" {
		t.Errorf("RecentCalls = %+v, %v", calls, err)
	}
}

// TestManyExchanges writes more exchanges than one INSERT takes, in one batch.
func TestManyExchanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "many.db")
	st := openStore(t, path, Options{})
	b := httpBatch(st)
	for i := range 2*messagesPerInsert + 3 {
		e := b.Exchanges[0]
		e.ID = st.NextID(IDHTTPExchange)
		e.Record.Time = t0.Add(time.Duration(i) * time.Second)
		b.Exchanges = append(b.Exchanges, e)
	}
	n := len(b.Exchanges)
	st.Submit(b)
	closeStore(t, st)
	if got, want := query(t, openRO(t, path), "SELECT count(*), count(DISTINCT id) FROM http_exchanges"), fmt.Sprintf("%d|%[1]d\n", n); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// createV1 makes a database as mcpscope with schema version 1 left it: its DDL (testdata/schema_v1.sql, what
// version 1 of ddl() produced), its file settings, and a stdio session with a call.
func createV1(t *testing.T, path string) {
	t.Helper()
	ddl, err := os.ReadFile("testdata/schema_v1.sql")
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stmts := []string{"PRAGMA auto_vacuum = INCREMENTAL", "PRAGMA journal_mode = WAL"}
	for _, stmt := range strings.Split(string(ddl), ";\n") {
		if strings.TrimSpace(stmt) != "" {
			stmts = append(stmts, stmt)
		}
	}
	stmts = append(stmts,
		`INSERT INTO captures(id, started_at, version, hostname, pid) VALUES(1, '2026-11-22T07:18:12.123456789Z', 'v1', 'host', 1)`,
		`INSERT INTO processes VALUES(1, 1, 4242, 'claude', '2026-11-22T07:18:12.123456789Z', '2026-11-22T07:18:13.123456789Z')`,
		`INSERT INTO sessions VALUES(1, 1, 'stdio:4242-4250', 'stdio', 4242, 'claude', 4250, 'node', 'legacy', '2025-11-25',
		   '2026-11-22T07:18:12.123456789Z', '2026-11-22T07:18:13.123456789Z', 2)`,
		`INSERT INTO tool_calls(id, session_id, method, tool, rpc_id, client_pid, client_comm, server_pid, server_comm, started_at, ended_at,
		   duration_ms, status, request_message_id, response_message_id)
		 VALUES(1, 1, 'tools/call', 'echo', '3', 4242, 'claude', 4250, 'node', '2026-11-22T07:18:12.123456789Z', '2026-11-22T07:18:12.125456789Z', 2.0, 'ok', 1, 2)`,
		`INSERT INTO messages(id, session_id, call_id, ts, transport, type, rpc_id, method, tool, from_pid, from_comm, to_pid, to_comm, size, message)
		 VALUES(1, 1, 1, '2026-11-22T07:18:12.123456789Z', 'stdio', 'request', '3', 'tools/call', 'echo', 4242, 'claude', 4250, 'node', 2, '{}'),
		       (2, 1, 1, '2026-11-22T07:18:12.125456789Z', 'stdio', 'response', '3', 'tools/call', 'echo', 4250, 'node', 4242, 'claude', 2, '{}')`,
		"PRAGMA user_version = 1",
	)
	for _, stmt := range stmts {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%v\n%s", err, stmt)
		}
	}
}

// structure describes the tables, columns (with types, constraints and defaults), indexes, foreign keys and views
// of a database, in a form that two databases with the same schema share whatever the history of their DDL text.
func structure(t *testing.T, path string) string {
	t.Helper()
	db := openRO(t, path)
	defer db.Close()
	var b strings.Builder
	for _, obj := range mustRows(t, db, "SELECT type, name FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name") {
		typ, name := obj[0].(string), obj[1].(string)
		fmt.Fprintf(&b, "%s %s\n", typ, name)
		switch typ {
		case "table", "view":
			b.WriteString(query(t, db, fmt.Sprintf("SELECT cid, name, type, \"notnull\", dflt_value, pk FROM pragma_table_info('%s')", name)))
			b.WriteString(query(t, db, fmt.Sprintf("SELECT \"table\", \"from\", \"to\", on_update, on_delete FROM pragma_foreign_key_list('%s')", name)))
		case "index":
			b.WriteString(query(t, db, fmt.Sprintf("SELECT seqno, name FROM pragma_index_info('%s')", name)))
		}
	}
	return b.String()
}

// TestMigrateV1 upgrades a version-1 database: it must end up with exactly the structure of a new one, keep its
// rows (with NULL in the new columns), take HTTP rows, and read as before; and a reader must read a version-1
// database it cannot upgrade.
func TestMigrateV1(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "v1.db")
	createV1(t, old)

	// Read as it is: calls and show work on a version-1 database, without the HTTP columns.
	db := openRO(t, old)
	if db.Version() != 1 {
		t.Fatalf("version %d", db.Version())
	}
	calls, err := db.RecentCalls(context.Background(), 5)
	if err != nil || len(calls) != 1 || calls[0].ServerComm != "node" || calls[0].ServerAddr != "" {
		t.Fatalf("RecentCalls on version 1: %+v, %v", calls, err)
	}
	c, err := db.Call(context.Background(), 1)
	if err != nil || c.Request == nil || c.Response == nil || c.Request.HTTP != (MessageHTTP{}) || c.ClientComm != "claude" {
		t.Fatalf("Call on version 1: %+v, %v", c, err)
	}
	db.Close()

	st := openStore(t, old, Options{})
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	st.Submit(httpBatch(st)) // ids continue after the old rows
	closeStore(t, st)

	checkMatchesSchema(t, old)
	fresh := filepath.Join(dir, "new.db")
	closeStore(t, openStore(t, fresh, Options{}))
	if got, want := structure(t, old), structure(t, fresh); got != want {
		t.Errorf("an upgraded database differs from a new one:\nupgraded:\n%s\nnew:\n%s", got, want)
	}

	db = openRO(t, old)
	for _, tc := range []struct{ q, want string }{
		{"PRAGMA user_version", fmt.Sprintf("%d\n", SchemaVersion)},
		{"SELECT id, name, transport, client_pid, client_addr, server_addr, messages FROM sessions ORDER BY id",
			"1|stdio:4242-4250|stdio|4242|NULL|NULL|2\n2|" + httpSession + "|http|NULL|203.0.113.7:40000|10.0.0.5:3001|2\n"},
		{"SELECT id, session_id, transport, from_addr, http_method, http_status FROM messages ORDER BY id",
			"1|1|stdio|NULL|NULL|NULL\n2|1|stdio|NULL|NULL|NULL\n3|2|http|203.0.113.7:40000|POST|NULL\n4|2|http|10.0.0.5:3001|POST|200\n"},
		{"SELECT id, server_addr, status FROM tool_calls ORDER BY id", "1|NULL|ok\n2|10.0.0.5:3001|ok\n"},
		{"SELECT call_id, session, server_addr FROM call_footprints ORDER BY call_id", "1|stdio:4242-4250|NULL\n2|" + httpSession + "|10.0.0.5:3001\n"},
		{"SELECT count(*) FROM http_exchanges", "4\n"},
		{"SELECT count(*) FROM schema_columns WHERE table_name = 'http_exchanges'", fmt.Sprintf("%d\n", len(mustTable("http_exchanges").Columns))},
		{"PRAGMA integrity_check", "ok\n"},
		{"PRAGMA foreign_key_check", ""},
	} {
		if got := query(t, db, tc.q); got != tc.want {
			t.Errorf("%s\n got %q\nwant %q", tc.q, got, tc.want)
		}
	}
	// Opening the upgraded database again changes nothing.
	before := structure(t, old)
	closeStore(t, openStore(t, old, Options{}))
	if after := structure(t, old); after != before {
		t.Error("reopening an upgraded database changed it")
	}
}

// TestPruneHTTPExchanges: exchanges go with their session, and by time like messages; with nothing else in the
// database, their times give the cut.
func TestPruneHTTPExchanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "prune.db")
	st := openStore(t, path, Options{})
	b := httpBatch(st)
	b.Calls, b.Messages = nil, nil
	b.Exchanges[0].SessionID = 0 // one without a session: only its time sends it
	b.Exchanges[3].Record.Time = t0.Add(time.Hour)
	st.Submit(b)
	waitFor(t, func() bool { return st.Stats().Commits == 1 })
	ctx := context.Background()
	cut, ok, err := st.cutoff(ctx)
	if err != nil || !ok || cut != ts(t0.Add(10*time.Millisecond)) {
		t.Errorf("cutoff = %q, %v, %v; want the first exchange's time", cut, ok, err)
	}
	if _, err := st.deleteBefore(ctx, ts(t0.Add(25*time.Millisecond))); err != nil {
		t.Fatal(err)
	}
	closeStore(t, st)
	// The session (last seen at 40 ms) stays; the exchanges at 10 and 20 ms go, those at 30 ms and an hour stay.
	if got := query(t, openRO(t, path), "SELECT id FROM http_exchanges ORDER BY id"); got != "3\n4\n" {
		t.Errorf("exchanges left: %q", got)
	}
}
