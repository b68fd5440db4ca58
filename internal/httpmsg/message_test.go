package httpmsg

import (
	"bytes"
	"compress/gzip"
	"errors"
	"strings"
	"testing"

	"github.com/mcpscope/mcpscope/internal/sse"
)

func TestRedact(t *testing.T) {
	h := Headers{
		{"Authorization", "Bearer secret"}, {"cookie", "a=1"}, {"Set-Cookie", "b=2"}, {"Mcp-Session-Id", "s"},
		{"Proxy-Authorization", "Basic x"}, {"Mcp-Param-City", "Paris"}, {"Content-Type", "application/json"},
		{"Mcp-Method", "tools/call"},
	}
	r := Redact(h)
	for i, f := range r {
		secret := i < 6
		if got := f.Value == RedactedValue; got != secret {
			t.Errorf("%s = %q, redacted %v, want %v", f.Name, f.Value, got, secret)
		}
		if f.Name != h[i].Name {
			t.Errorf("name changed: %q", f.Name)
		}
	}
	if h[0].Value != "Bearer secret" {
		t.Error("Redact modified its input")
	}
	if Redact(nil) != nil {
		t.Error("Redact(nil) != nil")
	}
}

func TestHeaders(t *testing.T) {
	h := Headers{{"Accept", "a"}, {"X", "1"}, {"accept", "b"}}
	if h.Get("ACCEPT") != "a" || len(h.Values("accept")) != 2 || !h.Has("x") || h.Has("y") || h.Get("y") != "" {
		t.Errorf("lookups on %v", h)
	}
}

func TestExtractMCP(t *testing.T) {
	tests := []struct {
		name string
		m    Message
		want MCP
	}{
		{"streamable", Message{Kind: KindRequest, Target: "/mcp", Headers: Headers{
			{"mcp-session-id", "abc"}, {"MCP-Protocol-Version", "2025-11-25"}}}, MCP{SessionID: "abc", ProtocolVersion: "2025-11-25"}},
		{"stateless", Message{Kind: KindRequest, Target: "/mcp", Headers: Headers{
			{"Mcp-Method", "tools/call"}, {"Mcp-Name", "weather"}}}, MCP{Method: "tools/call", Name: "weather"}},
		{"legacy_ts", Message{Kind: KindRequest, Target: "/message?sessionId=123"}, MCP{LegacySessionID: "123"}},
		{"legacy_go", Message{Kind: KindRequest, Target: "/sse?sessionid=XYZ&x=1"}, MCP{LegacySessionID: "XYZ"}},
		{"bad_query", Message{Kind: KindRequest, Target: "/m?%zz&sessionId=ok"}, MCP{LegacySessionID: "ok"}},
		{"response_target_ignored", Message{Kind: KindResponse, Target: "/message?sessionId=1"}, MCP{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.m.ExtractMCP()
			if tc.m.MCP != tc.want {
				t.Errorf("got %+v want %+v", tc.m.MCP, tc.want)
			}
		})
	}
}

func TestSetTargetMediaType(t *testing.T) {
	var m Message
	m.SetTarget("/message?sessionId=1#f")
	if m.Path != "/message" {
		t.Errorf("path %q", m.Path)
	}
	if got := MediaType(" Text/Event-Stream ; charset=utf-8"); got != "text/event-stream" {
		t.Errorf("media type %q", got)
	}
}

func TestAppendBody(t *testing.T) {
	var m Message
	m.AppendBody([]byte("abc"), 5)
	m.AppendBody([]byte("defg"), 5)
	if string(m.Body) != "abcde" || m.BodySize != 7 || m.BodyExcess != 2 || !m.Truncated {
		t.Errorf("%+v", m)
	}
	m.AddLost(0)
	m.AddLost(3)
	if m.LostBytes != 3 {
		t.Errorf("lost %d", m.LostBytes)
	}
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func TestGunzip(t *testing.T) {
	plain := []byte(strings.Repeat("mcp ", 1000))
	out, excess, err := Gunzip(gz(plain), 1<<20)
	if err != nil || !bytes.Equal(out, plain) || excess != 0 {
		t.Fatalf("roundtrip: %v %d", err, excess)
	}
	two := append(gz([]byte("a")), gz([]byte("b"))...)
	if out, _, err := Gunzip(two, 10); err != nil || string(out) != "ab" {
		t.Fatalf("multistream: %q %v", out, err)
	}
	out, excess, err = Gunzip(gz(plain), 100)
	if !errors.Is(err, ErrTooLarge) || len(out) != 100 || excess != int64(len(plain))-100 {
		t.Fatalf("limit: %d %d %v", len(out), excess, err)
	}
	cut := gz(plain)
	out, _, err = Gunzip(cut[:len(cut)/2], 1<<20)
	if err == nil || errors.Is(err, ErrTooLarge) {
		t.Fatalf("cut input: %v (%d bytes)", err, len(out))
	}
	if _, _, err := Gunzip([]byte("not gzip"), 10); err == nil {
		t.Fatal("garbage accepted")
	}
}

func TestSSEEventEndpoint(t *testing.T) {
	e := SSEEvent(nil, nil, &sse.Event{Type: "endpoint", Data: "/message?sessionId=u-1"})
	if e.Kind != EventSSE || e.MCP.Endpoint != "/message?sessionId=u-1" || e.MCP.LegacySessionID != "u-1" {
		t.Errorf("%+v", e)
	}
	if e := SSEEvent(nil, nil, &sse.Event{Type: "message", Data: "/x?sessionId=1"}); e.MCP != (MCP{}) {
		t.Errorf("non-endpoint event got MCP %+v", e.MCP)
	}
}
