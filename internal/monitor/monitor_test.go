package monitor

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mcpscope/mcpscope/internal/capture"
	"github.com/mcpscope/mcpscope/internal/procfs"
	"github.com/mcpscope/mcpscope/internal/record"
	"github.com/mcpscope/mcpscope/internal/stream"
)

// memSink keeps what it is given.
type memSink struct {
	msgs  []record.Message
	https []record.HTTP
	stats []record.Stats
}

func (s *memSink) WriteMessage(m *record.Message) error {
	c := *m
	c.Message = append([]byte(nil), m.Message...)
	s.msgs = append(s.msgs, c)
	return nil
}
func (s *memSink) WriteHTTP(h *record.HTTP) error    { s.https = append(s.https, *h); return nil }
func (s *memSink) WriteStats(st *record.Stats) error { s.stats = append(s.stats, *st); return nil }
func (s *memSink) Close() error                      { return nil }

type fakeController struct{ quarantined, forgotten []stream.Key }

func (f *fakeController) Quarantine(k stream.Key) error {
	f.quarantined = append(f.quarantined, k)
	return nil
}
func (f *fakeController) Forget(k stream.Key) error { f.forgotten = append(f.forgotten, k); return nil }

var (
	toServer = stream.Key{Kind: stream.KindUnix, Ino: 100}
	toClient = stream.Key{Kind: stream.KindUnix, Ino: 200}
)

const client, server = 10, 20

func data(k stream.Key, pid int, comm string, off uint64, t uint64, s string) *capture.Event {
	e := &capture.Event{Kind: capture.KindData, Stream: k, Gen: 1, Offset: off, Time: t, Pid: pid, Tid: pid, Data: []byte(s)}
	copy(e.Comm[:], comm)
	return e
}

func reader(k stream.Key, pid int, comm string, t uint64) *capture.Event {
	e := &capture.Event{Kind: capture.KindReader, Stream: k, Gen: 1, Time: t, Pid: pid}
	copy(e.Comm[:], comm)
	return e
}

func newTestMonitor() (*Monitor, *memSink, *fakeController) {
	sink := &memSink{}
	ctl := &fakeController{}
	m := New(Options{Sink: sink, Controller: ctl, Proc: procfs.FS{Root: "/nonexistent"}})
	return m, sink, ctl
}

// A response reported before its request (their sys_exit programs raced on two CPUs) is still handled after it:
// frames are ordered by when their writes began.
func TestResponseReportedBeforeRequest(t *testing.T) {
	m, sink, _ := newTestMonitor()
	m.Handle(reader(toClient, client, "host", 0))
	m.Handle(reader(toServer, server, "srv", 0))
	m.Handle(data(toClient, server, "srv", 0, 2_000_000, `{"jsonrpc":"2.0","id":1,"result":{}}`+"\n"))
	m.Handle(data(toServer, client, "host", 0, 1_000_000, `{"jsonrpc":"2.0","id":1,"method":"ping"}`+"\n"))
	m.tick(100_000_000)
	if len(sink.msgs) != 2 || sink.msgs[0].Type != "request" || sink.msgs[1].Method != "ping" {
		t.Fatalf("records %+v, want the request then its paired response", sink.msgs)
	}
}

// A response whose stream's reader is known must still wait behind an earlier request whose reader is not, so
// correlation sees the request first.
func TestOrderHeldUntilReaderKnown(t *testing.T) {
	m, sink, _ := newTestMonitor()
	req := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}` + "\n"
	resp := `{"result":{"content":[]},"jsonrpc":"2.0","id":1}` + "\n"
	m.Handle(reader(toClient, client, "host", 1))
	m.Handle(data(toServer, client, "host", 0, 1_000_000, req))
	m.Handle(data(toClient, server, "srv", 0, 3_000_000, resp))
	if len(sink.msgs) != 0 {
		t.Fatalf("records written before the request's reader was known: %d", len(sink.msgs))
	}
	m.Handle(reader(toServer, server, "srv", 4_000_000))
	m.tick(100_000_000) // past the reorder hold
	if len(sink.msgs) != 2 {
		t.Fatalf("%d records, want 2", len(sink.msgs))
	}
	r0, r1 := sink.msgs[0], sink.msgs[1]
	if r0.Type != "request" || r0.To != (record.Endpoint{Pid: server, Comm: "srv"}) || r0.Tool != "echo" {
		t.Errorf("request record %+v", r0)
	}
	if r1.Type != "response" || r1.Method != "tools/call" || r1.LatencyMs == nil || *r1.LatencyMs != 2 {
		t.Errorf("response record %+v (latency %v)", r1, r1.LatencyMs)
	}
	if r0.Session != r1.Session || r0.Session != fmt.Sprintf("stdio:%d-%d", client, server) {
		t.Errorf("sessions %q and %q", r0.Session, r1.Session)
	}
	if r0.Direction != record.ClientToServer || r1.Direction != record.ServerToClient {
		t.Errorf("directions %q, %q", r0.Direction, r1.Direction)
	}
}

// A reader that never shows up does not hold the queue forever: after ReaderWait the frame goes on.
func TestUnknownReaderReleasedAfterWait(t *testing.T) {
	m, sink, _ := newTestMonitor()
	m.Handle(data(toServer, client, "host", 0, 1_000_000, `{"jsonrpc":"2.0","method":"notifications/initialized"}`+"\n"))
	m.tick(1_000_000 + uint64(m.opts.ReaderWait) + 1)
	if len(sink.msgs) != 1 || sink.msgs[0].To.Pid != 0 {
		t.Fatalf("records %+v, want one with no reader", sink.msgs)
	}
	if m.Counts().ReaderUnknown != 1 {
		t.Errorf("reader_unknown = %d", m.Counts().ReaderUnknown)
	}
}

// Junk lines are counted and skipped; a stream with only junk is quarantined; a valid stream beside it is whole.
func TestJunkQuarantineKeepsValidStream(t *testing.T) {
	m, sink, ctl := newTestMonitor()
	junk := stream.Key{Kind: stream.KindPipe, Ino: 300}
	m.Handle(reader(junk, 30, "cat", 0))
	m.Handle(reader(toServer, server, "srv", 0))
	var off uint64
	for i := range 40 {
		line := fmt.Sprintf(`{"id": "not json-rpc %d"`+"\n", i)
		m.Handle(data(junk, 31, "junk", off, uint64(i), line))
		off += uint64(len(line))
		if i == 20 {
			m.Handle(data(toServer, client, "host", 0, uint64(i), `{"jsonrpc":"2.0","id":1,"method":"ping"}`+"\n"))
		}
	}
	m.tick(100_000_000)
	if len(sink.msgs) != 1 || sink.msgs[0].Method != "ping" {
		t.Fatalf("records %+v, want the ping only", sink.msgs)
	}
	if len(ctl.quarantined) != 1 || ctl.quarantined[0] != junk {
		t.Fatalf("quarantined %v, want the junk stream", ctl.quarantined)
	}
	if c := m.Counts(); c.JunkLines != 40 || c.Quarantined != 1 {
		t.Errorf("counts %+v", c)
	}
}

// Bytes the kernel could not deliver mark the message truncated, with the count, and the stream recovers at the
// next message.
func TestLostBytesMarkTruncated(t *testing.T) {
	m, sink, _ := newTestMonitor()
	m.Handle(reader(toServer, server, "srv", 0))
	first := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"big","arguments":{"x":"` + strings.Repeat("a", 100) + `"}}}` + "\n"
	second := `{"jsonrpc":"2.0","id":2,"method":"ping"}` + "\n"
	m.Handle(data(toServer, client, "host", 0, 1, first[:50]))
	// bytes 50..80 were lost in the kernel; the next record carries the stream's lost count.
	e := data(toServer, client, "host", 80, 2, first[80:]+second)
	e.Lost = 30
	m.Handle(e)
	m.tick(100_000_000)
	if len(sink.msgs) != 2 {
		t.Fatalf("%d records, want 2: %+v", len(sink.msgs), sink.msgs)
	}
	if r := sink.msgs[0]; !r.Truncated || r.LostBytes != 30 || r.Size != len(first)-1 || r.Message != nil {
		t.Errorf("truncated record %+v", r)
	}
	if r := sink.msgs[1]; r.Truncated || r.Method != "ping" {
		t.Errorf("record after the loss %+v", r)
	}
}

// When a writer exits, its streams and sessions are freed, after the frames it wrote before exiting have been handled
// in their session.
func TestProcessExitFreesState(t *testing.T) {
	m, sink, ctl := newTestMonitor()
	m.Handle(reader(toServer, server, "srv", 0))
	m.Handle(data(toServer, client, "host", 0, 1_000_000, `{"jsonrpc":"2.0","id":1,"method":"ping"}`+"\n"))
	m.Handle(&capture.Event{Kind: capture.KindExit, Pid: client, Time: 2_000_000})
	if len(m.streams) != 0 || len(ctl.forgotten) != 1 {
		t.Fatalf("streams left %d, forgotten %v", len(m.streams), ctl.forgotten)
	}
	m.tick(100_000_000)
	if len(sink.msgs) != 1 || sink.msgs[0].To.Pid != server {
		t.Fatalf("the ping written before the exit: %+v", sink.msgs)
	}
	if st := m.CorrelatorStats(); st.Pending != 0 || st.Unanswered != 1 {
		t.Errorf("after exit: pending %d, unanswered %d; want 0, 1", st.Pending, st.Unanswered)
	}
	if len(m.queue) != 0 {
		t.Errorf("%d entries left in the queue", len(m.queue))
	}
}

// The parse results are slices of their frame: once handed on they must not keep it on the heap (a 16 MiB message
// until the next one came; the elements of an old batch past a shorter result, for good).
func TestParsedResultsForgetTheirFrame(t *testing.T) {
	m, sink, _ := newTestMonitor()
	m.Handle(reader(toServer, server, "srv", 0))
	batch := `[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"ping"},{"jsonrpc":"2.0","id":3,"method":"ping"}]` + "\n"
	single := `{"jsonrpc":"2.0","id":4,"method":"ping"}` + "\n"
	m.Handle(data(toServer, client, "host", 0, 1_000_000, batch))
	m.Handle(data(toServer, client, "host", uint64(len(batch)), 2_000_000, single))
	m.tick(100_000_000)
	if len(sink.msgs) != 4 {
		t.Fatalf("%d records, want 4", len(sink.msgs))
	}
	for i, p := range m.parsed[:cap(m.parsed)] {
		if p.Raw != nil || p.Method != "" {
			t.Errorf("parse result %d still holds %q after the tick", i, p.Raw)
		}
	}
}

// TestQueueReusesItsRoom: frames pass through one array, whether the queue empties between them or always holds
// one, and the slots outside the queue hold nothing.
func TestQueueReusesItsRoom(t *testing.T) {
	for _, c := range []struct {
		name      string
		every     uint64 // between frames
		tickAfter uint64 // from a frame to the tick after it; ReorderHold is 10 ms
		queued    int    // after each tick
	}{
		{"empties", 1_000_000_000, 100_000_000, 0},
		{"slides", 6_000_000, 5_000_000, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, sink, _ := newTestMonitor()
			m.Handle(reader(toServer, server, "srv", 0))
			var off uint64
			var room *pending
			const n = 50
			for i := range n {
				line := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"ping"}`+"\n", i)
				at := uint64(i+1) * c.every
				m.Handle(data(toServer, client, "host", off, at, line))
				off += uint64(len(line))
				m.tick(at + c.tickAfter)
				if len(m.queue) != c.queued {
					t.Fatalf("message %d: %d frames queued after the tick, want %d", i, len(m.queue), c.queued)
				}
				first := &m.queue[:1][0]
				if i == 10 {
					room = first
				} else if i > 10 && first != room {
					t.Errorf("message %d went through a new array", i)
				}
				for j, p := range m.queue[len(m.queue):cap(m.queue)] {
					if p.frame.Data != nil || p.info != nil {
						t.Errorf("message %d: slot %d, past the queue, still holds a frame", i, len(m.queue)+j)
					}
				}
			}
			if len(sink.msgs) != n-c.queued {
				t.Errorf("%d records, want %d", len(sink.msgs), n-c.queued)
			}
		})
	}
}

// TestParsedResultsAfterLargeBatch: after a batch larger than keptParsed, the results' room is let go, so that later
// messages do not clear the whole batch's room each.
func TestParsedResultsAfterLargeBatch(t *testing.T) {
	m, sink, _ := newTestMonitor()
	m.Handle(reader(toServer, server, "srv", 0))
	var b strings.Builder
	b.WriteString("[")
	for i := range keptParsed + 1 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"jsonrpc":"2.0","id":%d,"method":"ping"}`, i+1)
	}
	b.WriteString("]\n")
	batch := b.String()
	single := `{"jsonrpc":"2.0","id":1000,"method":"ping"}` + "\n"
	m.Handle(data(toServer, client, "host", 0, 1_000_000, batch))
	m.Handle(data(toServer, client, "host", uint64(len(batch)), 2_000_000, single))
	m.tick(100_000_000)
	if len(sink.msgs) != keptParsed+2 {
		t.Fatalf("%d records, want %d", len(sink.msgs), keptParsed+2)
	}
	if cap(m.parsed) > keptParsed {
		t.Errorf("the parse results keep room for %d after the batch, more than %d", cap(m.parsed), keptParsed)
	}
	for i, p := range m.parsed[:cap(m.parsed)] {
		if p.Raw != nil {
			t.Errorf("parse result %d still holds %q after the tick", i, p.Raw)
		}
	}
}
