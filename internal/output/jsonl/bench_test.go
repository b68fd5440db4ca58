package jsonl

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpscope/mcpscope/internal/record"
)

// benchWrite writes m b.N times, flushing every batch records as the pipeline would, and reports records/s and
// (through SetBytes) MB/s of JSONL produced.
func benchWrite(b *testing.B, w io.Writer, m *record.Message, batch int) {
	line, err := AppendMessage(nil, m)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	jw := New(w)
	i := 0
	for b.Loop() {
		if err := jw.WriteMessage(m); err != nil {
			b.Fatal(err)
		}
		if i++; i%batch == 0 {
			if err := jw.Flush(); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := jw.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(len(line)), "B/record")
}

func smallResponse() *record.Message {
	m := smallMessage()
	m.Type = record.TypeResponse
	m.Direction = record.ServerToClient
	m.From, m.To = m.To, m.From
	m.LatencyMs = ptr(6.512345)
	m.IsError = ptr(false)
	m.Message = json.RawMessage(`{"result":{"content":[{"type":"text","text":"Echo: hi"}]},"jsonrpc":"2.0","id":3}`)
	m.Size = len(m.Message)
	return m
}

func BenchmarkWriteMessage(b *testing.B) {
	small := smallResponse()
	large := smallResponse()
	large.Message = json.RawMessage(`{"result":{"content":[{"type":"text","text":"` + strings.Repeat("lorem ipsum ", 1<<20/12) + `"}]},"jsonrpc":"2.0","id":3}`)
	large.Size = len(large.Message)

	b.Run("small/discard/batch=64", func(b *testing.B) { benchWrite(b, io.Discard, small, 64) })
	b.Run("small/discard/batch=1", func(b *testing.B) { benchWrite(b, io.Discard, small, 1) })
	b.Run("small/file/batch=64", func(b *testing.B) { benchWrite(b, tempFile(b), small, 64) })
	b.Run("small/file/batch=1", func(b *testing.B) { benchWrite(b, tempFile(b), small, 1) })
	b.Run("1MiB/discard", func(b *testing.B) { benchWrite(b, io.Discard, large, 1) })
}

func tempFile(b *testing.B) *os.File {
	f, err := os.Create(filepath.Join(b.TempDir(), "out.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	return f
}

// BenchmarkEncodingJSON is the baseline: the same small record through encoding/json (which, unlike Writer,
// compacts "message" and drops trailing zeros from "ts").
func BenchmarkEncodingJSON(b *testing.B) {
	m := smallResponse()
	line, _ := AppendMessage(nil, m)
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	bw := bufio.NewWriterSize(io.Discard, BufferSize)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for b.Loop() {
		if err := enc.Encode(m); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkWriteStats(b *testing.B) {
	s := &record.Stats{Kind: record.KindStats, Time: testTime, Counters: map[string]uint64{
		"messages": 123456, "kernel_lost_bytes": 4096, "junk_lines": 3, "truncated_messages": 1, "late_responses": 0,
	}}
	jw := New(io.Discard)
	b.ReportAllocs()
	for b.Loop() {
		if err := jw.WriteStats(s); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
