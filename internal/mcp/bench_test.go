package mcp

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mcpscope/mcpscope/internal/record"
)

// smallRequest is a typical tools/call request from the TS SDK (290 bytes).
const smallRequest = `{"method":"tools/call","params":{"name":"get-weather","arguments":{"city":"Lisbon","country":"Portugal","units":"metric","days":3,"hourly":false},"_meta":{"progressToken":17,"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}},"jsonrpc":"2.0","id":17}`

// smallResponse is its result.
const smallResponse = `{"result":{"content":[{"type":"text","text":"Lisbon: 21°C, clear, wind 12 km/h NW; tomorrow 23°C; then 19°C and showers."}],"structuredContent":{"temp":21,"sky":"clear"},"isError":false},"jsonrpc":"2.0","id":17}`

// largeTextResult is a tools/call result of about size bytes of file contents, escaped newlines and quotes included.
func largeTextResult(size int) []byte {
	line := "\tfmt.Printf(\"%s: %d\\n\", name, count) // a line of source code, with quotes and a tab to escape\n"
	text, err := json.Marshal(strings.Repeat(line, size/len(line)))
	if err != nil {
		panic(err)
	}
	return []byte(`{"result":{"content":[{"type":"text","text":` + string(text) + `}],"isError":false},"jsonrpc":"2.0","id":42}`)
}

// largeImageResult is a tools/call result carrying a 1 MiB base64 image.
func largeImageResult() []byte {
	raw := make([]byte, 3<<18)
	for i := range raw {
		raw[i] = byte(i * 7)
	}
	return []byte(`{"jsonrpc":"2.0","id":43,"result":{"content":[{"type":"image","mimeType":"image/png","data":"` +
		base64.StdEncoding.EncodeToString(raw) + `"}]}}`)
}

// largeToolList is a tools/list result of about 1 MiB: thousands of tools with schemas, mostly small tokens.
func largeToolList() []byte {
	var b strings.Builder
	b.WriteString(`{"result":{"tools":[`)
	for i := 0; b.Len() < 1<<20; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"name":"tool_%d","title":"Tool %d","description":"Does thing %d to the input and returns a summary.","inputSchema":{"type":"object","properties":{"path":{"type":"string","description":"File path"},"depth":{"type":"integer","minimum":0,"maximum":10},"follow":{"type":"boolean"}},"required":["path"]},"annotations":{"readOnlyHint":true,"destructiveHint":false,"idempotentHint":true,"openWorldHint":false}}`, i, i, i)
	}
	b.WriteString(`]},"jsonrpc":"2.0","id":2}`)
	return []byte(b.String())
}

func benchmarkParse(b *testing.B, frame []byte) {
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	buf := make([]Parsed, 0, 1)
	for b.Loop() {
		var err error
		if buf, err = AppendParse(buf[:0], frame); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseSmallRequest(b *testing.B)  { benchmarkParse(b, []byte(smallRequest)) }
func BenchmarkParseSmallResponse(b *testing.B) { benchmarkParse(b, []byte(smallResponse)) }
func BenchmarkParseLargeText(b *testing.B)     { benchmarkParse(b, largeTextResult(1<<20)) }
func BenchmarkParseHugeText(b *testing.B)      { benchmarkParse(b, largeTextResult(16<<20)) }
func BenchmarkParseLargeImage(b *testing.B)    { benchmarkParse(b, largeImageResult()) }
func BenchmarkParseLargeToolList(b *testing.B) { benchmarkParse(b, largeToolList()) }

// BenchmarkParseSmallRequestNoReuse is Parse as most callers use it, allocating the result slice.
func BenchmarkParseSmallRequestNoReuse(b *testing.B) {
	frame := []byte(smallRequest)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(frame); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJSONValidLargeToolList is a yardstick: encoding/json merely validating the same bytes.
func BenchmarkJSONValidLargeToolList(b *testing.B) {
	frame := largeToolList()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if !json.Valid(frame) {
			b.Fatal("invalid")
		}
	}
}

// BenchmarkAnnotate measures correlating one request and its response (two Annotate calls per iteration).
func BenchmarkAnnotate(b *testing.B) {
	request, err := Parse([]byte(smallRequest))
	if err != nil {
		b.Fatal(err)
	}
	response, err := Parse([]byte(smallResponse))
	if err != nil {
		b.Fatal(err)
	}
	c := NewCorrelator(Limits{})
	var rec record.Message
	t := epoch
	b.ReportAllocs()
	for b.Loop() {
		c.Annotate("stdio:4242-4250", client, &request[0], t, &rec)
		t = t.Add(time.Millisecond)
		c.Annotate("stdio:4242-4250", server, &response[0], t, &rec)
	}
	if st := c.Stats(); st.Pending != 0 || st.UnmatchedResponses != 0 {
		b.Fatalf("stats %+v", st)
	}
}
