package jsonl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpscope/mcpscope/internal/record"
)

var testTime = time.Date(2026, 11, 22, 7, 18, 12, 123456789, time.UTC)

func ptr[T any](v T) *T { return &v }

func smallMessage() *record.Message {
	return &record.Message{
		Kind:      record.KindMessage,
		Time:      testTime,
		Transport: record.TransportStdio,
		Session:   "stdio:4242-4250",
		Direction: record.ClientToServer,
		Type:      record.TypeRequest,
		ID:        json.RawMessage(`3`),
		Method:    "tools/call",
		Tool:      "echo",
		From:      record.Endpoint{Pid: 4242, Comm: "node"},
		To:        record.Endpoint{Pid: 4250, Comm: "server-everything"},
		Size:      83,
		Era:       record.EraLegacy,
		Message:   json.RawMessage(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}`),
	}
}

// writeOne returns the output of a Writer given m, flushed.
func writeOne(t *testing.T, m *record.Message) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := New(&buf)
	if err := w.WriteMessage(m); err != nil {
		t.Fatalf("WriteMessage: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return buf.Bytes()
}

// checkLine checks that out is one valid JSON object followed by a newline and returns its "message" member
// exactly as it appears in the line, surrounding whitespace included.
func checkLine(t *testing.T, out []byte) json.RawMessage {
	t.Helper()
	if bytes.IndexByte(out, '\n') != len(out)-1 {
		t.Fatalf("want exactly one line ending in a newline, got %q", truncate(out))
	}
	if !json.Valid(out) {
		t.Fatalf("line is not valid JSON: %q", truncate(out))
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		start := dec.InputOffset()
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		if key == "message" {
			end := int(dec.InputOffset())
			for end < len(out) && strings.IndexByte(" \t", out[end]) >= 0 { // the decoder stops at the value's end
				end++
			}
			raw, ok := bytes.CutPrefix(out[start:end], []byte(":"))
			if !ok {
				t.Fatalf("no colon after \"message\" at offset %d", start)
			}
			return raw
		}
	}
	return nil
}

func truncate(b []byte) []byte {
	if len(b) > 300 {
		return append(b[:300:300], "..."...)
	}
	return b
}

func TestMessageVerbatim(t *testing.T) {
	raws := []string{
		// Spaces after colons and commas, HTML characters, escapes of all kinds, raw non-ASCII, U+2028, key order
		// that encoding/json would not produce.
		`{"result": {"content": [{"type": "text", "text": "a<b && c>d \u00e9 \u003c \"q\" \\ \/ \ud83d\ude00 é 😀 ` + "\u2028" + `"}], "isError": false}, "jsonrpc": "2.0", "id": 3}`,
		"{\t\"jsonrpc\":\"2.0\" ,\"id\":\"a<b\",\"result\":{}  }",
		` {"jsonrpc":"2.0","method":"notifications/initialized"} `,
		`[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"ping"}]`,
		`{"jsonrpc":"2.0","id":1e3,"result":{"n":-0.0,"big":123456789012345678901234567890}}`,
	}
	for i, raw := range raws {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			m := smallMessage()
			m.Message = json.RawMessage(raw)
			out := writeOne(t, m)
			if got := checkLine(t, out); string(got) != raw {
				t.Errorf("message altered:\n got %s\nwant %s", got, raw)
			}
			if !bytes.Contains(out, []byte(`,"message":`+raw+`}`)) {
				t.Errorf("message not embedded verbatim: %s", out)
			}
			line, err := AppendMessage(nil, m)
			if err != nil || !bytes.Equal(line, out) {
				t.Errorf("AppendMessage = %s, %v; Writer wrote %s", line, err, out)
			}
		})
	}
}

func TestMessageLineBreaks(t *testing.T) {
	raw := "{\r\n  \"jsonrpc\": \"2.0\",\n  \"id\": 1,\n  \"result\": {\"text\": \"line\\nbreak\"}\n}\n"
	want := strings.NewReplacer("\r", " ", "\n", " ").Replace(raw)
	for _, size := range []int{0, 2 * BufferSize} { // inline and large
		m := smallMessage()
		m.Message = json.RawMessage(raw + strings.Repeat(" ", size))
		got := checkLine(t, writeOne(t, m))
		if string(got) != want+strings.Repeat(" ", size) {
			t.Errorf("got %q, want CR and LF replaced by spaces: %q", truncate(got), want)
		}
		if string(m.Message[:len(raw)]) != raw {
			t.Error("the record's message was modified")
		}
	}
}

// countingWriter counts Write calls.
type countingWriter struct {
	bytes.Buffer
	writes int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.writes++
	return c.Buffer.Write(p)
}

func TestLargeMessage(t *testing.T) {
	const size = 16 << 20
	var mb bytes.Buffer
	mb.WriteString(`{"jsonrpc": "2.0", "id": 7, "result": {"content": [{"type": "text", "text": "`)
	for mb.Len() < size-10 {
		mb.WriteString(`<&> \u00e9 é `)
	}
	mb.WriteString(`"}]}}`)
	raw := mb.Bytes()

	m := smallMessage()
	m.Type = record.TypeResponse
	m.ID = json.RawMessage(`7`)
	m.Size = len(raw)
	m.Message = raw
	var cw countingWriter
	w := New(&cw)
	for range 2 {
		if err := w.WriteMessage(smallMessage()); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteMessage(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(cw.Bytes(), []byte("\n"))
	if len(lines) != 5 || len(lines[4]) != 0 {
		t.Fatalf("got %d lines, want 4", len(lines)-1)
	}
	for _, i := range []int{1, 3} {
		if got := checkLine(t, lines[i]); !bytes.Equal(got, raw) {
			t.Fatalf("line %d: 16 MiB message altered", i)
		}
	}
	want, err := AppendMessage(nil, m)
	if err != nil || !bytes.Equal(want, lines[1]) {
		t.Fatalf("AppendMessage disagrees with Writer (err %v)", err)
	}
	// A message larger than the buffer is written from the record: a few writes per record, not one per 64 KiB
	// chunk copied through the buffer.
	if cw.writes > 8 {
		t.Errorf("%d writes for 4 records", cw.writes)
	}
}

func TestTime(t *testing.T) {
	east := time.FixedZone("UTC+2", 2*3600)
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{testTime, `"ts":"2026-11-22T07:18:12.123456789Z"`},
		{time.Date(2026, 11, 22, 7, 18, 12, 120000000, time.UTC), `"ts":"2026-11-22T07:18:12.120000000Z"`},
		{time.Date(2026, 11, 22, 7, 18, 12, 0, time.UTC), `"ts":"2026-11-22T07:18:12.000000000Z"`},
		{time.Date(2026, 11, 22, 9, 18, 12, 5, east), `"ts":"2026-11-22T07:18:12.000000005Z"`},
		{time.Date(2026, 11, 22, 0, 30, 0, 0, east), `"ts":"2026-11-21T22:30:00.000000000Z"`},
		{time.Unix(0, 1).Local(), `"ts":"1970-01-01T00:00:00.000000001Z"`},
	} {
		m := smallMessage()
		m.Time = tc.t
		if out := writeOne(t, m); !bytes.Contains(out, []byte(tc.want)) {
			t.Errorf("%v: got %s, want %s", tc.t, out, tc.want)
		}
		line, err := AppendStats(nil, &record.Stats{Kind: record.KindStats, Time: tc.t})
		if err != nil || !bytes.Contains(line, []byte(tc.want)) {
			t.Errorf("stats %v: got %s, %v, want %s", tc.t, line, err, tc.want)
		}
	}
}

func TestTimeLayout(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		tm := time.Unix(r.Int64N(253402200000), r.Int64N(1e9)) // 1970 to 9999
		if r.IntN(2) == 0 {
			tm = time.Date(1+r.IntN(9998), 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.Int64N(364 * 24 * int64(time.Hour))))
		}
		tm = tm.In(time.FixedZone("", (r.IntN(48)-24)*1800))
		got, err := appendTime(nil, tm)
		want := `"` + tm.UTC().Format(TimeLayout) + `"`
		if err != nil || string(got) != want {
			t.Fatalf("%v: got %s, %v, want %s", tm, got, err, want)
		}
		if _, err := time.Parse(time.RFC3339Nano, want[1:len(want)-1]); err != nil {
			t.Fatalf("not RFC 3339: %v", err)
		}
	}
}

// filler sets every field of a value, recursing into structs, so that a field added to record.go is either
// encoded or makes TestMatchesEncodingJSON fail.
type filler struct {
	t *testing.T
	n int
}

var strs = []string{"node", "a<b>&c", "tab\tnl\nnul\x00esc\x1b\x7f\"\\", "é😀\u2028\u2029", "bad\xff\xfeutf8\xc3", "", "/"}

var raws = []string{`3`, `"a<b&\u00e9é"`, `null`, `-1.5e3`, `{"a":[1,"x"]}`}

var floats = []float64{6.5, 0, 1e-7, 1e21, 123456.789, -0.25, 1.0000001e-6, 1e20, math.MaxFloat64, math.SmallestNonzeroFloat64}

func (f *filler) fill(v reflect.Value, path string) {
	f.n++
	switch {
	case v.Type() == reflect.TypeFor[time.Time]():
		v.Set(reflect.ValueOf(testTime.Add(time.Duration(f.n) * time.Hour)))
		return
	case v.Type() == reflect.TypeFor[json.RawMessage]():
		raw := raws[f.n%len(raws)]
		if path == "Message" {
			raw = `{"jsonrpc":"2.0","id":"<&>","result":{"t":"\u00e9\n","x":[]}}` // compact: encoding/json keeps it
		}
		v.SetBytes([]byte(raw))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(strs[f.n%len(strs)] + fmt.Sprint(f.n))
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(f.n) * -12345)
	case reflect.Uint64:
		v.SetUint(math.MaxUint64 - uint64(f.n))
	case reflect.Uint32:
		v.SetUint(math.MaxUint32 - uint64(f.n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Float64:
		v.SetFloat(floats[f.n%len(floats)])
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		f.fill(v.Elem(), path)
	case reflect.Struct:
		for i := range v.NumField() {
			f.fill(v.Field(i), path+"."+v.Type().Field(i).Name)
		}
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for i := range 3 {
			k := reflect.New(v.Type().Key()).Elem()
			e := reflect.New(v.Type().Elem()).Elem()
			f.fill(k, path+"[key]")
			f.fill(e, path+"[elem]")
			_ = i
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Slice:
		sl := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range sl.Len() {
			f.fill(sl.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(sl)
	default:
		f.t.Fatalf("%s: cannot fill a %s; teach the test (and the encoder) about it", path, v.Type())
	}
}

func encodingJSON(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestMatchesEncodingJSON checks the hand-written encoder against encoding/json (with SetEscapeHTML(false)) on
// records where the two must agree: every field set, or none, with compact messages and timestamps whose
// nanoseconds end in a non-zero digit.
func TestMatchesEncodingJSON(t *testing.T) {
	for seed := range 40 {
		m := new(record.Message)
		f := &filler{t: t, n: seed}
		for i := range reflect.ValueOf(m).Elem().NumField() {
			v := reflect.ValueOf(m).Elem()
			f.fill(v.Field(i), v.Type().Field(i).Name)
		}
		m.Kind = record.KindMessage
		got, err := AppendMessage(nil, m)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if want := encodingJSON(t, m); !bytes.Equal(got, want) {
			t.Errorf("seed %d: differs from encoding/json:\n got %s\nwant %s", seed, got, want)
		}

		s := new(record.Stats)
		f.fill(reflect.ValueOf(s).Elem(), "Stats")
		s.Kind = record.KindStats
		got, err = AppendStats(nil, s)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if want := encodingJSON(t, s); !bytes.Equal(got, want) {
			t.Errorf("seed %d: stats differ from encoding/json:\n got %s\nwant %s", seed, got, want)
		}

		h := new(record.HTTP)
		f.fill(reflect.ValueOf(h).Elem(), "HTTP")
		h.Kind = record.KindHTTP
		got, err = AppendHTTP(nil, h)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if want := encodingJSON(t, h); !bytes.Equal(got, want) {
			t.Errorf("seed %d: http differs from encoding/json:\n got %s\nwant %s", seed, got, want)
		}
	}

	// Only the members without omitempty.
	m := &record.Message{Kind: record.KindMessage, Time: testTime}
	got, _ := AppendMessage(nil, m)
	if want := encodingJSON(t, m); !bytes.Equal(got, want) {
		t.Errorf("empty record:\n got %s\nwant %s", got, want)
	}
	// Non-nil pointers to zero values are present.
	m.LatencyMs, m.IsError, m.Error, m.Batch = ptr(0.0), ptr(false), &record.RPCError{}, &record.Batch{}
	got, _ = AppendMessage(nil, m)
	if want := encodingJSON(t, m); !bytes.Equal(got, want) {
		t.Errorf("zero pointers:\n got %s\nwant %s", got, want)
	}
	// An HTTP context with no member set is {}.
	m.HTTP = &record.HTTPInfo{}
	got, _ = AppendMessage(nil, m)
	if want := encodingJSON(t, m); !bytes.Equal(got, want) {
		t.Errorf("empty http:\n got %s\nwant %s", got, want)
	}
	m.HTTP = nil
	// Only the members of an HTTP record without omitempty; empty (not nil) header lists are omitted too.
	h := &record.HTTP{Kind: record.KindHTTP, Time: testTime, RequestHeaders: []record.HTTPHeader{}}
	got, _ = AppendHTTP(nil, h)
	if want := encodingJSON(t, h); !bytes.Equal(got, want) {
		t.Errorf("empty http record:\n got %s\nwant %s", got, want)
	}
	// Raw members other than message are compacted, as encoding/json does.
	m.ID, m.RelatedID = json.RawMessage(" 3 "), json.RawMessage(`{ "a" : 1 }`)
	got, _ = AppendMessage(nil, m)
	if want := encodingJSON(t, m); !bytes.Equal(got, want) {
		t.Errorf("raw members:\n got %s\nwant %s", got, want)
	}
}

func TestDefaultsAndDifferences(t *testing.T) {
	got, err := AppendMessage(nil, &record.Message{Time: testTime})
	if err != nil || !bytes.HasPrefix(got, []byte(`{"kind":"message",`)) {
		t.Errorf("empty Kind: got %s, %v", got, err)
	}
	got, err = AppendStats(nil, &record.Stats{Time: testTime})
	if want := `{"kind":"stats","ts":"2026-11-22T07:18:12.123456789Z","counters":{}}` + "\n"; err != nil || string(got) != want {
		t.Errorf("empty stats: got %s, %v, want %s", got, err, want)
	}
	got, err = AppendStats([]byte("x"), &record.Stats{Kind: record.KindStats, Time: testTime,
		Counters: map[string]uint64{"messages": 10, "kernel_lost_bytes": 4096, "junk_lines": 0}})
	if want := `x{"kind":"stats","ts":"2026-11-22T07:18:12.123456789Z","counters":{"junk_lines":0,"kernel_lost_bytes":4096,"messages":10}}` + "\n"; err != nil || string(got) != want {
		t.Errorf("stats: got %s, %v, want %s", got, err, want)
	}
}

func TestEncodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modify func(*record.Message)
		want   string
	}{
		{"message", func(m *record.Message) { m.Message = json.RawMessage(`{"jsonrpc":"2.0","id":1,"res`) }, "message: not valid JSON"},
		{"message-trailing", func(m *record.Message) { m.Message = json.RawMessage(`{} {}`) }, "message: not valid JSON"},
		{"id", func(m *record.Message) { m.ID = json.RawMessage(`3,"x":1`) }, "id: not valid JSON"},
		{"id-spaces", func(m *record.Message) { m.ID = json.RawMessage(` 3 4 `) }, "id: not valid JSON"},
		{"progress_token", func(m *record.Message) { m.ProgressToken = json.RawMessage(`tok`) }, "progress_token: not valid JSON"},
		{"related_id", func(m *record.Message) { m.RelatedID = json.RawMessage(`}`) }, "related_id: not valid JSON"},
		{"retry_of", func(m *record.Message) { m.RetryOf = json.RawMessage(`"`) }, "retry_of: not valid JSON"},
		{"nan", func(m *record.Message) { m.LatencyMs = ptr(math.NaN()) }, "latency_ms: unsupported value NaN"},
		{"inf", func(m *record.Message) { m.LatencyMs = ptr(math.Inf(1)) }, "latency_ms: unsupported value +Inf"},
		{"year", func(m *record.Message) { m.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "ts: year 10000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := New(&buf)
			bad := smallMessage()
			tc.modify(bad)
			err := w.WriteMessage(bad)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "jsonl: encode message: ") {
				t.Errorf("got error %v, want one containing %q", err, tc.want)
			}
			if line, err := AppendMessage([]byte("keep"), bad); err == nil || string(line) != "keep" {
				t.Errorf("AppendMessage = %q, %v; want dst unchanged and an error", line, err)
			}
			// Nothing was written and the writer still works.
			if err := w.WriteMessage(smallMessage()); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			checkLine(t, buf.Bytes())
		})
	}
	if _, err := AppendStats(nil, &record.Stats{Time: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)}); err == nil {
		t.Error("stats with year -1: no error")
	}
}

// failingWriter accepts n bytes, then fails with err.
type failingWriter struct {
	n   int
	err error
}

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) <= f.n {
		f.n -= len(p)
		return len(p), nil
	}
	n := f.n
	f.n = 0
	return n, f.err
}

func TestWriteErrors(t *testing.T) {
	for _, errno := range []error{syscall.EPIPE, syscall.ENOSPC} {
		t.Run(errno.Error(), func(t *testing.T) {
			w := New(&failingWriter{n: 100, err: errno})
			if err := w.WriteMessage(smallMessage()); err != nil {
				t.Fatalf("buffered write failed early: %v", err)
			}
			err := w.Flush()
			if !errors.Is(err, errno) || !strings.HasPrefix(err.Error(), "jsonl: write: ") {
				t.Fatalf("Flush: got %v, want a wrapped %v", err, errno)
			}
			// The error sticks, for every method, including writes too large to buffer.
			big := smallMessage()
			big.Message = json.RawMessage(`"` + strings.Repeat("x", 2*BufferSize) + `"`)
			for _, err := range []error{
				w.WriteMessage(smallMessage()),
				w.WriteMessage(big),
				w.WriteStats(&record.Stats{Time: testTime}),
				w.Flush(),
				w.Close(),
			} {
				if !errors.Is(err, errno) {
					t.Errorf("got %v, want %v", err, errno)
				}
			}
		})
	}
	// A large message fails at WriteMessage, not only at Flush.
	w := New(&failingWriter{n: 10, err: syscall.EPIPE})
	big := smallMessage()
	big.Message = json.RawMessage(`"` + strings.Repeat("x", 2*BufferSize) + `"`)
	if err := w.WriteMessage(big); !errors.Is(err, syscall.EPIPE) {
		t.Errorf("large message: got %v, want EPIPE", err)
	}
}

func TestBuffering(t *testing.T) {
	var cw countingWriter
	w := New(&cw)
	const n = 10000
	for range n {
		if err := w.WriteMessage(smallMessage()); err != nil {
			t.Fatal(err)
		}
	}
	total := cw.Len() // what has reached the writer before Flush
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if max := cw.Len()/BufferSize + 1; cw.writes > max {
		t.Errorf("%d writes for %d records (%d bytes), want at most %d", cw.writes, n, cw.Len(), max)
	}
	if total == cw.Len() {
		t.Error("Flush wrote nothing: records were not buffered")
	}
	if got := bytes.Count(cw.Bytes(), []byte("\n")); got != n {
		t.Errorf("%d lines, want %d", got, n)
	}
	// Records are held until Flush.
	before := cw.Len()
	if err := w.WriteMessage(smallMessage()); err != nil {
		t.Fatal(err)
	}
	if cw.Len() != before {
		t.Error("a single small record was written through without Flush")
	}
	if err := w.Flush(); err != nil || cw.Len() == before {
		t.Errorf("Flush: %v, wrote %d bytes", err, cw.Len()-before)
	}
}

func TestClose(t *testing.T) {
	var buf bytes.Buffer
	w := New(&buf)
	if err := w.WriteStats(&record.Stats{Kind: record.KindStats, Time: testTime, Counters: map[string]uint64{"messages": 1}}); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Fatal("written before Close")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if buf.Len() == 0 {
		t.Fatal("Close did not flush")
	}
	for _, err := range []error{w.WriteMessage(smallMessage()), w.WriteStats(&record.Stats{}), w.Flush(), w.Close()} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("after Close: got %v, want ErrClosed", err)
		}
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range append(strs, "\u007f\u0080\u009f\ufffd\U0010ffff", "\xed\xa0\x80", "<script>&amp;</script>", string([]byte{0, 1, 2, 8, 9, 10, 12, 13, 31})) {
		got := appendString(nil, s)
		want := bytes.TrimSuffix(encodingJSON(t, s), []byte("\n"))
		if !bytes.Equal(got, want) {
			t.Errorf("%q: got %s, want %s", s, got, want)
		}
	}
}

func FuzzMessage(f *testing.F) {
	f.Add("echo", "node", []byte(`{"jsonrpc":"2.0","id":1,"result":{}}`), []byte(`1`))
	f.Add("a\x00<b>\xff", "\u2028", []byte("{\n\"a\" : \"\\u00e9\"\r\n}"), []byte(`"x"`))
	f.Add("", "", []byte(`{"a":`), []byte(` `))
	f.Fuzz(func(t *testing.T, tool, comm string, msg, id []byte) {
		m := smallMessage()
		m.Tool, m.From.Comm, m.Message, m.ID = tool, comm, msg, id
		line, err := AppendMessage(nil, m)
		if err != nil {
			if (len(msg) == 0 || json.Valid(msg)) && (len(id) == 0 || json.Valid(id)) {
				t.Fatalf("unexpected error: %v", err)
			}
			return
		}
		got := checkLine(t, line)
		if want := bytes.NewBuffer(nil); true {
			for _, c := range msg {
				if c == '\n' || c == '\r' {
					c = ' '
				}
				want.WriteByte(c)
			}
			if len(msg) > 0 && !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("message: got %q, want %q", got, want)
			}
		}
		var v struct {
			Tool string          `json:"tool"`
			From record.Endpoint `json:"from"`
		}
		if err := json.Unmarshal(line, &v); err != nil {
			t.Fatal(err)
		}
		var wantTool, wantComm string
		_ = json.Unmarshal(encodingJSON(t, tool), &wantTool)
		_ = json.Unmarshal(encodingJSON(t, comm), &wantComm)
		if v.Tool != wantTool || v.From.Comm != wantComm {
			t.Fatalf("strings: got %q %q, want %q %q", v.Tool, v.From.Comm, wantTool, wantComm)
		}
	})
}

var _ io.Writer = (*countingWriter)(nil)
