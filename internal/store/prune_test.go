package store

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpscope/mcpscope/internal/record"
)

// floodBatch is batch i of a flood: a session of its own, n messages of about 1 KiB (requests and responses of
// n/2 calls), timed after every earlier batch.
func floodBatch(st *Store, capID int64, i, n int) *Batch {
	client := record.Endpoint{Pid: 1000 + i, Comm: "client"}
	server := record.Endpoint{Pid: 2000 + i, Comm: "server"}
	at := t0.Add(time.Duration(i) * time.Second)
	sess := Session{ID: st.NextID(IDSession), CaptureID: capID, Name: fmt.Sprintf("stdio:%d-%d", client.Pid, server.Pid), Transport: "stdio",
		Client: client, Server: server, FirstSeen: at, LastSeen: at.Add(time.Duration(n) * time.Millisecond), Messages: int64(n)}
	b := &Batch{Captures: []Capture{{ID: capID, StartedAt: t0, Version: "test", Hostname: "h", Pid: 1}}, Sessions: []Session{sess}}
	pad := strings.Repeat("x", 900)
	for j := 0; j < n; j += 2 {
		callID := st.NextID(IDCall)
		reqAt, respAt := at.Add(time.Duration(j)*time.Millisecond), at.Add(time.Duration(j+1)*time.Millisecond)
		req := fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"message":"%s"}}}`, j, pad)
		resp := fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%d,"result":{"content":[{"type":"text","text":"%s"}]}}`, j, pad)
		reqID, respID := st.NextID(IDMessage), st.NextID(IDMessage)
		b.Calls = append(b.Calls, Call{ID: callID, SessionID: sess.ID, Method: "tools/call", Tool: "echo", RPCID: fmt.Sprint(j), Client: client,
			Server: server, StartedAt: reqAt, EndedAt: respAt, DurationMs: ptr(1.0), Status: StatusOK, RequestMessageID: reqID, ResponseMessageID: respID})
		id := json.RawMessage(fmt.Sprint(j))
		b.Messages = append(b.Messages,
			Message{ID: reqID, SessionID: sess.ID, CallID: callID, Record: record.Message{Time: reqAt, Transport: "stdio", Type: "request", ID: id,
				Method: "tools/call", Tool: "echo", From: client, To: server, Size: len(req), Message: req}},
			Message{ID: respID, SessionID: sess.ID, CallID: callID, Record: record.Message{Time: respAt, Transport: "stdio", Type: "response", ID: id,
				Method: "tools/call", Tool: "echo", From: server, To: client, Size: len(resp), Message: resp}})
		b.Footprints = append(b.Footprints, Footprint{CallID: callID, Syscalls: []Syscall{{Pid: server.Pid, Name: "read", Count: 3, TotalNs: 100}}})
	}
	return b
}

// TestPruneUnderCap writes about 10 MiB into a database capped at 2 MiB: the oldest sessions, calls and
// messages go first, the newest stay, the file stays near the cap, and no row is left pointing to a deleted one.
func TestPruneUnderCap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cap.db")
	const capBytes = 2 << 20
	st := openStore(t, path, Options{MaxBytes: capBytes, CheckEvery: time.Nanosecond, QueueBatches: 1024, QueueBytes: 1 << 30})
	capID := st.NextID(IDCapture)
	const batches, perBatch = 200, 50
	for i := range batches {
		if !st.Submit(floodBatch(st, capID, i, perBatch)) {
			t.Fatalf("batch %d dropped", i)
		}
		if i%20 == 19 { // let the writer keep up, as a real capture's pace would
			waitFor(t, func() bool { return st.Stats().RowsWritten+st.Stats().RowsDropped >= uint64((i+1)*(perBatch*2+2)) })
		}
	}
	closeStore(t, st)
	s := st.Stats()
	if s.RowsDropped != 0 || s.Prunes == 0 || s.RowsPruned == 0 {
		t.Fatalf("stats %+v: want pruning and nothing dropped", s)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// The check runs after a commit, so the file may exceed the cap by about one batch (~100 KiB here).
	if fi.Size() > capBytes+capBytes/5 {
		t.Errorf("database is %d bytes, cap %d", fi.Size(), capBytes)
	}
	db := openRO(t, path)
	last := int64(batches * perBatch)
	for q, want := range map[string]string{
		"PRAGMA integrity_check":   "ok\n",
		"PRAGMA foreign_key_check": "",
		// The newest batch is whole; the first is gone.
		fmt.Sprintf("SELECT count(*) FROM messages WHERE id > %d", last-perBatch): fmt.Sprintf("%d\n", perBatch),
		"SELECT count(*) FROM messages WHERE id <= 50":                            "0\n",
		"SELECT count(*) FROM sessions WHERE id = 1":                              "0\n",
		"SELECT count(*) FROM tool_calls WHERE id <= 25":                          "0\n",
		// Footprints went with their calls; the capture in progress stays.
		"SELECT count(*) FROM syscalls WHERE call_id NOT IN (SELECT id FROM tool_calls)": "0\n",
		"SELECT count(*) FROM captures": "1\n",
		// What remains is a contiguous, most recent time range: whole sessions, but for the oldest, which the cut
		// may cross.
		"SELECT count(*) FROM (SELECT session_id FROM messages GROUP BY session_id HAVING count(*) != 50 AND session_id != (SELECT min(session_id) FROM messages))": "0\n",
		"SELECT max(id) - min(id) + 1 = count(*) FROM messages": "1\n",
	} {
		if got := query(t, db, q); got != want {
			t.Errorf("%s\n got %q\nwant %q", q, got, want)
		}
	}
	t.Logf("%d bytes, stats %+v, %s messages left", fi.Size(), s, strings.TrimSpace(query(t, db, "SELECT count(*) FROM messages")))
}
