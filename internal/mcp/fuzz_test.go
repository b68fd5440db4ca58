package mcp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mcpscope/mcpscope/internal/record"
)

// seedFrames are real message shapes for both fuzz targets (more live in testdata/fuzz).
var seedFrames = []string{
	`{"result":{"content":[{"type":"text","text":"Echo: hi"}]},"jsonrpc":"2.0","id":1}`,
	`{"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"},"_meta":{"progressToken":2}},"jsonrpc":"2.0","id":2}`,
	`{"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}}}`,
	`{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-06-18","capabilities":{},"serverInfo":{"name":"s","version":"1"}}}`,
	`{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}`,
	`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2,"reason":"x"}}`,
	`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":2,"progress":1}}`,
	`[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","method":"notifications/initialized"}]`,
	`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"d","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}`,
	`{"jsonrpc":"2.0","id":3,"result":{"resultType":"input_required","inputRequests":{"a":{}},"requestState":"s"}}`,
	`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"d","inputResponses":{"a":{}},"requestState":"s"}}`,
	`{"jsonrpc":"2.0","id":"\u0061","m\u0065thod":"prompts/get","params":{"name":"\ud83d\ude00"}}`,
	`{"jsonrpc":"2.0","id":5,"method":"completion/complete","params":{"ref":{"type":"ref/resource","uri":"u"}}}`,
	`{"jsonrpc":"2.0","id":6,"result":{"supportedVersions":["2026-07-28"],"isError":false}}`,
	`Starting server...`,
	`[[[[[[]]]]]]`,
}

func FuzzParse(f *testing.F) {
	for _, s := range seedFrames {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, err := Parse(data)
		valid := json.Valid(data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || (pe.Err != ErrInvalidJSON && pe.Err != ErrNotJSONRPC) {
				t.Fatalf("error %v is not a *ParseError with a known cause", err)
			}
			if pe.Offset < 0 || pe.Offset > len(data) {
				t.Fatalf("error offset %d outside the frame of %d bytes", pe.Offset, len(data))
			}
			if (pe.Err == ErrInvalidJSON) == valid {
				t.Fatalf("Parse says %v; json.Valid says %v", err, valid)
			}
			if ps != nil {
				t.Fatalf("messages returned with an error")
			}
			return
		}
		if !valid {
			t.Fatalf("Parse accepted invalid JSON")
		}
		if len(ps) == 0 {
			t.Fatalf("no messages and no error")
		}
		for i, p := range ps {
			if !json.Valid(p.Raw) || !bytes.Contains(data, p.Raw) {
				t.Fatalf("message %d: Raw %q is not valid JSON from the frame", i, p.Raw)
			}
			if (len(ps) > 1 || data[firstNonSpace(data)] == '[') != (p.Batch != nil) {
				t.Fatalf("message %d: Batch %+v", i, p.Batch)
			}
			for _, raw := range [][]byte{p.ID, p.ProgressToken, p.CancelRequestID, p.SubscriptionID, p.Arguments} {
				if raw != nil && !json.Valid(raw) {
					t.Fatalf("message %d: raw field %q is not JSON", i, raw)
				}
			}
			if !utf8.Valid(p.Raw) {
				continue // encoding/json would replace invalid bytes with U+FFFD; Parse keeps them
			}
			want, err := referenceParse(p.Raw)
			if err != nil {
				t.Fatalf("message %d: the reference refuses it: %v", i, err)
			}
			got := viewOf(p)
			got.Raw = ""
			if !reflect2(got, want) {
				t.Fatalf("message %d:\n got %+v\nwant %+v", i, got, want)
			}
		}
	})
}

func firstNonSpace(b []byte) int {
	return len(b) - len(bytes.TrimLeft(b, " \t\r\n"))
}

// reflect2 compares views, treating nil and empty slices alike.
func reflect2(a, b view) bool {
	eq := func(x, y []string) bool { return slices.Equal(x, y) }
	if !eq(a.InputRequestKeys, b.InputRequestKeys) || !eq(a.InputResponseKeys, b.InputResponseKeys) ||
		!eq(a.SupportedVersions, b.SupportedVersions) {
		return false
	}
	a.InputRequestKeys, b.InputRequestKeys = nil, nil
	a.InputResponseKeys, b.InputResponseKeys = nil, nil
	a.SupportedVersions, b.SupportedVersions = nil, nil
	a.Batch, b.Batch = "", ""
	return fmt.Sprint(a) == fmt.Sprint(b)
}

// referenceParse is an independent, slow reading of one message with encoding/json: what Parse must agree with.
func referenceParse(raw []byte) (view, error) {
	var v view
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return v, err
	}
	obj := func(raw json.RawMessage) map[string]json.RawMessage {
		var m map[string]json.RawMessage
		if len(raw) > 0 && raw[0] == '{' {
			_ = json.Unmarshal(raw, &m)
		}
		return m
	}
	str := func(raw json.RawMessage) (string, bool) {
		var s string
		if len(raw) == 0 || raw[0] != '"' {
			return "", false
		}
		return s, json.Unmarshal(raw, &s) == nil
	}
	keys := func(raw json.RawMessage) []string {
		m := obj(raw)
		if len(m) > maxCollectedKeys {
			return nil
		}
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return ks
	}
	if s, _ := str(top["jsonrpc"]); s != "2.0" {
		return v, errors.New("not 2.0")
	}
	v.ID = string(top["id"])
	params, result, rpcErr := obj(top["params"]), obj(top["result"]), obj(top["error"])
	meta, ref := obj(params["_meta"]), obj(params["ref"])
	if rawMethod, ok := top["method"]; ok {
		v.Method, _ = str(rawMethod)
		v.Type = record.TypeNotification
		if _, ok := top["id"]; ok {
			v.Type = record.TypeRequest
		}
		if pv, ok := str(meta["io.modelcontextprotocol/protocolVersion"]); ok {
			v.ProtocolVersion = pv
		} else if v.Method == "initialize" {
			v.ProtocolVersion, _ = str(params["protocolVersion"])
		}
		switch v.Method {
		case "tools/call":
			v.Tool, _ = str(params["name"])
		case "prompts/get":
			v.Prompt, _ = str(params["name"])
		case "resources/read", "resources/subscribe", "resources/unsubscribe", "notifications/resources/updated", "resources/directory/read":
			v.Resource, _ = str(params["uri"])
		case "completion/complete":
			switch typ, _ := str(ref["type"]); typ {
			case "ref/prompt":
				v.Prompt, _ = str(ref["name"])
			case "ref/resource":
				v.Resource, _ = str(ref["uri"])
			}
		case "notifications/cancelled":
			v.CancelRequestID = string(params["requestId"])
		}
		if v.Type == record.TypeRequest {
			v.ProgressToken = string(meta["progressToken"])
		} else if v.Method == "notifications/progress" {
			v.ProgressToken = string(params["progressToken"])
		}
		v.SubscriptionID = string(meta["io.modelcontextprotocol/subscriptionId"])
		v.Arguments = string(params["arguments"])
		v.RequestState, _ = str(params["requestState"])
		if ir := params["inputResponses"]; len(ir) > 0 && ir[0] == '{' {
			v.HasInputResponses = true
			v.InputResponseKeys = keys(ir)
		}
		return v, nil
	}
	v.Type = record.TypeResponse
	if _, ok := top["result"]; ok {
		if b := result["isError"]; len(b) > 0 && (b[0] == 't' || b[0] == 'f') {
			v.IsError = fmt.Sprint(b[0] == 't')
		}
		v.ResultType, _ = str(result["resultType"])
		v.InputRequired = v.ResultType == "input_required"
		v.ProtocolVersion, _ = str(result["protocolVersion"])
		v.RequestState, _ = str(result["requestState"])
		v.InputRequestKeys = keys(result["inputRequests"])
		var versions []json.RawMessage
		if sv := result["supportedVersions"]; len(sv) > 0 && sv[0] == '[' {
			_ = json.Unmarshal(sv, &versions)
		}
		for _, raw := range versions {
			if s, ok := str(raw); ok && len(v.SupportedVersions) < maxSupportedVersions {
				v.SupportedVersions = append(v.SupportedVersions, s)
			}
		}
		return v, nil
	}
	var code int64
	var n json.Number
	if json.Unmarshal(rpcErr["code"], &n) == nil {
		if i, err := n.Int64(); err == nil {
			code = i
		} else if f, err := n.Float64(); err == nil && f == float64(int64(f)) {
			code = int64(f)
		}
	}
	msg, _ := str(rpcErr["message"])
	v.Error = fmt.Sprintf("%d %s", code, msg)
	return v, nil
}

// FuzzCorrelator feeds a script of frames to a Correlator with small limits and checks its bookkeeping after every
// step. Each line of the input is one frame; its first byte picks the session (bits 0-1), the writer (bit 2),
// whether to end the session first (bit 3), and the time step (bits 4-7, in milliseconds).
func FuzzCorrelator(f *testing.F) {
	f.Add([]byte(joinScript(
		"\x00"+seedFrames[1],
		"\x14"+`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":2,"progress":1}}`,
		"\x00"+`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2}}`,
		"\x24"+`{"result":{},"jsonrpc":"2.0","id":2}`,
	)))
	f.Add([]byte(joinScript(
		"\x00"+seedFrames[8],
		"\x04"+seedFrames[9],
		"\x00"+seedFrames[10],
		"\x04"+`{"jsonrpc":"2.0","id":4,"result":{"resultType":"complete"}}`,
	)))
	f.Add([]byte(joinScript(
		"\x00"+seedFrames[7],
		"\x05"+`[{"jsonrpc":"2.0","id":1,"result":{}}]`,
		"\x08"+seedFrames[2],
		"\x0c"+seedFrames[3],
	)))
	f.Fuzz(func(t *testing.T, script []byte) {
		limits := Limits{MaxPendingPerSession: 3, MaxPending: 5, MaxSessions: 2}
		c := NewCorrelator(limits)
		now := epoch
		var rec record.Message
		for line := range bytes.SplitSeq(script, []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			ctl, frame := line[0], line[1:]
			session := fmt.Sprint("s", ctl&3)
			sender := 100 + int(ctl>>2&1)
			if ctl&8 != 0 {
				c.EndSession(session)
			}
			now = now.Add(time.Duration(ctl>>4) * time.Millisecond)
			ps, err := Parse(frame)
			if err != nil {
				continue
			}
			for i := range ps {
				c.Annotate(session, sender, &ps[i], now, &rec)
				checkRecord(t, &ps[i], &rec)
				if err := c.checkInvariants(); err != nil {
					t.Fatalf("after %q: %v", frame, err)
				}
			}
			st := c.Stats()
			if st.Sessions > limits.MaxSessions || st.Pending+st.AwaitingRetry > limits.MaxPending || st.Late > st.Matched {
				t.Fatalf("stats out of bounds: %+v", st)
			}
		}
		for _, s := range []string{"s0", "s1", "s2", "s3"} {
			c.EndSession(s)
		}
		if st := c.Stats(); st.Sessions != 0 || st.Pending != 0 || st.AwaitingRetry != 0 {
			t.Fatalf("state left after every session ended: %+v", st)
		}
		if err := c.checkInvariants(); err != nil {
			t.Fatal(err)
		}
	})
}

func joinScript(lines ...string) string {
	return string(bytes.Join(func() [][]byte {
		var out [][]byte
		for _, l := range lines {
			out = append(out, []byte(l))
		}
		return out
	}(), []byte("\n")))
}

// checkRecord checks what any annotated record must satisfy.
func checkRecord(t *testing.T, p *Parsed, rec *record.Message) {
	t.Helper()
	if rec.Type != p.Type || string(rec.Message) != string(p.Raw) || string(rec.ID) != string(p.ID) {
		t.Fatalf("record does not reflect the message: %+v", rec)
	}
	switch rec.Direction {
	case "", record.ClientToServer, record.ServerToClient:
	default:
		t.Fatalf("direction %q", rec.Direction)
	}
	switch rec.Era {
	case "", record.EraLegacy, record.EraModern:
	default:
		t.Fatalf("era %q", rec.Era)
	}
	switch rec.MethodKind {
	case KindProtocol, KindExtension, KindUnknown:
	default:
		t.Fatalf("method kind %q", rec.MethodKind)
	}
	// Every matched response has a latency (a request may have the method "", so that alone proves nothing).
	if rec.LatencyMs != nil && rec.Type != record.TypeResponse || rec.Type == record.TypeResponse && rec.Method != "" && rec.LatencyMs == nil {
		t.Fatalf("latency %v on a %s for %q", rec.LatencyMs, rec.Type, rec.Method)
	}
	if rec.LatencyMs != nil && *rec.LatencyMs < 0 {
		t.Fatalf("negative latency %v", *rec.LatencyMs)
	}
	if rec.RetryOf != nil && rec.Type != record.TypeRequest || rec.Late && rec.Type != record.TypeResponse {
		t.Fatalf("RetryOf %s / Late %v on a %s", rec.RetryOf, rec.Late, rec.Type)
	}
	for _, raw := range []json.RawMessage{rec.RelatedID, rec.RetryOf, rec.ProgressToken} {
		if raw != nil && !json.Valid(raw) {
			t.Fatalf("raw field %q is not JSON", raw)
		}
	}
}

// checkInvariants verifies that the correlator's maps, lists and counters agree.
func (c *Correlator) checkInvariants() error {
	inAll := make(map[*entry]bool)
	n := 0
	for e := c.open.head; e != nil; e = e.links[linkAll].next {
		if inAll[e] {
			return errors.New("a cycle in the overall list")
		}
		inAll[e] = true
		n++
	}
	if n != c.open.len || n != c.pending+c.awaiting {
		return fmt.Errorf("overall list holds %d, len %d, pending %d + awaiting %d", n, c.open.len, c.pending, c.awaiting)
	}
	if n > c.limits.MaxPending {
		return fmt.Errorf("%d open requests, limit %d", n, c.limits.MaxPending)
	}
	if len(c.sessions) > c.limits.MaxSessions {
		return fmt.Errorf("%d sessions, limit %d", len(c.sessions), c.limits.MaxSessions)
	}
	sessions := 0
	for s := c.lru.head; s != nil; s = s.next {
		sessions++
		if c.sessions[s.key] != s {
			return fmt.Errorf("session %q in the activity list but not the map", s.key)
		}
	}
	if sessions != len(c.sessions) {
		return fmt.Errorf("activity list holds %d sessions, the map %d", sessions, len(c.sessions))
	}
	seen := 0
	for _, s := range c.sessions {
		m := 0
		for e := s.open.head; e != nil; e = e.links[linkSession].next {
			m++
			if !inAll[e] || e.side.session != s {
				return fmt.Errorf("session %q lists an entry it does not own", s.key)
			}
			sd := e.side
			if e.awaitingRetry {
				if !slices.Contains(sd.chains[e.chainKey], e) {
					return fmt.Errorf("entry %s awaiting retry is not in its chains", e.id)
				}
			} else if sd.pending[e.key] != e {
				return fmt.Errorf("entry %s is not pending under its key", e.id)
			}
		}
		if m != s.open.len || m > c.limits.MaxPendingPerSession {
			return fmt.Errorf("session %q lists %d entries, len %d, limit %d", s.key, m, s.open.len, c.limits.MaxPendingPerSession)
		}
		seen += m
		for _, sd := range s.sides {
			for _, e := range sd.pending {
				if !inAll[e] || e.side != sd || e.awaitingRetry {
					return errors.New("a pending map holds a stale entry")
				}
			}
			for _, e := range sd.progress {
				if !inAll[e] || e.side != sd {
					return errors.New("a progress map holds a stale entry")
				}
			}
			for _, chain := range sd.chains {
				for _, e := range chain {
					if !inAll[e] || !e.awaitingRetry {
						return errors.New("a chain holds a stale entry")
					}
				}
			}
		}
	}
	if seen != n {
		return fmt.Errorf("sessions list %d entries, overall %d", seen, n)
	}
	return nil
}
