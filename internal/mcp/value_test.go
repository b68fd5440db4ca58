package mcp

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestValue(t *testing.T) {
	const call = `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","_meta":{"progressToken":"p"},"arguments": {"message":"a \"}\" b","n":[1,{"x":{}}]} }}`
	for _, tc := range []struct {
		name string
		msg  string
		path []string
		want string // "" means nil
	}{
		{"arguments", call, []string{"params", "arguments"}, `{"message":"a \"}\" b","n":[1,{"x":{}}]}`},
		{"a string", call, []string{"params", "name"}, `"echo"`},
		{"after a nested object", call, []string{"params", "_meta", "progressToken"}, `"p"`},
		{"a number", call, []string{"id"}, `2`},
		{"no path", ` [1, 2] `, nil, `[1, 2]`},
		{"missing member", call, []string{"params", "input"}, ""},
		{"missing object", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, []string{"params", "arguments"}, ""},
		{"not an object on the path", `{"params":[{"arguments":1}]}`, []string{"params", "arguments"}, ""},
		{"null", `{"params":{"arguments":null}}`, []string{"params", "arguments"}, `null`},
		{"empty object", `{}`, []string{"params"}, ""},
		{"escaped name", `{"par\u0061ms":{"arguments":true}}`, []string{"params", "arguments"}, `true`},
		{"last of a repeated name, as Parse", `{"params":{"arguments":1,"arguments":2}}`, []string{"params", "arguments"}, `2`},
		{"last of a repeated object", `{"params":{"arguments":1},"id":3,"params":{"name":"x"}}`, []string{"params", "arguments"}, ""},
		{"repeated object not an object at last", `{"params":{"arguments":1},"params":5}`, []string{"params", "arguments"}, ""},
		{"invalid before the value", `{"x":[1,,2],"params":{"arguments":1}}`, []string{"params", "arguments"}, ""},
		{"invalid after the value", `{"params":{"arguments":1},"x":[1,,2]}`, []string{"params", "arguments"}, ""},
		{"invalid value", `{"params":{"arguments":{"a":}}}`, []string{"params", "arguments"}, ""},
		{"cut in the value", `{"params":{"arguments":{"a":"b`, []string{"params", "arguments"}, ""},
		{"not JSON", `Starting server...`, []string{"params"}, ""},
		{"empty", ``, []string{"params"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Value([]byte(tc.msg), tc.path...)
			if tc.want == "" {
				if got != nil {
					t.Fatalf("Value = %q, want nil", got)
				}
				return
			}
			if string(got) != tc.want {
				t.Fatalf("Value = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestValueAliases checks that the value is a slice of the message, not a copy: that is what it is for.
func TestValueAliases(t *testing.T) {
	msg := []byte(`{"params":{"arguments":{"big":"` + strings.Repeat("x", 1<<16) + `"}}}`)
	got := Value(msg, "params", "arguments")
	if len(got) == 0 || &got[0] != &msg[bytes.Index(msg, []byte(`{"big"`))] {
		t.Fatalf("Value copied the value")
	}
	if n := testing.AllocsPerRun(100, func() { Value(msg, "params", "arguments") }); n != 0 {
		t.Fatalf("Value allocates %v times per call, want 0", n)
	}
}

// FuzzValue checks Value against encoding/json on the path params.arguments, decoding into maps, whose names match
// exactly as MCP's do (struct fields would match case-insensitively) and where a repeated name keeps its last value
// as in Value: where encoding/json finds the value, Value returns the same bytes, and where it finds none, nil.
func FuzzValue(f *testing.F) {
	for _, s := range seedFrames {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"Params":{"arguments":1}}`))
	f.Add([]byte(`{"params":{"arguments":null}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got := Value(data, "params", "arguments")
		if got != nil && !json.Valid(got) {
			t.Fatalf("Value returned invalid JSON %q", got)
		}
		if !json.Valid(data) {
			return
		}
		var want json.RawMessage
		var msg map[string]json.RawMessage
		if json.Unmarshal(data, &msg) == nil {
			var params map[string]json.RawMessage
			if json.Unmarshal(msg["params"], &params) == nil {
				want = params["arguments"]
			}
		}
		if !bytes.Equal(got, want) || (got == nil) != (want == nil) {
			t.Fatalf("Value = %q, encoding/json = %q", got, want)
		}
	})
}
