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

// noDB keeps these tests' captures out of the default database (/var/lib/mcpscope as root); store_test.go tests
// recording.
var noDB = []string{"--no-db"}

// wire is one message as a peer put it on the wire, in the order its writer wrote it.
type wire struct {
	typ     string
	method  string
	id      string // JSON text of the id; "" for notifications
	size    int    // bytes without the newline
	tool    string
	related string // related_id (progress, cancel)
	isError bool   // result.isError
	errCode int64  // JSON-RPC error code
}

// byDirection splits records by direction, keeping each writer's order (order across directions depends on timing).
func byDirection(recs []record.Message) (c2s, s2c []record.Message) {
	for _, r := range recs {
		switch r.Direction {
		case record.ClientToServer:
			c2s = append(c2s, r)
		case record.ServerToClient:
			s2c = append(s2c, r)
		}
	}
	return c2s, s2c
}

// checkSequence asserts that recs are exactly the messages of want, in order.
func checkSequence(t *testing.T, dir string, recs []record.Message, want []wire) {
	t.Helper()
	if len(recs) != len(want) {
		t.Errorf("%s: %d records, want %d:\n%s", dir, len(recs), len(want), summary(recs))
		return
	}
	for i, w := range want {
		r := recs[i]
		got := wire{typ: r.Type, method: r.Method, id: string(r.ID), size: r.Size, tool: r.Tool, related: string(r.RelatedID)}
		if r.IsError != nil {
			got.isError = *r.IsError
		}
		if r.Error != nil {
			got.errCode = r.Error.Code
		}
		if got != w {
			t.Errorf("%s record %d:\n got  %+v\n want %+v", dir, i, got, w)
		}
	}
}

// checkRecordBasics holds for every message record: the message is embedded verbatim and its size is exact, both
// ends are named, one session, no truncation.
func checkRecordBasics(t *testing.T, res watchResult) {
	t.Helper()
	sessions := map[string]bool{}
	for i, r := range res.records {
		if r.Transport != record.TransportStdio {
			t.Errorf("record %d: transport %q", i, r.Transport)
		}
		if r.Truncated || r.LostBytes != 0 {
			t.Errorf("record %d: truncated (%d bytes lost)", i, r.LostBytes)
		}
		if len(r.Message) != r.Size {
			t.Errorf("record %d: message of %d bytes, size %d", i, len(r.Message), r.Size)
		}
		if !json.Valid(r.Message) {
			t.Errorf("record %d: message is not valid JSON", i)
		}
		if r.From.Pid == 0 || r.To.Pid == 0 || r.From.Pid == r.To.Pid {
			t.Errorf("record %d: from %+v to %+v", i, r.From, r.To)
		}
		if r.Type == record.TypeResponse && r.Method == "" {
			t.Errorf("record %d: response id %s not paired with its request", i, r.ID)
		}
		if r.Time.IsZero() || time.Since(r.Time) > time.Hour {
			t.Errorf("record %d: implausible time %v", i, r.Time)
		}
		sessions[r.Session] = true
	}
	if len(sessions) != 1 {
		t.Errorf("records spread over sessions %v, want one", sessions)
	}
	c := res.finalCounters(t)
	for _, k := range []string{"kernel_undelivered_bytes", "kernel_lost_records", "truncated", "junk_lines"} {
		if c[k] != 0 {
			t.Errorf("counter %s = %d, want 0", k, c[k])
		}
	}
}

func recordByID(recs []record.Message, typ, id string) *record.Message {
	for i := range recs {
		if recs[i].Type == typ && string(recs[i].ID) == id {
			return &recs[i]
		}
	}
	return nil
}

// TestGoClientServerEverything drives @modelcontextprotocol/server-everything over pipes with a go-sdk client:
// a 1 MiB tools/call in both directions, progress, a cancelled request, JSON-RPC errors, a tool error and responses
// out of order. test/peers/README.md lists the wire messages asserted here.
func TestGoClientServerEverything(t *testing.T) {
	requireBPF(t)
	requireNode(t)
	cmd := append([]string{testEnv.gopeer, "client", "--"}, testEnv.serverEverything...)
	res := watch(t, 90*time.Second, noDB, cmd...)
	if res.exitCode != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", res.exitCode, res.stderr)
	}
	checkRecordBasics(t, res)
	c2s, s2c := byDirection(res.records)
	const big = 1 << 20
	checkSequence(t, "client to server", c2s, []wire{
		{typ: "request", method: "initialize", id: "1", size: 192},
		{typ: "notification", method: "notifications/initialized", size: 66},
		{typ: "request", method: "tools/list", id: "2", size: 46},
		{typ: "response", method: "roots/list", id: "0", size: 46},
		{typ: "request", method: "tools/call", id: "3", size: big + 98, tool: "echo"},
		{typ: "request", method: "tools/call", id: "4", size: 180, tool: "trigger-long-running-operation"},
		{typ: "request", method: "tools/call", id: "5", size: 134, tool: "trigger-long-running-operation"},
		{typ: "notification", method: "notifications/cancelled", size: 105, related: "5"},
		{typ: "request", method: "mcpscope/no-such-method", id: "6", size: 107},
		{typ: "request", method: "resources/read", id: "7", size: 95},
		{typ: "request", method: "tools/call", id: "8", size: 94, tool: "no-such-tool"},
		{typ: "request", method: "tools/call", id: "9", size: 134, tool: "trigger-long-running-operation"},
		{typ: "request", method: "tools/call", id: "10", size: 103, tool: "echo"},
	})
	progress := wire{typ: "notification", method: "notifications/progress", size: 121, related: "4"}
	checkSequence(t, "server to client", s2c, []wire{
		{typ: "response", method: "initialize", id: "1", size: 2018},
		{typ: "notification", method: "notifications/tools/list_changed", size: 61},
		{typ: "notification", method: "notifications/tools/list_changed", size: 61},
		{typ: "response", method: "tools/list", id: "2", size: 8154},
		{typ: "request", method: "roots/list", id: "0", size: 46},
		{typ: "notification", method: "notifications/message", size: 160},
		{typ: "response", method: "tools/call", id: "3", size: big + 79, tool: "echo"},
		progress, progress, progress, progress,
		{typ: "response", method: "tools/call", id: "4", size: 137, tool: "trigger-long-running-operation"},
		{typ: "response", method: "mcpscope/no-such-method", id: "6", size: 77, errCode: -32601},
		{typ: "response", method: "resources/read", id: "7", size: 123, errCode: -32602},
		{typ: "response", method: "tools/call", id: "8", size: 133, tool: "no-such-tool", isError: true},
		{typ: "response", method: "tools/call", id: "10", size: 84, tool: "echo"},
		{typ: "response", method: "tools/call", id: "9", size: 137, tool: "trigger-long-running-operation"},
	})

	// Content: the 1 MiB argument and result arrive byte-exact.
	req := recordByID(c2s, "request", "3")
	resp := recordByID(s2c, "response", "3")
	if req != nil && resp != nil {
		var call struct {
			Params struct {
				Arguments struct{ Message string } `json:"arguments"`
			} `json:"params"`
		}
		if err := json.Unmarshal(req.Message, &call); err != nil || len(call.Params.Arguments.Message) != big {
			t.Errorf("echo argument: %v, %d bytes", err, len(call.Params.Arguments.Message))
		}
		if !bytes.Contains(resp.Message, []byte(call.Params.Arguments.Message)) {
			t.Error("echo result does not carry the 1 MiB argument")
		}
	}
	// Latency: the slow calls took about a second; the fast one answered before the slow one in flight.
	for _, id := range []string{"4", "9"} {
		if r := recordByID(s2c, "response", id); r == nil || r.LatencyMs == nil || *r.LatencyMs < 900 || *r.LatencyMs > 5000 {
			t.Errorf("response %s latency %v, want about 1000 ms", id, latency(r))
		}
	}
	// Not a fixed bound: under emulation (the kernel matrix) node took 551 ms to answer the echo.
	if r, slow := recordByID(s2c, "response", "10"), recordByID(s2c, "response", "9"); r == nil || r.LatencyMs == nil ||
		slow == nil || slow.LatencyMs == nil || *r.LatencyMs >= *slow.LatencyMs {
		t.Errorf("response 10 latency %v, want under that of the slow call 9 it overtook (%v)", latency(r), latency(slow))
	}
	if recordByID(s2c, "response", "5") != nil {
		t.Error("a response to the cancelled request 5 was reported; server-everything sends none")
	}
	// Processes: the client is gopeer, the server node (server-everything), every record between the two.
	for _, r := range c2s {
		if r.From.Comm != "gopeer" || r.To.Comm != "node" {
			t.Fatalf("client record from %+v to %+v", r.From, r.To)
		}
	}
	for _, r := range s2c {
		if r.From.Comm != "node" || r.To.Comm != "gopeer" {
			t.Fatalf("server record from %+v to %+v", r.From, r.To)
		}
	}
}

func latency(r *record.Message) string {
	if r == nil || r.LatencyMs == nil {
		return "none"
	}
	return fmt.Sprintf("%.1f ms", *r.LatencyMs)
}

// TestInspectorServerEverything drives server-everything with the Inspector CLI: both are Node programs, so the
// stdio streams are Unix socketpairs created by libuv.
func TestInspectorServerEverything(t *testing.T) {
	requireBPF(t)
	requireNode(t)
	cmd := append(append([]string{}, testEnv.inspector...), "--cli")
	cmd = append(cmd, testEnv.serverEverything...)
	cmd = append(cmd, "--method", "tools/call", "--tool-name", "echo", "--tool-arg", "message=hi")
	res := watch(t, 90*time.Second, noDB, cmd...)
	if res.exitCode != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", res.exitCode, res.stderr)
	}
	checkRecordBasics(t, res)
	c2s, s2c := byDirection(res.records)
	// The Inspector numbers its requests from 0: initialize, then the call.
	init := recordByID(c2s, "request", "0")
	if init == nil || init.Method != "initialize" {
		t.Fatalf("no initialize request with id 0:\n%s", summary(res.records))
	}
	var call, result *record.Message
	for i := range c2s {
		if c2s[i].Method == "tools/call" && c2s[i].Type == "request" {
			call = &c2s[i]
		}
	}
	if call == nil || call.Tool != "echo" || !strings.Contains(string(call.Message), `"message":"hi"`) {
		t.Fatalf("no tools/call echo request with message hi:\n%s", summary(res.records))
	}
	result = recordByID(s2c, "response", string(call.ID))
	if result == nil || result.Method != "tools/call" || result.Tool != "echo" || result.LatencyMs == nil {
		t.Fatalf("tools/call response not paired:\n%s", summary(res.records))
	}
	if !strings.Contains(string(result.Message), "Echo: hi") {
		t.Errorf("echo result %s", result.Message)
	}
	if r := recordByID(s2c, "response", "0"); r == nil || r.Method != "initialize" || r.ProtocolVersion == "" || r.Era != record.EraLegacy {
		t.Errorf("initialize response: %+v", r)
	}
	var initialized bool
	for _, r := range c2s {
		initialized = initialized || r.Method == "notifications/initialized"
	}
	if !initialized {
		t.Error("no notifications/initialized from the Inspector")
	}
	for _, r := range res.records {
		if r.From.Comm != "node" || r.To.Comm != "node" {
			t.Fatalf("record between %+v and %+v, want two node processes", r.From, r.To)
		}
	}
}

// TestModernEraGoSDK runs a 2026-07-28 session between go-sdk peers over stdio: server/discover, _meta on every
// request, resultType on every result, progress, and a cancelled call the go-sdk server still answers (late).
func TestModernEraGoSDK(t *testing.T) {
	requireBPF(t)
	res := watch(t, 60*time.Second, noDB, testEnv.gopeer, "client-modern", "--", testEnv.gopeer, "server-modern")
	if res.exitCode != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", res.exitCode, res.stderr)
	}
	checkRecordBasics(t, res)
	c2s, s2c := byDirection(res.records)
	checkSequence(t, "client to server", c2s, []wire{
		{typ: "request", method: "server/discover", id: "1", size: 271},
		{typ: "request", method: "tools/list", id: "2", size: 266},
		{typ: "request", method: "tools/call", id: "3", size: 305, tool: "add"},
		{typ: "request", method: "tools/call", id: "4", size: 350, tool: "slow"},
		{typ: "request", method: "tools/call", id: "5", size: 304, tool: "slow"},
		{typ: "notification", method: "notifications/cancelled", size: 105, related: "5"},
	})
	progress := wire{typ: "notification", method: "notifications/progress", size: 143, related: "4"}
	checkSequence(t, "server to client", s2c, []wire{
		{typ: "response", method: "server/discover", id: "1", size: 271},
		{typ: "response", method: "tools/list", id: "2", size: 1330},
		{typ: "response", method: "tools/call", id: "3", size: 237, tool: "add"},
		progress, progress, progress, progress,
		{typ: "response", method: "tools/call", id: "4", size: 251, tool: "slow"},
		{typ: "response", method: "tools/call", id: "5", size: 227, tool: "slow", isError: true},
	})
	for _, r := range res.records {
		if r.Era != record.EraModern || r.ProtocolVersion != "2026-07-28" {
			t.Errorf("%s %s: era %q version %q, want modern 2026-07-28", r.Type, r.Method, r.Era, r.ProtocolVersion)
		}
		if r.Type == record.TypeResponse && r.ResultType != "complete" {
			t.Errorf("response %s: result_type %q", r.ID, r.ResultType)
		}
	}
	if r := recordByID(s2c, "response", "5"); r == nil || !r.Late {
		t.Errorf("the answer to cancelled request 5 is not marked late: %+v", r)
	}
}

// TestJunkFloodBesideValidSession floods another pipe with binary bytes, log lines and JSON that is not JSON-RPC
// while a valid session (with an 8 MiB message each way, the most server-everything accepts) runs: the valid session is
// captured whole, the junk is counted and skipped.
func TestJunkFloodBesideValidSession(t *testing.T) {
	requireBPF(t)
	requireNode(t)
	const big = 8 << 20
	script := fmt.Sprintf("%s junk -bytes 200000000 -seconds 20 | cat >/dev/null & %s client -steps a,b -big %d -- %s; status=$?; wait; exit $status",
		testEnv.gopeer, testEnv.gopeer, big, strings.Join(testEnv.serverEverything, " "))
	res := watch(t, 120*time.Second, noDB, "sh", "-c", script)
	if res.exitCode != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", res.exitCode, res.stderr)
	}
	var session []record.Message
	for _, r := range res.records {
		if r.From.Comm == "gopeer" && r.To.Comm == "node" || r.From.Comm == "node" && r.To.Comm == "gopeer" {
			session = append(session, r)
		}
	}
	if len(session) != 12 {
		t.Fatalf("valid session: %d records, want 12:\n%s", len(session), summary(res.records))
	}
	c2s, s2c := byDirection(session)
	if r := recordByID(c2s, "request", "3"); r == nil || r.Size != big+98 || r.Truncated || len(r.Message) != r.Size {
		t.Fatalf("16 MiB request not captured whole: %+v", sizeOf(r))
	}
	if r := recordByID(s2c, "response", "3"); r == nil || r.Size != big+79 || r.Truncated || len(r.Message) != r.Size {
		t.Fatalf("16 MiB response not captured whole: %+v", sizeOf(r))
	}
	c := res.finalCounters(t)
	if c["junk_lines"] == 0 {
		t.Errorf("no junk counted: %v", c)
	}
	if c["kernel_undelivered_bytes"] != 0 {
		t.Errorf("kernel lost %d bytes: %v", c["kernel_undelivered_bytes"], c)
	}
	t.Logf("counters: %v", c)
}

func sizeOf(r *record.Message) string {
	if r == nil {
		return "missing"
	}
	return fmt.Sprintf("size %d, message %d bytes, truncated %v, lost %d", r.Size, len(r.Message), r.Truncated, r.LostBytes)
}

// TestSixteenMiBSingleWrite writes a 16 MiB request and its response each in ONE write(2) on a blocking pipe (as
// Python's stdio does), more than one kernel program run can copy and as large as the default ring buffer: the
// messages arrive whole and byte-exact.
func TestSixteenMiBSingleWrite(t *testing.T) {
	requireBPF(t)
	const big = 16 << 20
	script := fmt.Sprintf(`import os, sys
big = "x" * %d
req = ('{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"message":"%%s"}}}' %% big).encode()
resp = ('{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"%%s"}]}}' %% big).encode()
r1, w1 = os.pipe(); r2, w2 = os.pipe()
if os.fork() == 0:  # the server: reads the request, answers in one write
    os.close(w1); os.close(r2)
    got = b""
    while not got.endswith(b"\n"):
        got += os.read(r1, 1 << 20)
    assert os.write(w2, resp + b"\n") == len(resp) + 1
    os._exit(0)
os.close(r1); os.close(w2)
assert os.write(w1, req + b"\n") == len(req) + 1
got = b""
while not got.endswith(b"\n"):
    got += os.read(r2, 1 << 20)
os.wait()
`, big)
	// With the default ring buffer, 16 MiB: each write is copied while it waits for its reader (early_copy in
	// internal/bpf/c/stdio.c), not all at once when it returns, which took a ring larger than the write.
	// internal/capture's TestLargePipeWriteSmallRing sends a write through a ring half its size.
	res := watch(t, 60*time.Second, noDB, "python3", "-c", script)
	if res.exitCode != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", res.exitCode, res.stderr)
	}
	checkRecordBasics(t, res)
	c := res.finalCounters(t)
	if c["kernel_undelivered_bytes"] != 0 || c["kernel_early_bytes"] < big {
		t.Errorf("kernel_undelivered_bytes %d, kernel_early_bytes %d: want none lost, and most of the writes copied while they waited",
			c["kernel_undelivered_bytes"], c["kernel_early_bytes"])
	}
	if len(res.records) != 2 {
		t.Fatalf("%d records, want 2:\n%s", len(res.records), summary(res.records))
	}
	want := strings.Repeat("x", big)
	req, resp := res.records[0], res.records[1]
	if req.Type != "request" || req.Tool != "echo" || req.Size != big+98 || !strings.Contains(string(req.Message), want) {
		t.Errorf("request: %s", sizeOf(&req))
	}
	if resp.Type != "response" || resp.Method != "tools/call" || resp.Size != big+73 || resp.LatencyMs == nil || !strings.Contains(string(resp.Message), want) {
		t.Errorf("response: %s", sizeOf(&resp))
	}
}

// TestWatchByCommThenSIGINT runs the monitor as users do in one terminal (`mcpscope watch --comm NAME -o -`,
// JSONL on stdout) while a session runs in another: it prints one `ready` line, sees the whole session, and on SIGINT
// drains, flushes and exits 0 within 5 s.
func TestWatchByCommThenSIGINT(t *testing.T) {
	requireBPF(t)
	// A copy of gopeer under a name of its own, so that nothing else on the host matches --comm.
	peerBin := filepath.Join(t.TempDir(), "mcps-sigint")
	b, err := os.ReadFile(testEnv.gopeer)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(peerBin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	mon := startBackground(t, "watch", "--no-db", "--comm", "mcps-sigint", "-o", "-")
	peer := exec.Command(peerBin, "client-modern", "--", peerBin, "server-modern")
	if out, err := peer.CombinedOutput(); err != nil {
		t.Fatalf("peer: %v\n%s", err, out)
	}
	mon.interrupt(t)
	log := mon.log
	var ready int
	for _, l := range log {
		if strings.Contains(l, "ready") {
			ready++
		}
	}
	if ready != 1 {
		t.Errorf("%d ready lines on stderr, want exactly 1:\n%s", ready, strings.Join(log, "\n"))
	}
	path := filepath.Join(t.TempDir(), "out.jsonl")
	if err := os.WriteFile(path, mon.stdout.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out := readJSONL(t, path)
	recs, stats := out.records, out.stats
	if len(recs) != 15 {
		t.Fatalf("%d records, want the 15 messages of the modern session:\n%s", len(recs), summary(recs))
	}
	if len(stats) != 1 {
		t.Errorf("%d stats records, want the final one", len(stats))
	}
}

// TestDemo runs `mcpscope demo` as a newcomer would: a full go-sdk session between demo-client and demo-server.
func TestDemo(t *testing.T) {
	requireBPF(t)
	out := filepath.Join(t.TempDir(), "demo.jsonl")
	cmd := exec.Command(testEnv.mcpscope, "demo", "--no-db", "-o", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("demo: %v\n%s", err, b)
	}
	recs := readJSONL(t, out).records
	var tools []string
	for _, r := range recs {
		if r.From.Comm != "demo-client" && r.From.Comm != "demo-server" || r.To.Pid == 0 {
			t.Errorf("record from %+v to %+v", r.From, r.To)
		}
		if r.Type == record.TypeResponse && r.Method == "tools/call" {
			tools = append(tools, r.Tool)
		}
	}
	if want := "weather,add,divide,countdown"; strings.Join(tools, ",") != want {
		t.Errorf("tool call responses %v, want %s:\n%s", tools, want, summary(recs))
	}
}

// TestSIGINTUnderLoad interrupts a monitor of every process while a session floods it with pings: the programs are
// detached, what the kernel delivered is drained, and mcpscope exits 0 within 5 s with its stats record written.
func TestSIGINTUnderLoad(t *testing.T) {
	requireBPF(t)
	requireNode(t)
	out := filepath.Join(t.TempDir(), "out.jsonl")
	mon := startBackground(t, "watch", "--no-db", "-o", out)
	load := exec.Command(testEnv.gopeer, append([]string{"pingpong", "-n", "200000", "--"}, testEnv.serverEverything...)...)
	if err := load.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { load.Process.Kill(); load.Wait() }()
	time.Sleep(3 * time.Second) // the load runs at full speed by now
	mon.interrupt(t)
	res := readJSONL(t, out)
	recs, stats := res.records, res.stats
	if len(recs) < 1000 || len(stats) != 1 {
		t.Fatalf("%d records and %d stats records; want a busy capture and the final stats", len(recs), len(stats))
	}
}
