package h2

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mcpscope/mcpscope/internal/httpmsg"
	"github.com/mcpscope/mcpscope/internal/httpmsg/httpmsgtest"
)

func summary(e httpmsg.Event) string {
	var b strings.Builder
	b.WriteString(e.Kind.String())
	msg := func(m *httpmsg.Message) {
		if m == nil {
			b.WriteString(" <nil>")
			return
		}
		fmt.Fprintf(&b, " [%d]", m.StreamID)
		if m.HeadersUnknown {
			b.WriteString(" ?")
		} else if m.Kind == httpmsg.KindRequest {
			fmt.Fprintf(&b, " %s %s", m.Method, m.Target)
		} else {
			fmt.Fprintf(&b, " %d", m.Status)
		}
		if m.Truncated {
			b.WriteString(" truncated")
		}
		if m.Incomplete {
			b.WriteString(" incomplete")
		}
		if m.LostBytes > 0 {
			fmt.Fprintf(&b, " lost=%d", m.LostBytes)
		}
	}
	switch e.Kind {
	case httpmsg.EventRequest:
		msg(e.Request)
		fmt.Fprintf(&b, " body=%q", clip(e.Request.Body))
	case httpmsg.EventResponse, httpmsg.EventInterim, httpmsg.EventStreamStart:
		msg(e.Request)
		b.WriteString(" ->")
		msg(e.Response)
		if e.Kind == httpmsg.EventResponse && !e.Response.Streamed {
			fmt.Fprintf(&b, " body=%q", clip(e.Response.Body))
		}
	case httpmsg.EventSSE:
		fmt.Fprintf(&b, " [%d] type=%q id=%q data=%q", e.Response.StreamID, e.SSE.Type, e.SSE.ID, clip([]byte(e.SSE.Data)))
	}
	return b.String()
}

func clip(b []byte) string {
	if len(b) > 100 {
		return fmt.Sprintf("%s…(%d bytes)", b[:100], len(b))
	}
	return string(b)
}

func run(cfg Config, chunks []httpmsgtest.Chunk) ([]httpmsg.Event, Stats) {
	var evs []httpmsg.Event
	c := NewConn(cfg, func(e httpmsg.Event) { evs = append(evs, e) })
	t0 := time.Unix(0, 0)
	for i, ch := range chunks {
		if ch.Dir == ServerToClient {
			c.AwaitsRequest(ch.Data) // as the monitor asks of each server chunk before it feeds it: read-only, never panics
		}
		c.Feed(ch.Dir, ch.Off, ch.Data, t0.Add(time.Duration(i)))
	}
	c.Close(t0.Add(time.Hour))
	return evs, c.Stats()
}

func summaries(evs []httpmsg.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = summary(e)
	}
	return out
}

// filter keeps the summaries containing sub.
func filter(ss []string, sub string) []string {
	return slices.DeleteFunc(slices.Clone(ss), func(s string) bool { return !strings.Contains(s, sub) })
}
