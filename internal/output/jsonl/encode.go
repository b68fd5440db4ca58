package jsonl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/mcpscope/mcpscope/internal/record"
)

// TimeLayout is the layout of "ts": RFC 3339, UTC, with exactly nine fractional digits.
const TimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// AppendMessage appends the JSONL line for m (its JSON encoding and a newline) to dst. On error dst is returned
// unchanged.
func AppendMessage(dst []byte, m *record.Message) ([]byte, error) {
	b, split, msg, err := appendMessage(dst, m, -1)
	if err != nil {
		return dst, fmt.Errorf("jsonl: encode message: %w", err)
	}
	if msg != nil {
		b = slices.Insert(b, split, msg...)
	}
	return b, nil
}

// AppendStats appends the JSONL line for s (its JSON encoding and a newline) to dst. On error dst is returned
// unchanged.
func AppendStats(dst []byte, s *record.Stats) ([]byte, error) {
	b, err := appendStats(dst, s)
	if err != nil {
		return dst, fmt.Errorf("jsonl: encode stats: %w", err)
	}
	return b, nil
}

// AppendHTTP appends the JSONL line for h (its JSON encoding and a newline) to dst. On error dst is returned
// unchanged.
func AppendHTTP(dst []byte, h *record.HTTP) ([]byte, error) {
	b, err := appendHTTP(dst, h)
	if err != nil {
		return dst, fmt.Errorf("jsonl: encode http: %w", err)
	}
	return b, nil
}

// appendMessage encodes m onto dst. When the "message" member is longer than inlineMax (inlineMax < 0: never)
// and can be used as is, it is not copied: it is returned as msg, to be written at offset split of the result.
// Otherwise msg is nil and the result is the whole line.
func appendMessage(dst []byte, m *record.Message, inlineMax int) (b []byte, split int, msg []byte, err error) {
	b = dst
	kind := m.Kind
	if kind == "" {
		kind = record.KindMessage
	}
	b = append(b, `{"kind":`...)
	b = appendString(b, kind)
	b = append(b, `,"ts":`...)
	if b, err = appendTime(b, m.Time); err != nil {
		return dst, 0, nil, err
	}
	b = append(b, `,"transport":`...)
	b = appendString(b, m.Transport)
	b = appendOptString(b, `,"session":`, m.Session)
	b = appendOptString(b, `,"direction":`, m.Direction)
	b = append(b, `,"type":`...)
	b = appendString(b, m.Type)
	if b, err = appendOptRaw(b, `,"id":`, m.ID, "id"); err != nil {
		return dst, 0, nil, err
	}
	b = appendOptString(b, `,"method":`, m.Method)
	b = appendOptString(b, `,"method_kind":`, m.MethodKind)
	b = appendOptString(b, `,"tool":`, m.Tool)
	b = appendOptString(b, `,"resource":`, m.Resource)
	b = appendOptString(b, `,"prompt":`, m.Prompt)
	b = append(b, `,"from":`...)
	b = appendEndpoint(b, m.From)
	b = append(b, `,"to":`...)
	b = appendEndpoint(b, m.To)
	b = append(b, `,"size":`...)
	b = strconv.AppendInt(b, int64(m.Size), 10)
	if m.LatencyMs != nil {
		b = append(b, `,"latency_ms":`...)
		if b, err = appendFloat(b, *m.LatencyMs); err != nil {
			return dst, 0, nil, fmt.Errorf("latency_ms: %w", err)
		}
	}
	if m.IsError != nil {
		b = append(b, `,"is_error":`...)
		b = strconv.AppendBool(b, *m.IsError)
	}
	if m.Error != nil {
		b = append(b, `,"error":{"code":`...)
		b = strconv.AppendInt(b, m.Error.Code, 10)
		b = append(b, `,"message":`...)
		b = appendString(b, m.Error.Message)
		b = append(b, '}')
	}
	b = appendOptString(b, `,"era":`, m.Era)
	b = appendOptString(b, `,"protocol_version":`, m.ProtocolVersion)
	b = appendOptString(b, `,"result_type":`, m.ResultType)
	if b, err = appendOptRaw(b, `,"progress_token":`, m.ProgressToken, "progress_token"); err != nil {
		return dst, 0, nil, err
	}
	if b, err = appendOptRaw(b, `,"related_id":`, m.RelatedID, "related_id"); err != nil {
		return dst, 0, nil, err
	}
	if m.Late {
		b = append(b, `,"late":true`...)
	}
	if b, err = appendOptRaw(b, `,"retry_of":`, m.RetryOf, "retry_of"); err != nil {
		return dst, 0, nil, err
	}
	if m.Batch != nil {
		b = append(b, `,"batch":{"index":`...)
		b = strconv.AppendInt(b, int64(m.Batch.Index), 10)
		b = append(b, `,"count":`...)
		b = strconv.AppendInt(b, int64(m.Batch.Count), 10)
		b = append(b, `,"size":`...)
		b = strconv.AppendInt(b, int64(m.Batch.Size), 10)
		b = append(b, '}')
	}
	if m.HTTP != nil {
		b = append(b, `,"http":`...)
		b = appendHTTPInfo(b, m.HTTP)
	}
	if raw := m.Message; len(raw) > 0 {
		if !valid(raw) {
			return dst, 0, nil, errors.New("message: not valid JSON")
		}
		b = append(b, `,"message":`...)
		switch {
		case bytes.IndexByte(raw, '\n') >= 0 || bytes.IndexByte(raw, '\r') >= 0:
			b = appendOneLine(b, raw)
		case inlineMax >= 0 && len(raw) > inlineMax:
			msg = raw
		default:
			b = append(b, raw...)
		}
	}
	split = len(b)
	if m.Truncated {
		b = append(b, `,"truncated":true`...)
	}
	if m.LostBytes != 0 {
		b = append(b, `,"lost_bytes":`...)
		b = strconv.AppendInt(b, m.LostBytes, 10)
	}
	b = append(b, "}\n"...)
	return b, split, msg, nil
}

// appendHTTP encodes h onto dst. An HTTP record carries no verbatim JSON, so unlike appendMessage it never
// hands a member back to be written separately: the response body is a string, escaped like any other.
func appendHTTP(dst []byte, h *record.HTTP) ([]byte, error) {
	b := dst
	kind := h.Kind
	if kind == "" {
		kind = record.KindHTTP
	}
	b = append(b, `{"kind":`...)
	b = appendString(b, kind)
	b = append(b, `,"ts":`...)
	b, err := appendTime(b, h.Time)
	if err != nil {
		return dst, err
	}
	b = append(b, `,"transport":`...)
	b = appendString(b, h.Transport)
	b = appendOptString(b, `,"session":`, h.Session)
	b = append(b, `,"event":`...)
	b = appendString(b, h.Event)
	b = append(b, `,"from":`...)
	b = appendEndpoint(b, h.From)
	b = append(b, `,"to":`...)
	b = appendEndpoint(b, h.To)
	b = append(b, `,"http":`...)
	b = appendHTTPInfo(b, &h.HTTP)
	if h.LatencyMs != nil {
		b = append(b, `,"latency_ms":`...)
		if b, err = appendFloat(b, *h.LatencyMs); err != nil {
			return dst, fmt.Errorf("latency_ms: %w", err)
		}
	}
	b = append(b, `,"request_size":`...)
	b = strconv.AppendInt(b, h.RequestSize, 10)
	b = append(b, `,"response_size":`...)
	b = strconv.AppendInt(b, h.ResponseSize, 10)
	b = appendHeaders(b, `,"request_headers":`, h.RequestHeaders)
	b = appendHeaders(b, `,"response_headers":`, h.ResponseHeaders)
	b = appendOptString(b, `,"response_body":`, h.ResponseBody)
	if h.Truncated {
		b = append(b, `,"truncated":true`...)
	}
	if h.LostBytes != 0 {
		b = append(b, `,"lost_bytes":`...)
		b = strconv.AppendInt(b, h.LostBytes, 10)
	}
	if h.BeganBeforeCapture {
		b = append(b, `,"began_before_capture":true`...)
	}
	return append(b, "}\n"...), nil
}

// appendHTTPInfo appends the "http" object. Every member is optional, so an empty one is {}, as encoding/json
// writes it.
func appendHTTPInfo(b []byte, h *record.HTTPInfo) []byte {
	start := len(b)
	b = append(b, '{')
	b = appendOptString(b, `,"proto":`, h.Proto)
	b = appendOptString(b, `,"method":`, h.Method)
	b = appendOptString(b, `,"path":`, h.Path)
	b = appendOptString(b, `,"host":`, h.Host)
	if h.Status != 0 {
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(h.Status), 10)
	}
	b = appendOptString(b, `,"content_type":`, h.ContentType)
	b = appendOptString(b, `,"session_id":`, h.SessionID)
	b = appendOptString(b, `,"protocol_version":`, h.ProtocolVersion)
	b = appendOptString(b, `,"mcp_method":`, h.MCPMethod)
	b = appendOptString(b, `,"mcp_name":`, h.MCPName)
	b = appendOptString(b, `,"sse_event_id":`, h.SSEEventID)
	if h.StreamID != 0 {
		b = append(b, `,"stream_id":`...)
		b = strconv.AppendUint(b, uint64(h.StreamID), 10)
	}
	if len(b) > start+1 {
		b = slices.Delete(b, start+1, start+2) // every member was written with a leading comma: drop the first
	}
	return append(b, '}')
}

// appendHeaders appends key and the header fields as an array of {"name","value"} objects, unless there are none.
func appendHeaders(b []byte, key string, hs []record.HTTPHeader) []byte {
	if len(hs) == 0 {
		return b
	}
	b = append(b, key...)
	b = append(b, '[')
	for i, h := range hs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendString(b, h.Name)
		b = append(b, `,"value":`...)
		b = appendString(b, h.Value)
		b = append(b, '}')
	}
	return append(b, ']')
}

func appendStats(dst []byte, s *record.Stats) ([]byte, error) {
	b := dst
	kind := s.Kind
	if kind == "" {
		kind = record.KindStats
	}
	b = append(b, `{"kind":`...)
	b = appendString(b, kind)
	b = append(b, `,"ts":`...)
	b, err := appendTime(b, s.Time)
	if err != nil {
		return dst, err
	}
	b = append(b, `,"counters":{`...)
	names := make([]string, 0, len(s.Counters))
	for name := range s.Counters {
		names = append(names, name)
	}
	slices.Sort(names) // as encoding/json orders map keys
	for i, name := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, name)
		b = append(b, ':')
		b = strconv.AppendUint(b, s.Counters[name], 10)
	}
	b = append(b, "}}\n"...)
	return b, nil
}

func appendEndpoint(b []byte, e record.Endpoint) []byte {
	b = append(b, `{"pid":`...)
	b = strconv.AppendInt(b, int64(e.Pid), 10)
	b = append(b, `,"comm":`...)
	b = appendString(b, e.Comm)
	b = appendOptString(b, `,"addr":`, e.Addr)
	return append(b, '}')
}

func appendOptString(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	b = append(b, key...)
	return appendString(b, s)
}

// appendOptRaw appends a raw JSON member other than "message" as encoding/json would: validated and compacted.
func appendOptRaw(b []byte, key string, raw json.RawMessage, name string) ([]byte, error) {
	if len(raw) == 0 {
		return b, nil
	}
	if bytes.ContainsAny(raw, " \t\r\n") {
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return b, fmt.Errorf("%s: not valid JSON", name)
		}
		raw = buf.Bytes()
	} else if !valid(raw) {
		return b, fmt.Errorf("%s: not valid JSON", name)
	}
	b = append(b, key...)
	return append(b, raw...), nil
}

// appendOneLine appends valid JSON src with every CR and LF (which can only be whitespace between tokens)
// replaced by a space.
func appendOneLine(b, src []byte) []byte {
	start := len(b)
	b = append(b, src...)
	for i, c := range b[start:] {
		if c == '\n' || c == '\r' {
			b[start+i] = ' '
		}
	}
	return b
}

func appendTime(b []byte, t time.Time) ([]byte, error) {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return b, fmt.Errorf("ts: year %d outside [0,9999]", year)
	}
	hour, minute, second := t.Clock()
	// The equivalent of t.AppendFormat(b, TimeLayout) in quotes, at a fifth of the cost.
	b = append(b, '"')
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, second, 2)
	b = append(b, '.')
	b = appendDigits(b, t.Nanosecond(), 9)
	return append(b, 'Z', '"'), nil
}

// appendDigits appends the last width decimal digits of n ≥ 0, zero-padded.
func appendDigits(b []byte, n, width int) []byte {
	b = append(b, "000000000"[:width]...)
	for i := len(b) - 1; i >= len(b)-width; i-- {
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return b
}

// appendFloat formats f as encoding/json formats a float64.
func appendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, fmt.Errorf("unsupported value %v", f)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// Clean up e-09 to e-9, as encoding/json does.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}

const hex = "0123456789abcdef"

// appendString appends s as a JSON string the way encoding/json does with HTML escaping off: ", \ and control
// characters escaped, invalid UTF-8 replaced by U+FFFD, U+2028 and U+2029 escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
