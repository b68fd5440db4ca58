package jsonl

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mcpscope/mcpscope/internal/record"
)

// httpExchange is a Streamable HTTP request answered 400 with a text body: the record a failing client is
// debugged with.
func httpExchange() *record.HTTP {
	return &record.HTTP{
		Kind:      record.KindHTTP,
		Time:      testTime,
		Transport: record.TransportHTTP,
		Session:   "http:redacted:0123456789ab",
		Event:     "exchange",
		From:      record.Endpoint{Pid: 4242, Comm: "node", Addr: "127.0.0.1:51234"},
		To:        record.Endpoint{Pid: 4250, Comm: "python3", Addr: "127.0.0.1:3001"},
		HTTP: record.HTTPInfo{Proto: "HTTP/1.1", Method: "POST", Path: "/mcp", Host: "localhost:3001", Status: 400,
			ContentType: "text/plain", SessionID: "redacted:0123456789ab", ProtocolVersion: "2025-11-25"},
		LatencyMs:    ptr(1.25),
		RequestSize:  83,
		ResponseSize: 36,
		RequestHeaders: []record.HTTPHeader{{Name: "Host", Value: "localhost:3001"}, {Name: "Authorization", Value: "[redacted]"},
			{Name: "Mcp-Session-Id", Value: "[redacted]"}},
		ResponseHeaders: []record.HTTPHeader{{Name: "Content-Type", Value: "text/plain"}},
		ResponseBody:    "Bad Request: invalid session <id>\r\n",
	}
}

// httpMessage is a tools/call request carried by a POST from a remote client (pid 0, only its address).
func httpMessage() *record.Message {
	m := smallMessage()
	m.Transport = record.TransportHTTPS
	m.Session = "http:redacted:0123456789ab"
	m.From = record.Endpoint{Addr: "[2001:db8::7]:40000"}
	m.To = record.Endpoint{Pid: 4250, Comm: "python3", Addr: "[2001:db8::1]:443"}
	m.HTTP = &record.HTTPInfo{Proto: "HTTP/2", Method: "POST", Path: "/mcp", Host: "mcp.example.com", ContentType: "application/json",
		SessionID: "redacted:0123456789ab", MCPMethod: "tools/call", MCPName: "echo", StreamID: 3}
	return m
}

// decodeStrict decodes one JSONL line into v, refusing fields v does not have.
func decodeStrict(t *testing.T, line []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %s: %v", line, err)
	}
}

func TestHTTPRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := New(&buf)
	h := httpExchange()
	if err := w.WriteHTTP(h); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	line := buf.Bytes()
	if bytes.IndexByte(line, '\n') != len(line)-1 || !json.Valid(line) {
		t.Fatalf("not one valid JSON line: %q", line)
	}
	want := `{"kind":"http","ts":"2026-11-22T07:18:12.123456789Z","transport":"http","session":"http:redacted:0123456789ab","event":"exchange",` +
		`"from":{"pid":4242,"comm":"node","addr":"127.0.0.1:51234"},"to":{"pid":4250,"comm":"python3","addr":"127.0.0.1:3001"},` +
		`"http":{"proto":"HTTP/1.1","method":"POST","path":"/mcp","host":"localhost:3001","status":400,"content_type":"text/plain",` +
		`"session_id":"redacted:0123456789ab","protocol_version":"2025-11-25"},"latency_ms":1.25,"request_size":83,"response_size":36,` +
		`"request_headers":[{"name":"Host","value":"localhost:3001"},{"name":"Authorization","value":"[redacted]"},{"name":"Mcp-Session-Id","value":"[redacted]"}],` +
		`"response_headers":[{"name":"Content-Type","value":"text/plain"}],"response_body":"Bad Request: invalid session <id>\r\n"}` + "\n"
	if string(line) != want {
		t.Errorf("got\n%s\nwant\n%s", line, want)
	}
	var back record.HTTP
	decodeStrict(t, line, &back)
	back.Time = back.Time.In(time.UTC)
	if !reflect.DeepEqual(&back, h) {
		t.Errorf("round trip:\n got %+v\nwant %+v", back, *h)
	}
	if got, err := AppendHTTP(nil, h); err != nil || !bytes.Equal(got, line) {
		t.Errorf("AppendHTTP = %s, %v; Writer wrote %s", got, err, line)
	}

	// A message with an HTTP context and a remote peer (pid 0, an address only).
	m := httpMessage()
	mline, err := AppendMessage(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{
		`"transport":"https"`,
		`"from":{"pid":0,"comm":"","addr":"[2001:db8::7]:40000"},"to":{"pid":4250,"comm":"python3","addr":"[2001:db8::1]:443"}`,
		`,"http":{"proto":"HTTP/2","method":"POST","path":"/mcp","host":"mcp.example.com","content_type":"application/json","session_id":"redacted:0123456789ab","mcp_method":"tools/call","mcp_name":"echo","stream_id":3},"message":{`,
	} {
		if !bytes.Contains(mline, []byte(part)) {
			t.Errorf("no %s in %s", part, mline)
		}
	}
	var mback record.Message
	decodeStrict(t, mline, &mback)
	if !reflect.DeepEqual(mback.HTTP, m.HTTP) || mback.From != m.From || mback.To != m.To {
		t.Errorf("round trip: http %+v from %+v to %+v", mback.HTTP, mback.From, mback.To)
	}
	// Without an address, endpoints keep their stdio form.
	if line, _ := AppendMessage(nil, smallMessage()); bytes.Contains(line, []byte(`"addr"`)) || bytes.Contains(line, []byte(`"http"`)) {
		t.Errorf("stdio message with addr or http: %s", line)
	}
}

func TestHTTPDefaults(t *testing.T) {
	got, err := AppendHTTP(nil, &record.HTTP{Time: testTime, Transport: record.TransportHTTP, Event: "stream_open"})
	want := `{"kind":"http","ts":"2026-11-22T07:18:12.123456789Z","transport":"http","event":"stream_open","from":{"pid":0,"comm":""},` +
		`"to":{"pid":0,"comm":""},"http":{},"request_size":0,"response_size":0}` + "\n"
	if err != nil || string(got) != want {
		t.Errorf("got %s, %v\nwant %s", got, err, want)
	}
}

func TestHTTPEncodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modify func(*record.HTTP)
		want   string
	}{
		{"nan", func(h *record.HTTP) { h.LatencyMs = ptr(math.NaN()) }, "latency_ms: unsupported value NaN"},
		{"inf", func(h *record.HTTP) { h.LatencyMs = ptr(math.Inf(-1)) }, "latency_ms: unsupported value -Inf"},
		{"year", func(h *record.HTTP) { h.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "ts: year 10000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := New(&buf)
			bad := httpExchange()
			tc.modify(bad)
			err := w.WriteHTTP(bad)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "jsonl: encode http: ") {
				t.Errorf("got error %v, want one containing %q", err, tc.want)
			}
			if line, err := AppendHTTP([]byte("keep"), bad); err == nil || string(line) != "keep" {
				t.Errorf("AppendHTTP = %q, %v; want dst unchanged and an error", line, err)
			}
			// Nothing was written and the writer still works.
			if err := w.WriteHTTP(httpExchange()); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if out := buf.Bytes(); bytes.Count(out, []byte("\n")) != 1 || !json.Valid(out) {
				t.Errorf("want one good line, got %q", out)
			}
		})
	}
}

// TestHTTPHostileStrings: what comes off the wire (header values, a response body) can be anything; the line
// stays one valid JSON object and decodes to the same text (invalid UTF-8 as U+FFFD).
func TestHTTPHostileStrings(t *testing.T) {
	h := httpExchange()
	h.ResponseBody = "<html>\n\t\"oops\" \\ \x00\x1b[2J é \u2028 \xff</html>"
	h.RequestHeaders = []record.HTTPHeader{{Name: "X-Evil\r\n", Value: "a\"b\\c\x7f"}}
	h.HTTP.Path = "/mcp/\u202e"
	line, err := AppendHTTP(nil, h)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.IndexByte(line, '\n') != len(line)-1 || !json.Valid(line) {
		t.Fatalf("not one valid JSON line: %q", line)
	}
	if want := encodingJSON(t, h); !bytes.Equal(line, want) {
		t.Errorf("differs from encoding/json:\n got %s\nwant %s", line, want)
	}
	var back record.HTTP
	decodeStrict(t, line, &back)
	if back.ResponseBody != strings.ToValidUTF8(h.ResponseBody, "\ufffd") || back.RequestHeaders[0] != h.RequestHeaders[0] || back.HTTP.Path != h.HTTP.Path {
		t.Errorf("strings altered: %+v", back)
	}
}

func TestWriteHTTPClosed(t *testing.T) {
	w := New(&bytes.Buffer{})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteHTTP(httpExchange()); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: got %v, want ErrClosed", err)
	}
}
