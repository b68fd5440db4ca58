package mcp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/mcpscope/mcpscope/internal/record"
)

// view is the part of a Parsed a test states, with raw JSON as strings so that failures read well.
type view struct {
	Type, ID, Method       string
	Tool, Resource, Prompt string
	IsError                string // "", "true" or "false"
	Error                  string // "code message"
	ProtocolVersion        string
	ResultType             string
	ProgressToken          string
	CancelRequestID        string
	SubscriptionID         string
	Arguments              string
	RequestState           string
	InputResponseKeys      []string
	HasInputResponses      bool
	InputRequestKeys       []string
	InputRequired          bool
	SupportedVersions      []string
	Batch                  string // "index/count/size"
	Raw                    string // checked only when set in the want
}

func viewOf(p Parsed) view {
	v := view{
		Type: p.Type, ID: string(p.ID), Method: p.Method,
		Tool: p.Tool, Resource: p.Resource, Prompt: p.Prompt,
		ProtocolVersion: p.ProtocolVersion, ResultType: p.ResultType,
		ProgressToken: string(p.ProgressToken), CancelRequestID: string(p.CancelRequestID),
		SubscriptionID: string(p.SubscriptionID), Arguments: string(p.Arguments), RequestState: p.RequestState,
		InputResponseKeys: p.InputResponseKeys, HasInputResponses: p.HasInputResponses,
		InputRequestKeys: p.InputRequestKeys, InputRequired: p.InputRequired,
		SupportedVersions: p.SupportedVersions, Raw: string(p.Raw),
	}
	if p.IsError != nil {
		v.IsError = fmt.Sprint(*p.IsError)
	}
	if p.Error != nil {
		v.Error = fmt.Sprintf("%d %s", p.Error.Code, p.Error.Message)
	}
	if p.Batch != nil {
		v.Batch = fmt.Sprintf("%d/%d/%d", p.Batch.Index, p.Batch.Count, p.Batch.Size)
	}
	return v
}

const (
	req   = record.TypeRequest
	resp  = record.TypeResponse
	notif = record.TypeNotification
)

func TestParse(t *testing.T) {
	tests := []struct {
		name  string
		frame string
		want  []view
	}{
		{
			name:  "TS SDK response, result before jsonrpc and id",
			frame: `{"result":{"content":[{"type":"text","text":"Echo: hi"}]},"jsonrpc":"2.0","id":1}`,
			want:  []view{{Type: resp, ID: "1"}},
		},
		{
			name:  "TS SDK request with progress token",
			frame: `{"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"},"_meta":{"progressToken":2}},"jsonrpc":"2.0","id":2}`,
			want:  []view{{Arguments: `{"message":"hi"}`, Type: req, ID: "2", Method: "tools/call", Tool: "echo", ProgressToken: "2"}},
		},
		{
			name:  "go-sdk initialize",
			frame: `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{"roots":{"listChanged":true}},"clientInfo":{"name":"mcpscope-test","version":"v1.0.0"},"protocolVersion":"2025-06-18"}}`,
			want:  []view{{Type: req, ID: "1", Method: "initialize", ProtocolVersion: "2025-06-18"}},
		},
		{
			name:  "go-sdk initialize result",
			frame: `{"jsonrpc":"2.0","id":1,"result":{"capabilities":{"logging":{},"tools":{"listChanged":true}},"protocolVersion":"2025-06-18","serverInfo":{"name":"srv","version":"v1"}}}`,
			want:  []view{{Type: resp, ID: "1", ProtocolVersion: "2025-06-18"}},
		},
		{
			name:  "Python SDK with spaces",
			frame: `{"jsonrpc": "2.0", "id": 0, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 1, "b": 2}}}`,
			want:  []view{{Arguments: `{"a": 1, "b": 2}`, Type: req, ID: "0", Method: "tools/call", Tool: "add"}},
		},
		{
			name:  "Python SDK response with spaces and CR",
			frame: " {\"jsonrpc\": \"2.0\", \"id\": 0, \"result\": {\"content\": [{\"type\": \"text\", \"text\": \"3\"}], \"isError\": false}}\r",
			want:  []view{{Type: resp, ID: "0", IsError: "false", Raw: `{"jsonrpc": "2.0", "id": 0, "result": {"content": [{"type": "text", "text": "3"}], "isError": false}}`}},
		},
		{
			name:  "string id",
			frame: `{"jsonrpc":"2.0","id":"req-7","method":"tools/list","params":{"cursor":"abc"}}`,
			want:  []view{{Type: req, ID: `"req-7"`, Method: "tools/list"}},
		},
		{
			name:  "tool error is not a JSON-RPC error",
			frame: `{"result":{"content":[{"type":"text","text":"disk full"}],"isError":true},"jsonrpc":"2.0","id":4}`,
			want:  []view{{Type: resp, ID: "4", IsError: "true"}},
		},
		{
			name:  "method not found",
			frame: `{"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"Method not found"}}`,
			want:  []view{{Type: resp, ID: "3", Error: "-32601 Method not found"}},
		},
		{
			name:  "error with data and integral float code",
			frame: `{"jsonrpc":"2.0","id":"x","error":{"data":{"supported":["2026-07-28"],"requested":"1999-01-01"},"message":"Unsupported protocol version","code":-32022.0}}`,
			want:  []view{{Type: resp, ID: `"x"`, Error: "-32022 Unsupported protocol version"}},
		},
		{
			name:  "parse error with null id",
			frame: `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}`,
			want:  []view{{Type: resp, ID: "null", Error: "-32700 Parse error"}},
		},
		{
			name:  "error without id",
			frame: `{"jsonrpc":"2.0","error":{"code":-32000,"message":"Bad Request: No valid session ID provided"}}`,
			want:  []view{{Type: resp, Error: "-32000 Bad Request: No valid session ID provided"}},
		},
		{
			name:  "notification",
			frame: `{"method":"notifications/tools/list_changed","jsonrpc":"2.0"}`,
			want:  []view{{Type: notif, Method: "notifications/tools/list_changed"}},
		},
		{
			name:  "cancellation",
			frame: `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7,"reason":"timed out"}}`,
			want:  []view{{Type: notif, Method: "notifications/cancelled", CancelRequestID: "7"}},
		},
		{
			name:  "progress",
			frame: `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"tok-1","progress":1,"total":4,"message":"step 1"}}`,
			want:  []view{{Type: notif, Method: "notifications/progress", ProgressToken: `"tok-1"`}},
		},
		{
			name:  "resources/read",
			frame: `{"jsonrpc":"2.0","id":9,"method":"resources/read","params":{"uri":"file:///tmp/a.txt"}}`,
			want:  []view{{Type: req, ID: "9", Method: "resources/read", Resource: "file:///tmp/a.txt"}},
		},
		{
			name:  "resources/subscribe",
			frame: `{"jsonrpc":"2.0","id":10,"method":"resources/subscribe","params":{"uri":"test://static/resource/1"}}`,
			want:  []view{{Type: req, ID: "10", Method: "resources/subscribe", Resource: "test://static/resource/1"}},
		},
		{
			name:  "resources/updated",
			frame: `{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"test://static/resource/1"}}`,
			want:  []view{{Type: notif, Method: "notifications/resources/updated", Resource: "test://static/resource/1"}},
		},
		{
			name:  "prompts/get",
			frame: `{"jsonrpc":"2.0","id":11,"method":"prompts/get","params":{"name":"simple_prompt","arguments":{}}}`,
			want:  []view{{Arguments: `{}`, Type: req, ID: "11", Method: "prompts/get", Prompt: "simple_prompt"}},
		},
		{
			name:  "completion for a prompt",
			frame: `{"jsonrpc":"2.0","id":12,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"greet"},"argument":{"name":"x","value":"a"}}}`,
			want:  []view{{Type: req, ID: "12", Method: "completion/complete", Prompt: "greet"}},
		},
		{
			name:  "completion for a resource template",
			frame: `{"jsonrpc":"2.0","id":13,"method":"completion/complete","params":{"argument":{"name":"id","value":"1"},"ref":{"uri":"test://static/resource/{id}","type":"ref/resource"}}}`,
			want:  []view{{Type: req, ID: "13", Method: "completion/complete", Resource: "test://static/resource/{id}"}},
		},
		{
			name:  "name on another method is not a tool",
			frame: `{"jsonrpc":"2.0","id":14,"method":"tools/list","params":{"name":"echo"}}`,
			want:  []view{{Type: req, ID: "14", Method: "tools/list"}},
		},
		{
			name:  "escapes in member names and values",
			frame: `{"jsonrpc":"2\u002e0","id":"\u0061","\u006dethod":"tools\/call","params":{"na\u006de":"caf\u00e9 \ud83d\ude00"}}`,
			want:  []view{{Type: req, ID: `"\u0061"`, Method: "tools/call", Tool: "café 😀"}},
		},
		{
			name:  "positional params",
			frame: `{"jsonrpc":"2.0","id":1,"method":"custom/thing","params":[1,2,3]}`,
			want:  []view{{Type: req, ID: "1", Method: "custom/thing"}},
		},
		{
			name:  "odd field types do not reject the message",
			frame: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":42,"_meta":[1]}}`,
			want:  []view{{Type: req, ID: "1", Method: "tools/call"}},
		},
		{
			name:  "batch of requests (2025-03-26)",
			frame: `[{"jsonrpc":"2.0","id":1,"method":"tools/list"}, {"jsonrpc":"2.0","method":"notifications/initialized"}]`,
			want: []view{
				{Type: req, ID: "1", Method: "tools/list", Batch: "0/2/104", Raw: `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`},
				{Type: notif, Method: "notifications/initialized", Batch: "1/2/104"},
			},
		},
		{
			name:  "batch of responses",
			frame: `[{"jsonrpc":"2.0","id":2,"result":{"tools":[]}},{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"bad"}}]`,
			want: []view{
				{Type: resp, ID: "2", Batch: "0/2/113"},
				{Type: resp, ID: "1", Error: "-32602 bad", Batch: "1/2/113"},
			},
		},
		{
			name:  "modern request with _meta",
			frame: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"slow","arguments":{},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"c","version":"1"}}}}`,
			want:  []view{{Arguments: `{}`, Type: req, ID: "1", Method: "tools/call", Tool: "slow", ProtocolVersion: "2026-07-28"}},
		},
		{
			name:  "server/discover result",
			frame: `{"jsonrpc":"2.0","id":1,"result":{"resultType":"complete","supportedVersions":["2026-07-28","2025-11-25","2025-06-18","2025-03-26","2024-11-05"],"capabilities":{"tools":{}},"ttlMs":60000,"cacheScope":"public"}}`,
			want:  []view{{Type: resp, ID: "1", ResultType: "complete", SupportedVersions: []string{"2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"}}},
		},
		{
			name:  "input_required result",
			frame: `{"jsonrpc":"2.0","id":5,"result":{"resultType":"input_required","inputRequests":{"confirm":{"method":"elicitation/create","params":{"message":"Deploy?","requestedSchema":{"type":"object"}}},"a":{"method":"roots/list"}},"requestState":"st-1"}}`,
			want:  []view{{Type: resp, ID: "5", ResultType: "input_required", InputRequired: true, InputRequestKeys: []string{"a", "confirm"}, RequestState: "st-1"}},
		},
		{
			name:  "MRTR retry",
			frame: `{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"deploy","arguments":{},"inputResponses":{"confirm":{"action":"accept"},"a":{"roots":[]}},"requestState":"st-1"}}`,
			want:  []view{{Arguments: `{}`, Type: req, ID: "6", Method: "tools/call", Tool: "deploy", RequestState: "st-1", HasInputResponses: true, InputResponseKeys: []string{"a", "confirm"}}},
		},
		{
			name:  "subscription stream notification",
			frame: `{"jsonrpc":"2.0","method":"notifications/tools/list_changed","params":{"_meta":{"io.modelcontextprotocol/subscriptionId":3}}}`,
			want:  []view{{Type: notif, Method: "notifications/tools/list_changed", SubscriptionID: "3"}},
		},
		{
			name:  "unknown method kept",
			frame: `{"jsonrpc":"2.0","id":1,"method":"ui/initialize","params":{}}`,
			want:  []view{{Type: req, ID: "1", Method: "ui/initialize"}},
		},
		{
			name:  "repeated params: the last wins whole, its arguments too",
			frame: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"x":1}},"params":{"name":"b","arguments":{"x":2}}}`,
			want:  []view{{Type: req, ID: "1", Method: "tools/call", Tool: "b", Arguments: `{"x":2}`}},
		},
		{
			name:  "duplicate member: the last wins, as in encoding/json",
			frame: `{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}`,
			want:  []view{{Type: req, ID: "2", Method: "ping"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps, err := Parse([]byte(tt.frame))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(ps) != len(tt.want) {
				t.Fatalf("got %d messages, want %d", len(ps), len(tt.want))
			}
			for i, p := range ps {
				got := viewOf(p)
				want := tt.want[i]
				if want.Raw == "" {
					got.Raw = ""
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("message %d:\n got %+v\nwant %+v", i, got, want)
				}
				if !bytes.Contains([]byte(tt.frame), p.Raw) || !json.Valid(p.Raw) {
					t.Errorf("message %d: Raw %q is not a valid slice of the frame", i, p.Raw)
				}
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	deep := strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1)
	tests := []struct {
		name  string
		frame string
		want  error
	}{
		{"empty", "", ErrInvalidJSON},
		{"blank", " \r", ErrInvalidJSON},
		{"log line on stdout", "Starting MCP server on stdio...", ErrInvalidJSON},
		{"truncated", `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"abc`, ErrInvalidJSON},
		{"trailing garbage", `{"jsonrpc":"2.0","method":"ping","id":1} x`, ErrInvalidJSON},
		{"two messages on one line", `{"jsonrpc":"2.0","method":"a"}{"jsonrpc":"2.0","method":"b"}`, ErrInvalidJSON},
		{"bad escape", `{"jsonrpc":"2.0","method":"a\x"}`, ErrInvalidJSON},
		{"raw control character", "{\"jsonrpc\":\"2.0\",\"method\":\"a\tb\"}", ErrInvalidJSON},
		{"bad number", `{"jsonrpc":"2.0","id":01,"method":"a"}`, ErrInvalidJSON},
		{"single quotes", `{'jsonrpc':'2.0'}`, ErrInvalidJSON},
		{"trailing comma", `{"jsonrpc":"2.0","method":"a",}`, ErrInvalidJSON},
		{"bad element after a non-object", `[1, {`, ErrInvalidJSON},
		{"too deep", deep, ErrInvalidJSON},
		{"a megabyte of brackets", strings.Repeat("[", 1<<20), ErrInvalidJSON},
		{"a megabyte of braces", strings.Repeat(`{"a":`, 1<<18), ErrInvalidJSON},
		{"too deep inside params", `{"jsonrpc":"2.0","method":"a","params":{"x":` + deep + `}}`, ErrInvalidJSON},
		{"number", `42`, ErrNotJSONRPC},
		{"string", `"hello"`, ErrNotJSONRPC},
		{"null", `null`, ErrNotJSONRPC},
		{"empty batch", `[]`, ErrNotJSONRPC},
		{"batch of numbers", `[1,2]`, ErrNotJSONRPC},
		{"nested batch", `[[{"jsonrpc":"2.0","method":"a"}]]`, ErrNotJSONRPC},
		{"batch with a bad element", `[{"jsonrpc":"2.0","method":"a"},{"method":"b"}]`, ErrNotJSONRPC},
		{"no jsonrpc", `{"id":1,"method":"tools/list"}`, ErrNotJSONRPC},
		{"jsonrpc 1.0", `{"jsonrpc":"1.0","id":1,"method":"tools/list"}`, ErrNotJSONRPC},
		{"jsonrpc number", `{"jsonrpc":2.0,"id":1,"method":"tools/list"}`, ErrNotJSONRPC},
		{"object id", `{"jsonrpc":"2.0","id":{},"method":"tools/list"}`, ErrNotJSONRPC},
		{"boolean id", `{"jsonrpc":"2.0","id":true,"result":{}}`, ErrNotJSONRPC},
		{"method not a string", `{"jsonrpc":"2.0","method":1}`, ErrNotJSONRPC},
		{"neither method nor result", `{"jsonrpc":"2.0","id":1}`, ErrNotJSONRPC},
		{"result and error", `{"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1,"message":"x"}}`, ErrNotJSONRPC},
		{"method and result", `{"jsonrpc":"2.0","id":1,"method":"a","result":{}}`, ErrNotJSONRPC},
		{"result without id", `{"jsonrpc":"2.0","result":{}}`, ErrNotJSONRPC},
		{"error not an object", `{"jsonrpc":"2.0","id":1,"error":"boom"}`, ErrNotJSONRPC},
		{"other JSON object", `{"level":"info","msg":"listening"}`, ErrNotJSONRPC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps, err := Parse([]byte(tt.frame))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse(%.60q) = %v, want %v", tt.frame, err, tt.want)
			}
			if ps != nil {
				t.Errorf("got messages %v with the error", ps)
			}
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Offset < 0 || pe.Offset > len(tt.frame) || pe.Reason == "" {
				t.Errorf("error %#v does not locate the problem", err)
			}
			if wantValid := tt.want == ErrNotJSONRPC; json.Valid([]byte(tt.frame)) != wantValid {
				t.Errorf("json.Valid disagrees with %v", tt.want)
			}
		})
	}
}

func TestParseErrorWording(t *testing.T) {
	_, err := Parse([]byte(`{"jsonrpc":"1.0","id":1,"method":"a"}`))
	if got, want := err.Error(), `not a JSON-RPC 2.0 message at byte 0: "jsonrpc" is "1.0" (want "2.0")`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	_, err = Parse([]byte(`[{"jsonrpc":"2.0","method":"a"},{"method":"b"}]`))
	if got, want := err.Error(), `not a JSON-RPC 2.0 message at byte 32: batch element 1: the "jsonrpc" member is missing`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	_, err = Parse([]byte("Server running"))
	if got, want := err.Error(), `not valid JSON at byte 0: unexpected 'S' where a value should follow`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// TestParseNestingLimitEverywhere nests arrays under every member the parser reads by name, up to the limit and one
// past it: the parser must count the levels it descends itself exactly as encoding/json counts them.
func TestParseNestingLimitEverywhere(t *testing.T) {
	paths := []struct {
		name          string
		before, after string
		levels        int // the containers the frame opens around the nested arrays
	}{
		{"params", `{"jsonrpc":"2.0","method":"a","params":{"x":`, `}}`, 2},
		{"params._meta", `{"jsonrpc":"2.0","method":"a","params":{"_meta":{"x":`, `}}}`, 3},
		{"params._meta.progressToken", `{"jsonrpc":"2.0","method":"a","params":{"_meta":{"progressToken":`, `}}}`, 3},
		{"params.ref", `{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":{"x":`, `}}}`, 3},
		{"params.ref.name", `{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":{"name":`, `}}}`, 3},
		{"params.inputResponses", `{"jsonrpc":"2.0","id":1,"method":"a","params":{"inputResponses":{"x":`, `}}}`, 3},
		{"params.name", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":`, `}}`, 2},
		{"result", `{"jsonrpc":"2.0","id":1,"result":{"x":`, `}}`, 2},
		{"result.inputRequests", `{"jsonrpc":"2.0","id":1,"result":{"inputRequests":{"x":`, `}}}`, 3},
		{"result.supportedVersions", `{"jsonrpc":"2.0","id":1,"result":{"supportedVersions":[`, `]}}`, 3},
		{"error", `{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"m","data":`, `}}`, 2},
		{"error.code", `{"jsonrpc":"2.0","id":1,"error":{"message":"m","code":`, `}}`, 2},
		{"batch params", `[{"jsonrpc":"2.0","method":"a","params":{"x":`, `}}]`, 3},
		{"batch params._meta", `[{"jsonrpc":"2.0","method":"a","params":{"_meta":{"x":`, `}}}]`, 4},
	}
	for _, path := range paths {
		for _, extra := range []int{0, 1} {
			n := maxDepth - path.levels + extra
			frame := path.before + strings.Repeat("[", n) + strings.Repeat("]", n) + path.after
			_, err := Parse([]byte(frame))
			if valid := json.Valid([]byte(frame)); valid != (extra == 0) {
				t.Fatalf("%s, %d levels: json.Valid = %t; the test's level count is off", path.name, n+path.levels, valid)
			}
			if extra == 0 && err != nil {
				t.Errorf("%s, %d levels (the limit): %v", path.name, n+path.levels, err)
			}
			if extra == 1 && (err == nil || !strings.Contains(err.Error(), "nesting deeper than")) {
				t.Errorf("%s, %d levels (one past the limit): err = %v, want nesting deeper than %d levels",
					path.name, n+path.levels, err, maxDepth)
			}
		}
	}
}

func TestAppendParseReusesSlice(t *testing.T) {
	buf := make([]Parsed, 0, 4)
	buf, err := AppendParse(buf[:0], []byte(`{"jsonrpc":"2.0","method":"a"}`))
	if err != nil || len(buf) != 1 {
		t.Fatalf("AppendParse = %v, %v", buf, err)
	}
	buf, err = AppendParse(buf, []byte(`nope`))
	if err == nil || len(buf) != 1 {
		t.Fatalf("AppendParse after an error = %d messages, %v; want the first kept", len(buf), err)
	}
}

func TestCanonicalIDs(t *testing.T) {
	tests := []struct {
		raw  string
		want string
		ok   bool
	}{
		{`1`, "n1", true},
		{`"1"`, "s1", true},
		{`1.0`, "n1", true},
		{`1e0`, "n1", true},
		{`1E+2`, "n100", true},
		{`-0`, "n0", true},
		{`-0.0`, "n0", true},
		{`1.5`, "n1.5", true},
		{`12345678901234567890123`, "n12345678901234567890123", true},
		{`1e400`, "n1e400", true},
		{`"\u0061b"`, "sab", true},
		{`null`, "", false},
		{``, "", false},
		{`{}`, "", false},
	}
	for _, tt := range tests {
		got, ok := appendIDKey(nil, []byte(tt.raw))
		if string(got) != tt.want || ok != tt.ok {
			t.Errorf("appendIDKey(%s) = %q, %v; want %q, %v", tt.raw, got, ok, tt.want, tt.ok)
		}
	}
}
