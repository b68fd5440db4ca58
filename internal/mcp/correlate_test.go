package mcp

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mcpscope/mcpscope/internal/record"
)

// Writers in the tests: the client and server processes of a stdio session.
const (
	client = 100
	server = 200
)

const (
	c2s = record.ClientToServer
	s2c = record.ServerToClient
)

var epoch = time.Date(2026, 11, 22, 7, 18, 12, 0, time.UTC)

// summary is the part of an annotated record the correlation tests check; every field is compared.
type summary struct {
	Type, Direction, ID, Method, Kind string
	Tool, Resource, Prompt            string
	Era, Version                      string
	Latency                           string // milliseconds, "" when absent
	Related, RetryOf                  string
	Late                              bool
}

func summarize(rec *record.Message) summary {
	s := summary{
		Type: rec.Type, Direction: rec.Direction, ID: string(rec.ID), Method: rec.Method, Kind: rec.MethodKind,
		Tool: rec.Tool, Resource: rec.Resource, Prompt: rec.Prompt,
		Era: rec.Era, Version: rec.ProtocolVersion,
		Related: string(rec.RelatedID), RetryOf: string(rec.RetryOf), Late: rec.Late,
	}
	if rec.LatencyMs != nil {
		s.Latency = fmt.Sprintf("%g", *rec.LatencyMs)
	}
	return s
}

// harness feeds frames to a Correlator as the capture pipeline does.
type harness struct {
	t *testing.T
	c *Correlator
}

func newHarness(t *testing.T, l Limits) *harness {
	return &harness{t: t, c: NewCorrelator(l)}
}

// send parses frame, written by sender in session at epoch+ms, and returns its records.
func (h *harness) send(session string, sender int, ms int, frame string) []record.Message {
	h.t.Helper()
	ps, err := Parse([]byte(frame))
	if err != nil {
		h.t.Fatalf("Parse(%s): %v", frame, err)
	}
	recs := make([]record.Message, len(ps))
	for i := range ps {
		h.c.Annotate(session, sender, &ps[i], epoch.Add(time.Duration(ms)*time.Millisecond), &recs[i])
		if string(recs[i].Message) != string(ps[i].Raw) {
			h.t.Errorf("Message is %s, want the raw message", recs[i].Message)
		}
	}
	return recs
}

// expect sends one frame and checks the summary of its record.
func (h *harness) expect(session string, sender int, ms int, frame string, want summary) record.Message {
	h.t.Helper()
	recs := h.send(session, sender, ms, frame)
	if len(recs) != 1 {
		h.t.Fatalf("got %d records, want 1", len(recs))
	}
	if got := summarize(&recs[0]); got != want {
		h.t.Errorf("%s\n got %+v\nwant %+v", frame, got, want)
	}
	return recs[0]
}

func (h *harness) stats(want Stats) {
	h.t.Helper()
	if got := h.c.Stats(); got != want {
		h.t.Errorf("stats\n got %+v\nwant %+v", got, want)
	}
}

const legacy, modern = record.EraLegacy, record.EraModern

func TestLegacySession(t *testing.T) {
	h := newHarness(t, Limits{})
	h.expect("s", client, 0, `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"inspector","version":"2.12.0"}}}`,
		summary{Type: req, Direction: c2s, ID: "0", Method: "initialize", Era: legacy, Version: "2025-11-25"})
	// The server answers with an older version it supports; that is the session's version from now on.
	h.expect("s", server, 5, `{"result":{"protocolVersion":"2025-06-18","capabilities":{"tools":{"listChanged":true}},"serverInfo":{"name":"everything","version":"2026.8.31"}},"jsonrpc":"2.0","id":0}`,
		summary{Type: resp, Direction: s2c, ID: "0", Method: "initialize", Era: legacy, Version: "2025-06-18", Latency: "5"})
	h.expect("s", server, 6, `{"method":"notifications/tools/list_changed","jsonrpc":"2.0"}`,
		summary{Type: notif, Direction: s2c, Method: "notifications/tools/list_changed", Era: legacy, Version: "2025-06-18"})
	h.expect("s", client, 6, `{"method":"notifications/initialized","jsonrpc":"2.0"}`,
		summary{Type: notif, Direction: c2s, Method: "notifications/initialized", Era: legacy, Version: "2025-06-18"})
	h.expect("s", client, 8, `{"method":"tools/call","params":{"name":"get-env","arguments":{}},"jsonrpc":"2.0","id":1}`,
		summary{Type: req, Direction: c2s, ID: "1", Method: "tools/call", Tool: "get-env", Era: legacy, Version: "2025-06-18"})
	rec := h.expect("s", server, 20, `{"result":{"content":[{"type":"text","text":"permission denied"}],"isError":true},"jsonrpc":"2.0","id":1}`,
		summary{Type: resp, Direction: s2c, ID: "1", Method: "tools/call", Tool: "get-env", Era: legacy, Version: "2025-06-18", Latency: "12"})
	if rec.IsError == nil || !*rec.IsError || rec.Error != nil {
		t.Errorf("a tool error: got IsError %v, Error %v", rec.IsError, rec.Error)
	}
	h.expect("s", client, 21, `{"method":"tools/call","params":{"name":"nope"},"jsonrpc":"2.0","id":2}`,
		summary{Type: req, Direction: c2s, ID: "2", Method: "tools/call", Tool: "nope", Era: legacy, Version: "2025-06-18"})
	rec = h.expect("s", server, 22, `{"jsonrpc":"2.0","id":2,"error":{"code":-32602,"message":"Unknown tool: nope"}}`,
		summary{Type: resp, Direction: s2c, ID: "2", Method: "tools/call", Tool: "nope", Era: legacy, Version: "2025-06-18", Latency: "1"})
	if rec.IsError != nil || rec.Error == nil || rec.Error.Code != -32602 || rec.Error.Message != "Unknown tool: nope" {
		t.Errorf("a JSON-RPC error: got IsError %v, Error %+v", rec.IsError, rec.Error)
	}
	h.expect("s", client, 30, `{"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"uri":"test://static/resource/1"}}`,
		summary{Type: req, Direction: c2s, ID: "3", Method: "resources/read", Resource: "test://static/resource/1", Era: legacy, Version: "2025-06-18"})
	h.expect("s", server, 31, `{"jsonrpc":"2.0","id":3,"result":{"contents":[]}}`,
		summary{Type: resp, Direction: s2c, ID: "3", Method: "resources/read", Resource: "test://static/resource/1", Era: legacy, Version: "2025-06-18", Latency: "1"})
	h.stats(Stats{Sessions: 1, Matched: 4})
}

func TestIDsDoNotMixAcrossSessions(t *testing.T) {
	h := newHarness(t, Limits{})
	h.expect("a", client, 0, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"in-a"}}`,
		summary{Type: req, Direction: c2s, ID: "1", Method: "tools/call", Tool: "in-a", Era: legacy})
	h.expect("b", client, 1, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"in-b"}}`,
		summary{Type: req, Direction: c2s, ID: "1", Method: "tools/call", Tool: "in-b", Era: legacy})
	h.expect("b", server, 3, `{"jsonrpc":"2.0","id":1,"result":{}}`,
		summary{Type: resp, Direction: s2c, ID: "1", Method: "tools/call", Tool: "in-b", Latency: "2", Era: legacy})
	h.expect("a", server, 7, `{"jsonrpc":"2.0","id":1,"result":{}}`,
		summary{Type: resp, Direction: s2c, ID: "1", Method: "tools/call", Tool: "in-a", Latency: "7", Era: legacy})
	h.stats(Stats{Sessions: 2, Matched: 2})
}

func TestIDReusedByTheOtherSide(t *testing.T) {
	h := newHarness(t, Limits{})
	h.expect("s", client, 0, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sampleLLM"}}`,
		summary{Type: req, Direction: c2s, ID: "1", Method: "tools/call", Tool: "sampleLLM", Era: legacy})
	// While handling the call, the server asks the client to sample, numbering from 1 as well.
	h.expect("s", server, 1, `{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage","params":{"messages":[],"maxTokens":100}}`,
		summary{Type: req, Direction: s2c, ID: "1", Method: "sampling/createMessage", Era: legacy})
	h.expect("s", client, 4, `{"jsonrpc":"2.0","id":1,"result":{"role":"assistant","content":{"type":"text","text":"hi"},"model":"m"}}`,
		summary{Type: resp, Direction: c2s, ID: "1", Method: "sampling/createMessage", Latency: "3", Era: legacy})
	h.expect("s", server, 9, `{"jsonrpc":"2.0","id":1,"result":{"content":[]}}`,
		summary{Type: resp, Direction: s2c, ID: "1", Method: "tools/call", Tool: "sampleLLM", Latency: "9", Era: legacy})
	// A second answer to the same id matches nothing.
	h.expect("s", server, 10, `{"jsonrpc":"2.0","id":1,"result":{"content":[]}}`,
		summary{Type: resp, Direction: s2c, ID: "1", Era: legacy})
	h.stats(Stats{Sessions: 1, Matched: 2, UnmatchedResponses: 1})
}

func TestStringAndNumberIDsDiffer(t *testing.T) {
	h := newHarness(t, Limits{})
	h.send("s", client, 0, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
	h.send("s", client, 1, `{"jsonrpc":"2.0","id":"1","method":"prompts/list"}`)
	h.expect("s", server, 5, `{"jsonrpc":"2.0","id":"1","result":{"prompts":[]}}`,
		summary{Type: resp, Direction: s2c, ID: `"1"`, Method: "prompts/list", Latency: "4", Era: legacy})
	h.expect("s", server, 6, `{"jsonrpc":"2.0","id":1.0,"result":{"tools":[]}}`,
		summary{Type: resp, Direction: s2c, ID: "1.0", Method: "tools/list", Latency: "6", Era: legacy})
}

func TestOutOfOrderResponses(t *testing.T) {
	h := newHarness(t, Limits{})
	for i, tool := range []string{"a", "b", "c"} {
		h.send("s", client, i, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q}}`, i+1, tool))
	}
	h.expect("s", server, 10, `{"result":{},"jsonrpc":"2.0","id":3}`,
		summary{Type: resp, Direction: s2c, ID: "3", Method: "tools/call", Tool: "c", Latency: "8", Era: legacy})
	h.expect("s", server, 11, `{"result":{},"jsonrpc":"2.0","id":1}`,
		summary{Type: resp, Direction: s2c, ID: "1", Method: "tools/call", Tool: "a", Latency: "11", Era: legacy})
	h.expect("s", server, 12, `{"result":{},"jsonrpc":"2.0","id":2}`,
		summary{Type: resp, Direction: s2c, ID: "2", Method: "tools/call", Tool: "b", Latency: "11", Era: legacy})
	h.stats(Stats{Sessions: 1, Matched: 3})
}

func TestCancelAndLateResponse(t *testing.T) {
	h := newHarness(t, Limits{})
	h.send("s", client, 0, `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"slow"}}`)
	h.expect("s", client, 100, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":5,"reason":"Request timed out"}}`,
		summary{Type: notif, Direction: c2s, Method: "notifications/cancelled", Related: "5", Era: legacy})
	h.expect("s", server, 300, `{"jsonrpc":"2.0","id":5,"result":{"content":[]}}`,
		summary{Type: resp, Direction: s2c, ID: "5", Method: "tools/call", Tool: "slow", Latency: "300", Late: true, Era: legacy})
	// Cancelling a request that is not open still names it.
	h.expect("s", client, 400, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"gone"}}`,
		summary{Type: notif, Direction: c2s, Method: "notifications/cancelled", Related: `"gone"`, Era: legacy})
	// A cancellation names a request of its sender: the server's open request with the same id is not touched.
	h.send("s", server, 500, `{"jsonrpc":"2.0","id":6,"method":"roots/list"}`)
	h.expect("s", client, 501, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":6}}`,
		summary{Type: notif, Direction: c2s, Method: "notifications/cancelled", Related: "6", Era: legacy})
	h.expect("s", client, 502, `{"jsonrpc":"2.0","id":6,"result":{"roots":[]}}`,
		summary{Type: resp, Direction: c2s, ID: "6", Method: "roots/list", Latency: "2", Era: legacy})
	h.stats(Stats{Sessions: 1, Matched: 2, Late: 1, Cancelled: 1})
}

func TestNoTimeExpiry(t *testing.T) {
	h := newHarness(t, Limits{})
	h.send("s", client, 0, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"build"}}`)
	h.expect("s", server, 10*60*1000, `{"jsonrpc":"2.0","id":1,"result":{"content":[]}}`,
		summary{Type: resp, Direction: s2c, ID: "1", Method: "tools/call", Tool: "build", Latency: "600000", Era: legacy})
}

func TestProgressLinking(t *testing.T) {
	h := newHarness(t, Limits{})
	h.send("s", client, 0, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"trigger-long-running-operation","arguments":{"duration":2,"steps":4},"_meta":{"progressToken":"tok"}}}`)
	for step := 1; step <= 2; step++ {
		h.expect("s", server, step*500, fmt.Sprintf(`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":%d,"total":4,"progressToken":"tok"}}`, step),
			summary{Type: notif, Direction: s2c, Method: "notifications/progress", Related: "3", Era: legacy})
	}
	h.expect("s", server, 1100, `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1,"progressToken":"other"}}`,
		summary{Type: notif, Direction: s2c, Method: "notifications/progress", Era: legacy})
	// A token is the requester's: the client's own progress with the same token is not linked to it.
	h.expect("s", client, 1150, `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1,"progressToken":"tok"}}`,
		summary{Type: notif, Direction: c2s, Method: "notifications/progress", Era: legacy})
	h.send("s", server, 2000, `{"jsonrpc":"2.0","id":3,"result":{"content":[]}}`)
	// After the response the token is spent.
	h.expect("s", server, 2001, `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":4,"progressToken":"tok"}}`,
		summary{Type: notif, Direction: s2c, Method: "notifications/progress", Era: legacy})
	// Numeric tokens work the same, and a server-issued request's token links the client's progress.
	h.send("s", server, 3000, `{"jsonrpc":"2.0","id":9,"method":"sampling/createMessage","params":{"_meta":{"progressToken":42},"messages":[]}}`)
	h.expect("s", client, 3001, `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1,"progressToken":42}}`,
		summary{Type: notif, Direction: c2s, Method: "notifications/progress", Related: "9", Era: legacy})
	h.stats(Stats{Sessions: 1, Pending: 1, Matched: 1, UnlinkedProgress: 3})
}

const meta2026 = `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"elicitation":{}}}`

func TestMRTRChainByRequestState(t *testing.T) {
	h := newHarness(t, Limits{})
	h.expect("s", client, 0, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"deploy","arguments":{"env":"prod"},`+meta2026+`}}`,
		summary{Type: req, Direction: c2s, ID: "1", Method: "tools/call", Tool: "deploy", Era: modern, Version: "2026-07-28"})
	h.expect("s", server, 10, `{"jsonrpc":"2.0","id":1,"result":{"resultType":"input_required","inputRequests":{"confirm":{"method":"elicitation/create","params":{"mode":"form","message":"Deploy to prod?","requestedSchema":{"type":"object"}}}},"requestState":"st-1"}}`,
		summary{Type: resp, Direction: s2c, ID: "1", Method: "tools/call", Tool: "deploy", Era: modern, Version: "2026-07-28", Latency: "10"})
	h.stats(Stats{Sessions: 1, AwaitingRetry: 1, Matched: 1})
	h.expect("s", client, 50, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"deploy","arguments":{"env":"prod"},"inputResponses":{"confirm":{"action":"accept","content":{}}},"requestState":"st-1",`+meta2026+`}}`,
		summary{Type: req, Direction: c2s, ID: "2", Method: "tools/call", Tool: "deploy", Era: modern, Version: "2026-07-28", RetryOf: "1"})
	// A second round, with a new state.
	h.expect("s", server, 60, `{"jsonrpc":"2.0","id":2,"result":{"resultType":"input_required","inputRequests":{"token":{"method":"elicitation/create","params":{}}},"requestState":"st-2"}}`,
		summary{Type: resp, Direction: s2c, ID: "2", Method: "tools/call", Tool: "deploy", Era: modern, Version: "2026-07-28", Latency: "60"})
	h.expect("s", client, 90, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"deploy","arguments":{"env":"prod"},"inputResponses":{"token":{"action":"accept"}},"requestState":"st-2",`+meta2026+`}}`,
		summary{Type: req, Direction: c2s, ID: "3", Method: "tools/call", Tool: "deploy", Era: modern, Version: "2026-07-28", RetryOf: "1"})
	h.expect("s", server, 100, `{"jsonrpc":"2.0","id":3,"result":{"resultType":"complete","content":[{"type":"text","text":"deployed"}]}}`,
		summary{Type: resp, Direction: s2c, ID: "3", Method: "tools/call", Tool: "deploy", Era: modern, Version: "2026-07-28", Latency: "100"})
	h.stats(Stats{Sessions: 1, Matched: 3, Retries: 2})
}

func TestMRTRChainByInputKeys(t *testing.T) {
	h := newHarness(t, Limits{})
	call := func(id int, tool string, ms int) {
		h.send("s", client, ms, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,`+meta2026+`}}`, id, tool))
	}
	inputRequired := func(id int, keys string, ms int) {
		h.send("s", server, ms, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"result":{"resultType":"input_required","inputRequests":{%s}}}`, id, keys))
	}
	call(10, "a", 0)
	call(11, "a", 1)
	inputRequired(10, `"x":{"method":"roots/list"}`, 2)
	inputRequired(11, `"y":{"method":"roots/list"},"z":{"method":"roots/list"}`, 3)
	// The key sets tell the two operations of tool a apart.
	h.expect("s", client, 20, `{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"a","inputResponses":{"z":{},"y":{}},`+meta2026+`}}`,
		summary{Type: req, Direction: c2s, ID: "12", Method: "tools/call", Tool: "a", Era: modern, Version: "2026-07-28", RetryOf: "11"})
	h.expect("s", server, 25, `{"jsonrpc":"2.0","id":12,"result":{"resultType":"complete","content":[]}}`,
		summary{Type: resp, Direction: s2c, ID: "12", Method: "tools/call", Tool: "a", Era: modern, Version: "2026-07-28", Latency: "24"})
	// Same keys, but another tool: not a retry of a.
	h.expect("s", client, 30, `{"jsonrpc":"2.0","id":13,"method":"tools/call","params":{"name":"b","inputResponses":{"x":{}},`+meta2026+`}}`,
		summary{Type: req, Direction: c2s, ID: "13", Method: "tools/call", Tool: "b", Era: modern, Version: "2026-07-28"})

	// Two operations of tool c wait for the same input: a retry could be either, so it is left unlinked.
	call(20, "c", 40)
	call(21, "c", 41)
	inputRequired(20, `"x":{}`, 42)
	inputRequired(21, `"x":{}`, 43)
	h.expect("s", client, 50, `{"jsonrpc":"2.0","id":22,"method":"tools/call","params":{"name":"c","inputResponses":{"x":{}},`+meta2026+`}}`,
		summary{Type: req, Direction: c2s, ID: "22", Method: "tools/call", Tool: "c", Era: modern, Version: "2026-07-28"})

	// An operation given a requestState is not matched by keys when the retry echoes another state.
	call(30, "d", 60)
	h.send("s", server, 61, `{"jsonrpc":"2.0","id":30,"result":{"resultType":"input_required","inputRequests":{"x":{}},"requestState":"mine"}}`)
	h.expect("s", client, 62, `{"jsonrpc":"2.0","id":31,"method":"tools/call","params":{"name":"d","inputResponses":{"x":{}},"requestState":"theirs",`+meta2026+`}}`,
		summary{Type: req, Direction: c2s, ID: "31", Method: "tools/call", Tool: "d", Era: modern, Version: "2026-07-28"})
	h.expect("s", client, 63, `{"jsonrpc":"2.0","id":32,"method":"tools/call","params":{"name":"d","inputResponses":{"x":{}},"requestState":"mine",`+meta2026+`}}`,
		summary{Type: req, Direction: c2s, ID: "32", Method: "tools/call", Tool: "d", Era: modern, Version: "2026-07-28", RetryOf: "30"})

	st := h.c.Stats()
	if st.Retries != 2 || st.AmbiguousRetries != 1 || st.AwaitingRetry != 3 {
		t.Errorf("stats %+v: want 2 retries, 1 ambiguous, 3 awaiting retry (10, 20, 21)", st)
	}
}

func TestMRTRForPromptsAndResources(t *testing.T) {
	h := newHarness(t, Limits{})
	h.send("s", client, 0, `{"jsonrpc":"2.0","id":"p1","method":"prompts/get","params":{"name":"greet",`+meta2026+`}}`)
	h.send("s", server, 1, `{"jsonrpc":"2.0","id":"p1","result":{"resultType":"input_required","requestState":"opaque"}}`)
	h.send("s", client, 2, `{"jsonrpc":"2.0","id":"r1","method":"resources/read","params":{"uri":"file:///x",`+meta2026+`}}`)
	h.send("s", server, 3, `{"jsonrpc":"2.0","id":"r1","result":{"resultType":"input_required","requestState":"opaque"}}`)
	// The same requestState on two operations is told apart by method and name.
	h.expect("s", client, 10, `{"jsonrpc":"2.0","id":"r2","method":"resources/read","params":{"uri":"file:///x","requestState":"opaque",`+meta2026+`}}`,
		summary{Type: req, Direction: c2s, ID: `"r2"`, Method: "resources/read", Resource: "file:///x", Era: modern, Version: "2026-07-28", RetryOf: `"r1"`})
	h.expect("s", client, 11, `{"jsonrpc":"2.0","id":"p2","method":"prompts/get","params":{"name":"greet","requestState":"opaque",`+meta2026+`}}`,
		summary{Type: req, Direction: c2s, ID: `"p2"`, Method: "prompts/get", Prompt: "greet", Era: modern, Version: "2026-07-28", RetryOf: `"p1"`})
}

func TestModernDiscover(t *testing.T) {
	h := newHarness(t, Limits{})
	h.expect("s", client, 0, `{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{`+meta2026+`}}`,
		summary{Type: req, Direction: c2s, ID: "1", Method: "server/discover", Era: modern, Version: "2026-07-28"})
	h.expect("s", server, 2, `{"jsonrpc":"2.0","id":1,"result":{"resultType":"complete","supportedVersions":["2026-07-28","2025-11-25"],"capabilities":{},"ttlMs":60000,"cacheScope":"public"}}`,
		summary{Type: resp, Direction: s2c, ID: "1", Method: "server/discover", Era: modern, Version: "2026-07-28", Latency: "2"})
	// Progress and log notifications are server→client in the modern era.
	h.expect("s", server, 3, `{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"hi"}}`,
		summary{Type: notif, Direction: s2c, Method: "notifications/message", Era: modern, Version: "2026-07-28"})
}

func TestDiscoverProbeFallsBackToLegacy(t *testing.T) {
	h := newHarness(t, Limits{})
	h.expect("s", client, 0, `{"jsonrpc":"2.0","id":0,"method":"server/discover"}`,
		summary{Type: req, Direction: c2s, ID: "0", Method: "server/discover", Era: modern})
	h.expect("s", server, 1, `{"jsonrpc":"2.0","id":0,"error":{"code":-32601,"message":"Method not found"}}`,
		summary{Type: resp, Direction: s2c, ID: "0", Method: "server/discover", Latency: "1"})
	h.expect("s", client, 2, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25"}}`,
		summary{Type: req, Direction: c2s, ID: "1", Method: "initialize", Era: legacy, Version: "2025-11-25"})
	h.expect("s", server, 3, `{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-11-25","capabilities":{},"serverInfo":{"name":"x","version":"1"}}}`,
		summary{Type: resp, Direction: s2c, ID: "1", Method: "initialize", Era: legacy, Version: "2025-11-25", Latency: "1"})
}

func TestMidSessionStart(t *testing.T) {
	h := newHarness(t, Limits{})
	// The capture starts while a call is in flight: its response matches nothing and no role is known yet.
	h.expect("s", server, 0, `{"jsonrpc":"2.0","id":7,"result":{"content":[]}}`,
		summary{Type: resp, ID: "7"})
	h.expect("s", server, 1, `{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"x"}}`,
		summary{Type: notif, Direction: s2c, Method: "notifications/message"})
	// ping goes either way; the roles are known from the notification. A request without a _meta version is legacy.
	h.expect("s", client, 2, `{"jsonrpc":"2.0","id":8,"method":"ping"}`,
		summary{Type: req, Direction: c2s, ID: "8", Method: "ping", Era: legacy})
	h.expect("s", server, 3, `{"jsonrpc":"2.0","id":8,"result":{}}`,
		summary{Type: resp, Direction: s2c, ID: "8", Method: "ping", Era: legacy, Latency: "1"})
	h.stats(Stats{Sessions: 1, Matched: 1, UnmatchedResponses: 1})

	// An InitializeResult whose request was missed still gives the version.
	h.expect("t", server, 0, `{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-03-26","capabilities":{},"serverInfo":{"name":"x","version":"1"}}}`,
		summary{Type: resp, ID: "0", Era: legacy, Version: "2025-03-26"})
	// The era inferred from a request without a version gives way to the first version seen.
	h.expect("v", client, 0, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`,
		summary{Type: req, Direction: c2s, ID: "1", Method: "tools/list", Era: legacy})
	h.expect("v", client, 1, `{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{`+meta2026+`}}`,
		summary{Type: req, Direction: c2s, ID: "2", Method: "tools/list", Era: modern, Version: "2026-07-28"})
	// A modern server's response shows its role.
	h.send("u", client, 0, `{"jsonrpc":"2.0","id":1,"method":"ping","params":{`+meta2026+`}}`)
	h.expect("u", server, 1, `{"jsonrpc":"2.0","id":99,"result":{"resultType":"complete"}}`,
		summary{Type: resp, Direction: s2c, ID: "99", Era: modern, Version: "2026-07-28"})
}

func TestUnknownAndExtensionMethods(t *testing.T) {
	h := newHarness(t, Limits{})
	h.send("s", client, 0, `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25"}}`)
	h.expect("s", client, 1, `{"jsonrpc":"2.0","id":1,"method":"skills/list","params":{}}`,
		summary{Type: req, Direction: c2s, ID: "1", Method: "skills/list", Kind: KindExtension, Era: legacy, Version: "2025-11-25"})
	h.expect("s", client, 2, `{"jsonrpc":"2.0","id":2,"method":"acme/frobnicate","params":{}}`,
		summary{Type: req, Direction: c2s, ID: "2", Method: "acme/frobnicate", Kind: KindUnknown, Era: legacy, Version: "2025-11-25"})
	h.expect("s", server, 3, `{"jsonrpc":"2.0","id":2,"error":{"code":-32601,"message":"Method not found"}}`,
		summary{Type: resp, Direction: s2c, ID: "2", Method: "acme/frobnicate", Kind: KindUnknown, Era: legacy, Version: "2025-11-25", Latency: "1"})
	h.expect("s", server, 4, `{"jsonrpc":"2.0","method":"acme/notice"}`,
		summary{Type: notif, Direction: s2c, Method: "acme/notice", Kind: KindUnknown, Era: legacy, Version: "2025-11-25"})
}

func TestBatchCorrelation(t *testing.T) {
	h := newHarness(t, Limits{})
	batch := `[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":2,"method":"prompts/list"},{"jsonrpc":"2.0","method":"notifications/initialized"}]`
	recs := h.send("s", client, 0, batch)
	if len(recs) != 3 || recs[2].Batch == nil || *recs[2].Batch != (record.Batch{Index: 2, Count: 3, Size: len(batch)}) {
		t.Fatalf("batch records: %+v", recs)
	}
	recs = h.send("s", server, 4, `[{"jsonrpc":"2.0","id":2,"result":{"prompts":[]}},{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}]`)
	want := []summary{
		{Type: resp, Direction: s2c, ID: "2", Method: "prompts/list", Era: legacy, Latency: "4"},
		{Type: resp, Direction: s2c, ID: "1", Method: "tools/list", Era: legacy, Latency: "4"},
	}
	for i := range recs {
		if got := summarize(&recs[i]); got != want[i] || recs[i].Batch == nil || recs[i].Batch.Index != i {
			t.Errorf("response %d: got %+v batch %+v, want %+v", i, got, recs[i].Batch, want[i])
		}
	}
}

func TestSubscriptionListen(t *testing.T) {
	h := newHarness(t, Limits{})
	h.send("s", client, 0, `{"jsonrpc":"2.0","id":4,"method":"subscriptions/listen","params":{"notifications":{"toolsListChanged":true},`+meta2026+`}}`)
	h.expect("s", server, 1, `{"jsonrpc":"2.0","method":"notifications/subscriptions/acknowledged","params":{"_meta":{"io.modelcontextprotocol/subscriptionId":4}}}`,
		summary{Type: notif, Direction: s2c, Method: "notifications/subscriptions/acknowledged", Era: modern, Version: "2026-07-28", Related: "4"})
	h.expect("s", server, 2, `{"jsonrpc":"2.0","method":"notifications/tools/list_changed","params":{"_meta":{"io.modelcontextprotocol/subscriptionId":4}}}`,
		summary{Type: notif, Direction: s2c, Method: "notifications/tools/list_changed", Era: modern, Version: "2026-07-28", Related: "4"})
	// On stdio the server ends the subscription by cancelling the client's listen request.
	h.expect("s", server, 60000, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":4,"reason":"shutting down"}}`,
		summary{Type: notif, Direction: s2c, Method: "notifications/cancelled", Era: modern, Version: "2026-07-28", Related: "4"})
	h.expect("s", server, 60001, `{"jsonrpc":"2.0","id":4,"result":{"resultType":"complete"}}`,
		summary{Type: resp, Direction: s2c, ID: "4", Method: "subscriptions/listen", Era: modern, Version: "2026-07-28", Latency: "60001", Late: true})
}

func TestEvictionPerSession(t *testing.T) {
	h := newHarness(t, Limits{MaxPendingPerSession: 2})
	for id := 1; id <= 3; id++ {
		h.send("s", client, id, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/list"}`, id))
	}
	h.stats(Stats{Sessions: 1, Pending: 2, Evicted: 1})
	h.expect("s", server, 10, `{"jsonrpc":"2.0","id":1,"result":{}}`, summary{Type: resp, Direction: s2c, ID: "1", Era: legacy})
	h.expect("s", server, 10, `{"jsonrpc":"2.0","id":2,"result":{}}`, summary{Type: resp, Direction: s2c, ID: "2", Method: "tools/list", Latency: "8", Era: legacy})

	// A cancelled request goes before older live ones.
	h.send("s", client, 20, `{"jsonrpc":"2.0","id":4,"method":"tools/list"}`) // pending: 3, 4
	h.send("s", client, 21, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":4}}`)
	h.send("s", client, 22, `{"jsonrpc":"2.0","id":5,"method":"tools/list"}`) // evicts 4, not 3
	h.expect("s", server, 30, `{"jsonrpc":"2.0","id":3,"result":{}}`, summary{Type: resp, Direction: s2c, ID: "3", Method: "tools/list", Latency: "27", Era: legacy})
	h.expect("s", server, 30, `{"jsonrpc":"2.0","id":4,"result":{}}`, summary{Type: resp, Direction: s2c, ID: "4", Era: legacy})
	h.stats(Stats{Sessions: 1, Pending: 1, Matched: 2, UnmatchedResponses: 2, Evicted: 2, Cancelled: 1})
}

func TestEvictionOverall(t *testing.T) {
	h := newHarness(t, Limits{MaxPending: 3})
	h.send("a", client, 0, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
	h.send("a", client, 1, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
	h.send("b", client, 2, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
	h.send("b", client, 3, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`) // evicts a:1, the oldest overall
	h.stats(Stats{Sessions: 2, Pending: 3, Evicted: 1})
	h.expect("a", server, 5, `{"jsonrpc":"2.0","id":1,"result":{}}`, summary{Type: resp, Direction: s2c, ID: "1", Era: legacy})
	h.expect("b", server, 5, `{"jsonrpc":"2.0","id":1,"result":{}}`, summary{Type: resp, Direction: s2c, ID: "1", Method: "tools/list", Latency: "3", Era: legacy})
}

func TestEvictionOfSessions(t *testing.T) {
	h := newHarness(t, Limits{MaxSessions: 2})
	h.send("a", client, 0, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
	h.send("b", client, 1, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
	h.send("a", client, 2, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`) // a is now the most recently active
	h.send("c", client, 3, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`) // evicts b
	h.stats(Stats{Sessions: 2, Pending: 3, Evicted: 1, EvictedSessions: 1})
	h.expect("a", server, 5, `{"jsonrpc":"2.0","id":1,"result":{}}`, summary{Type: resp, Direction: s2c, ID: "1", Method: "tools/list", Latency: "5", Era: legacy})
}

func TestEndSession(t *testing.T) {
	h := newHarness(t, Limits{})
	h.send("s", client, 0, `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}`)
	h.send("s", client, 1, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}}`)
	h.send("x", client, 1, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}}`)
	h.c.EndSession("s")
	h.c.EndSession("never-seen")
	h.stats(Stats{Sessions: 1, Pending: 1, Unanswered: 2})
	// A new conversation under the same key starts from nothing.
	h.expect("s", server, 5, `{"jsonrpc":"2.0","id":1,"result":{}}`, summary{Type: resp, ID: "1"})
}

func TestDuplicateRequestID(t *testing.T) {
	h := newHarness(t, Limits{})
	h.send("s", client, 0, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
	h.send("s", client, 5, `{"jsonrpc":"2.0","id":1,"method":"prompts/list"}`)
	h.expect("s", server, 6, `{"jsonrpc":"2.0","id":1,"result":{}}`, summary{Type: resp, Direction: s2c, ID: "1", Method: "prompts/list", Latency: "1", Era: legacy})
	h.stats(Stats{Sessions: 1, Matched: 1, DuplicateIDs: 1})
}

func TestAnnotateOverwritesReusedRecord(t *testing.T) {
	c := NewCorrelator(Limits{})
	var rec record.Message
	annotate := func(sender int, frame string) {
		ps, err := Parse([]byte(frame))
		if err != nil {
			t.Fatal(err)
		}
		c.Annotate("s", sender, &ps[0], epoch, &rec)
	}
	annotate(client, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","_meta":{"progressToken":1}}}`)
	annotate(client, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}`)
	annotate(server, `{"jsonrpc":"2.0","id":1,"result":{"isError":true}}`)
	if rec.LatencyMs == nil || !rec.Late || rec.IsError == nil {
		t.Fatalf("response record: %+v", rec)
	}
	annotate(server, `{"jsonrpc":"2.0","method":"notifications/message","params":{}}`)
	want := summary{Type: notif, Direction: s2c, Method: "notifications/message", Era: legacy}
	if got := summarize(&rec); got != want || rec.IsError != nil || rec.ProgressToken != nil || rec.Error != nil {
		t.Errorf("stale fields: %+v", rec)
	}
}

func TestManyWritersInOneSession(t *testing.T) {
	h := newHarness(t, Limits{})
	for pid := 1; pid <= maxSidesPerSession+4; pid++ {
		h.send("s", pid, pid, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"ping"}`, pid))
	}
	if st := h.c.Stats(); st.Pending != maxSidesPerSession {
		t.Errorf("pending = %d, want %d (writers past the limit keep no state)", st.Pending, maxSidesPerSession)
	}
}

func TestStatsCounters(t *testing.T) {
	m := Stats{Pending: 2, Matched: 3, Late: 1}.Counters()
	for name, want := range map[string]uint64{"pending": 2, "matched": 3, "late": 1, "unmatched_responses": 0} {
		if got, ok := m[name]; !ok || got != want {
			t.Errorf("counter %s = %d, %v; want %d", name, got, ok, want)
		}
	}
	for name := range m {
		if strings.ToLower(name) != name || strings.Contains(name, " ") {
			t.Errorf("counter name %q is not snake_case", name)
		}
	}
}
