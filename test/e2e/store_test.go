package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpscope/mcpscope/internal/record"
)

// mcpscopeQuery runs `mcpscope query --db DB --format json SQL` and decodes its rows.
func mcpscopeQuery(t *testing.T, db, sql string) []map[string]any {
	t.Helper()
	out, err := exec.Command(testEnv.mcpscope, "query", "--db", db, "--format", "json", sql).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("mcpscope query %q: %v\n%s", sql, err, stderr)
	}
	var rows []map[string]any
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	if err := dec.Decode(&rows); err != nil {
		t.Fatalf("mcpscope query %q: not JSON: %v\n%s", sql, err, out)
	}
	return rows
}

// text renders query rows one per line, values joined by "|" (null as NULL), for exact comparison.
func text(rows []map[string]any, cols ...string) string {
	var b strings.Builder
	for _, r := range rows {
		for i, c := range cols {
			if i > 0 {
				b.WriteString("|")
			}
			if r[c] == nil {
				b.WriteString("NULL")
			} else {
				fmt.Fprint(&b, r[c])
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestStoreRecordsSession records a 2026-07-28 go-sdk session (the one TestModernEraGoSDK checks in JSONL) into
// a database with the real binary, then reads it back with `mcpscope query`, `calls` and `show`: every JSONL
// record is a messages row with the same fields and the same bytes, and the calls are exactly the three
// tools/call of the session, the cancelled one included.
func TestStoreRecordsSession(t *testing.T) {
	requireBPF(t)
	db := filepath.Join(t.TempDir(), "mcpscope.db")
	res := watch(t, 60*time.Second, []string{"--db", db}, testEnv.gopeer, "client-modern", "--", testEnv.gopeer, "server-modern")
	if res.exitCode != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", res.exitCode, res.stderr)
	}
	if !strings.Contains(res.stderr, "recording into "+db) {
		t.Errorf("stderr does not say where it records:\n%s", res.stderr)
	}
	if len(res.records) != 15 {
		t.Fatalf("%d JSONL records, want the 15 of the session:\n%s", len(res.records), summary(res.records))
	}
	c := res.finalCounters(t)
	if c["db_messages_dropped"] != 0 || c["db_rows_written"] == 0 {
		t.Errorf("database counters in the final stats: %v", c)
	}

	// Every message, as the JSONL writer saw it.
	rows := mcpscopeQuery(t, db, `SELECT m.ts, s.name AS session, m.direction, m.type, m.rpc_id, m.method, m.tool, m.from_pid, m.from_comm,
  m.to_pid, m.to_comm, m.size, m.latency_ms, m.is_error, m.era, m.protocol_version, m.result_type, m.related_id, m.late, m.truncated, m.message
FROM messages m JOIN sessions s ON s.id = m.session_id ORDER BY m.id`)
	if len(rows) != len(res.records) {
		t.Fatalf("%d messages rows, %d JSONL records", len(rows), len(res.records))
	}
	for i, r := range res.records {
		want := map[string]any{
			"ts": r.Time.UTC().Format("2006-01-02T15:04:05.000000000Z07:00"), "session": r.Session, "direction": r.Direction, "type": r.Type,
			"rpc_id": nullable(string(r.ID)), "method": r.Method, "tool": nullable(r.Tool), "from_pid": json.Number(fmt.Sprint(r.From.Pid)),
			"from_comm": r.From.Comm, "to_pid": json.Number(fmt.Sprint(r.To.Pid)), "to_comm": r.To.Comm, "size": json.Number(fmt.Sprint(r.Size)),
			"era": r.Era, "protocol_version": nullable(r.ProtocolVersion), "result_type": nullable(r.ResultType),
			"related_id": nullable(string(r.RelatedID)), "late": json.Number(boolInt(r.Late)), "truncated": json.Number("0"),
			"message": string(r.Message),
		}
		if r.IsError != nil {
			want["is_error"] = json.Number(boolInt(*r.IsError))
		}
		for k, v := range want {
			if fmt.Sprint(rows[i][k]) != fmt.Sprint(v) {
				t.Errorf("message %d (%s %s): %s = %v, JSONL says %v", i+1, r.Type, r.Method, k, rows[i][k], v)
			}
		}
		if got := rows[i]["latency_ms"]; (got == nil) != (r.LatencyMs == nil) {
			t.Errorf("message %d: latency_ms %v, JSONL %v", i+1, got, latency(&res.records[i]))
		}
	}

	// The calls: add, the slow call with progress, and the slow call cancelled and answered late.
	calls := mcpscopeQuery(t, db, `SELECT c.id, c.method, c.tool, c.rpc_id, c.status, c.cancelled, c.client_comm, c.server_comm, c.arguments,
  c.duration_ms IS NOT NULL AS answered, (SELECT count(*) FROM messages WHERE call_id = c.id AND method = 'notifications/progress') AS progress,
  (SELECT type FROM messages WHERE id = c.request_message_id) AS request, (SELECT late FROM messages WHERE id = c.response_message_id) AS late
FROM tool_calls c ORDER BY c.id`)
	args := map[string]string{}
	for _, r := range res.records {
		if r.Type == record.TypeRequest && r.Method == "tools/call" {
			var p struct {
				Params struct{ Arguments json.RawMessage } `json:"params"`
			}
			if err := json.Unmarshal(r.Message, &p); err != nil {
				t.Fatal(err)
			}
			args[string(r.ID)] = string(p.Params.Arguments)
		}
	}
	want := strings.Join([]string{
		"1|tools/call|add|3|ok|0|gopeer|gopeer|" + args["3"] + "|1|0|request|0",
		"2|tools/call|slow|4|ok|0|gopeer|gopeer|" + args["4"] + "|1|4|request|0",
		"3|tools/call|slow|5|tool_error|1|gopeer|gopeer|" + args["5"] + "|1|0|request|1",
	}, "\n") + "\n"
	if got := text(calls, "id", "method", "tool", "rpc_id", "status", "cancelled", "client_comm", "server_comm", "arguments", "answered", "progress", "request", "late"); got != want {
		t.Errorf("tool_calls:\n%s\nwant:\n%s", got, want)
	}
	if got := text(mcpscopeQuery(t, db, "SELECT count(*) AS n, min(ended_at IS NOT NULL) AS ended, max(rows_dropped) AS dropped FROM captures"), "n", "ended", "dropped"); got != "1|1|0\n" {
		t.Errorf("captures: %s", got)
	}
	if got := text(mcpscopeQuery(t, db, "SELECT count(*) AS n, sum(messages) AS m, min(client_comm) AS c, min(server_comm) AS s, min(era) AS era FROM sessions"), "n", "m", "c", "s", "era"); got != "1|15|gopeer|gopeer|modern\n" {
		t.Errorf("sessions: %s", got)
	}
	if got := text(mcpscopeQuery(t, db, "PRAGMA integrity_check"), "integrity_check"); got != "ok\n" {
		t.Errorf("integrity_check: %s", got)
	}

	// The people's views of it.
	// Every call has its footprint (the server's CPU and syscalls while it ran; TestFootprintGoServer checks one in
	// detail). The slow calls sleep and send progress, so they always make syscalls; add may make none at all (seen
	// under CPU load: Go ran its handler on the thread that read the request, which then wrote the answer).
	out, err := exec.Command(testEnv.mcpscope, "calls", "--db", db).CombinedOutput()
	if err != nil || strings.Count(string(out), " syscalls") < 2 || !strings.Contains(string(out), "add") {
		t.Errorf("mcpscope calls: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, " slow ") && !strings.Contains(line, " syscalls") {
			t.Errorf("mcpscope calls: a slow call without syscalls: %q\n%s", line, out)
		}
	}
	if got := text(mcpscopeQuery(t, db, "SELECT count(*) AS n FROM tool_calls WHERE user_cpu_ms IS NOT NULL AND sys_cpu_ms IS NOT NULL"), "n"); got != "3\n" {
		t.Errorf("calls with their CPU recorded: %s, want 3", got)
	}
	if got := text(mcpscopeQuery(t, db, "SELECT group_concat(call_id) AS ids FROM (SELECT DISTINCT call_id FROM syscalls WHERE call_id IN (2, 3) ORDER BY call_id)"), "ids"); got != "2,3\n" {
		t.Errorf("slow calls with syscalls rows: %s, want 2,3", got)
	}
	out, err = exec.Command(testEnv.mcpscope, "show", "--db", db, "3").CombinedOutput()
	for _, s := range []string{"call 3: slow", "status      tool_error", "(after the client cancelled it)", "footprint", "CPU "} {
		if err != nil || !strings.Contains(string(out), s) {
			t.Errorf("mcpscope show 3: %v: no %q in\n%s", err, s, out)
		}
	}
	if strings.Contains(string(out), "syscalls  none recorded") {
		t.Errorf("mcpscope show 3: no syscalls recorded:\n%s", out)
	}
	// Writes are refused by the engine, with a clear message.
	out, err = exec.Command(testEnv.mcpscope, "query", "--db", db, "DELETE FROM messages").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "refused: the statement would change the database") {
		t.Errorf("DELETE: %v\n%s", err, out)
	}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func boolInt(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// TestStoreQueryWhileWatching reads the database with `mcpscope query` while `watch` is still recording (WAL),
// then checks the capture is closed properly after SIGINT.
func TestStoreQueryWhileWatching(t *testing.T) {
	requireBPF(t)
	peerBin := filepath.Join(t.TempDir(), "mcps-storeq")
	b, err := os.ReadFile(testEnv.gopeer)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(peerBin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "live.db")
	mon := startBackground(t, "watch", "--comm", "mcps-storeq", "--db", db, "-o", "-")
	if out, err := exec.Command(peerBin, "client-modern", "--", peerBin, "server-modern").CombinedOutput(); err != nil {
		t.Fatalf("peer: %v\n%s", err, out)
	}
	var n string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		n = text(mcpscopeQuery(t, db, "SELECT count(*) AS n FROM messages"), "n")
		if n == "15\n" {
			break
		}
	}
	if n != "15\n" {
		t.Errorf("while watching: %s messages, want the 15 of the session", n)
	}
	if got := text(mcpscopeQuery(t, db, "SELECT ended_at IS NULL AS running FROM captures"), "running"); got != "1\n" {
		t.Errorf("capture running: %s", got)
	}
	mon.interrupt(t)
	if got := text(mcpscopeQuery(t, db, "SELECT ended_at IS NOT NULL AS ended, json_extract(counters, '$.messages') AS m FROM captures"), "ended", "m"); got != "1|15\n" {
		t.Errorf("capture after SIGINT: %s", got)
	}
}

// TestStoreSurvivesKill kills `mcpscope watch` with SIGKILL while a ping flood is being recorded: the database
// must pass PRAGMA integrity_check and still hold every message a reader saw committed before the kill.
func TestStoreSurvivesKill(t *testing.T) {
	requireBPF(t)
	requireNode(t)
	peerBin := filepath.Join(t.TempDir(), "mcps-kill")
	b, err := os.ReadFile(testEnv.gopeer)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(peerBin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "killed.db")
	mon := startBackground(t, "watch", "--comm", "mcps-kill", "--db", db, "-o", os.DevNull)
	load := exec.Command(peerBin, append([]string{"pingpong", "-n", "200000", "--"}, testEnv.serverEverything...)...)
	if err := load.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { load.Process.Kill(); load.Wait() }()
	var seen int
	for deadline := time.Now().Add(30 * time.Second); seen < 2000 && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		fmt.Sscan(text(mcpscopeQuery(t, db, "SELECT count(*) AS n FROM messages"), "n"), &seen)
	}
	if seen < 2000 {
		t.Fatalf("only %d messages recorded after 30 s of ping flood", seen)
	}
	if err := mon.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	for mon.lines.Scan() { // to EOF before Wait
	}
	mon.cmd.Wait()
	if got := text(mcpscopeQuery(t, db, "PRAGMA integrity_check"), "integrity_check"); got != "ok\n" {
		t.Fatalf("integrity_check after kill -9: %s", got)
	}
	var after int
	fmt.Sscan(text(mcpscopeQuery(t, db, "SELECT count(*) AS n FROM messages"), "n"), &after)
	if after < seen {
		t.Errorf("%d messages after kill -9, but %d were seen committed before it", after, seen)
	}
	// The killed capture never ended: its row says so (ended_at NULL).
	if got := text(mcpscopeQuery(t, db, "SELECT count(*) AS n, min(ended_at IS NULL) AS open FROM captures"), "n", "open"); got != "1|1\n" {
		t.Errorf("captures: %s", got)
	}
	// watch can record into it again.
	again := startBackground(t, "watch", "--comm", "mcps-kill-none", "--db", db, "-o", os.DevNull)
	again.interrupt(t)
	if got := text(mcpscopeQuery(t, db, "SELECT count(*) AS n FROM captures"), "n"); got != "2\n" {
		t.Errorf("captures after a second watch: %s", got)
	}
	t.Logf("killed with %d messages seen committed, %d after", seen, after)
}
