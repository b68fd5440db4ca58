package storesink

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpscope/mcpscope/internal/record"
	"github.com/mcpscope/mcpscope/internal/store"
)

// BenchmarkFlood measures the store's insert rate under a message flood: b.N messages (tools/call requests and
// their responses, ~300 bytes each, as a busy session writes them) go through the sink, which the pipeline
// flushes every 256 messages, into a database on disk; the clock stops when Close has committed the last row.
// It reports messages per second end to end, CPU microseconds per message, and fails if anything was dropped (the queue is made large enough
// that the measure is the database's rate, not the drop policy's).
func BenchmarkFlood(b *testing.B) { benchmarkWrites(b, 256, false, 0) }

// BenchmarkFlood64K is BenchmarkFlood with the messages of BenchmarkEcho64K (test/bench): tools/call requests
// whose arguments, and responses whose result, carry 64 KiB of text each, flushed every 32 messages. It measures
// how fast the database takes large messages: the request is written twice (the message, and the call's
// arguments), and each page of it twice again (to the write-ahead log, then by the checkpoint to the database).
func BenchmarkFlood64K(b *testing.B) { benchmarkWrites(b, 32, false, 64<<10) }

// BenchmarkSmallCommits is the store under a steady stream rather than a flood, as a ping-pong session gives it:
// the sink is flushed every 32 messages and each batch is committed before the next is written, so every
// transaction holds 32 messages and the cost of a commit (beginning it, preparing statements, committing) weighs
// on each message. The store commits each batch as it comes here (store.Options.CommitEvery < 0): by default it
// would wait 50 ms after a commit for more, which a real stream gives it and this benchmark, waiting for each
// commit, never does.
func BenchmarkSmallCommits(b *testing.B) { benchmarkWrites(b, 32, true, 0) }

// benchmarkWrites writes b.N messages through a sink, flushing it every flushEvery messages, and waiting for that
// batch's commit if wait. With textSize > 0, each message carries that many bytes of text instead of about 100.
func benchmarkWrites(b *testing.B, flushEvery int, wait bool, textSize int) {
	path := filepath.Join(b.TempDir(), "flood.db")
	var commitEvery time.Duration
	if wait {
		commitEvery = -1
	}
	sink := newSinkB(b, path, commitEvery)
	a := conv{session: "stdio:100-200", client: claude, server: node, era: record.EraLegacy}
	pad := `"lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore"`
	if textSize > 0 {
		pad = `"` + strings.Repeat("x", textSize) + `"`
	}
	msgs := make([]*record.Message, 0, 512)
	for i := range 256 {
		id := fmt.Sprint(i + 1)
		req := a.call(i, id, "tools/call", "search", `{"query":`+pad+`,"limit":10}`)
		resp := a.result(i, i, req, `{"jsonrpc":"2.0","id":`+id+`,"result":{"content":[{"type":"text","text":`+pad+`}]}}`)
		msgs = append(msgs, req, resp)
	}
	var bytes int
	for _, m := range msgs {
		bytes += m.Size
	}
	b.SetBytes(int64(bytes / len(msgs)))
	b.ResetTimer()
	cpu0 := cpuTime(b)
	start := time.Now()
	for i := range b.N {
		m := *msgs[i%len(msgs)]
		if i%len(msgs) == 0 { // fresh ids, so calls open and close as in a real session
			m.Session = fmt.Sprintf("stdio:%d-200", 100+i)
		}
		m.ID = json.RawMessage(fmt.Sprint(i/2 + 1))
		if err := sink.WriteMessage(&m); err != nil {
			b.Fatal(err)
		}
		if i%flushEvery == flushEvery-1 {
			commits := sink.Store().Stats().Commits
			sink.Flush()
			for wait && sink.Store().Stats().Commits == commits {
				time.Sleep(20 * time.Microsecond)
			}
		}
	}
	if err := sink.Close(); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	cpu := cpuTime(b) - cpu0
	st := sink.Store().Stats()
	if st.RowsDropped != 0 {
		b.Fatalf("%d rows dropped", st.RowsDropped)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	// CPU per message (sink, store and driver together) does not depend on what else the machine runs.
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu_µs/msg")
	b.ReportMetric(float64(st.RowsWritten)/float64(b.N), "rows/msg")
	b.ReportMetric(float64(b.N)/float64(max(st.Commits, 1)), "msgs/commit")
}

// cpuTime returns the user and system CPU time of this process.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func newSinkB(b *testing.B, path string, commitEvery time.Duration) *Sink {
	b.Helper()
	st, err := store.Open(b.Context(), path, store.Options{QueueBatches: 1 << 16, QueueBytes: 4 << 30, CloseTimeout: time.Hour,
		CommitEvery: commitEvery})
	if err != nil {
		b.Fatal(err)
	}
	return New(st, Options{Version: "bench", CloseWait: time.Hour})
}
