package http1

import (
	"fmt"
	"strings"
	"time"

	"github.com/mcpscope/mcpscope/internal/httpmsg"
	"github.com/mcpscope/mcpscope/internal/httpmsg/httpmsgtest"
)

// summary renders an event as one comparable line.
func summary(e httpmsg.Event) string {
	var b strings.Builder
	b.WriteString(e.Kind.String())
	msg := func(m *httpmsg.Message) {
		if m == nil {
			b.WriteString(" <nil>")
			return
		}
		if m.Kind == httpmsg.KindRequest {
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
		fmt.Fprintf(&b, " type=%q id=%q data=%q", e.SSE.Type, e.SSE.ID, clip([]byte(e.SSE.Data)))
		if e.SSE.Truncated {
			b.WriteString(" truncated")
		}
	}
	return b.String()
}

func clip(b []byte) string {
	if len(b) > 120 {
		return fmt.Sprintf("%s…(%d bytes)", b[:120], len(b))
	}
	return string(b)
}

// run feeds chunks to a new Conn and returns its events and stats.
func run(cfg Config, chunks []httpmsgtest.Chunk) ([]httpmsg.Event, Stats) {
	evs, st, _ := runConn(cfg, chunks)
	return evs, st
}

func runConn(cfg Config, chunks []httpmsgtest.Chunk) ([]httpmsg.Event, Stats, *Conn) {
	var evs []httpmsg.Event
	c := NewConn(cfg, func(e httpmsg.Event) { evs = append(evs, e) })
	t0 := time.Unix(0, 0)
	for i, ch := range chunks {
		c.Feed(ch.Dir, ch.Off, ch.Data, t0.Add(time.Duration(i)))
	}
	c.Close(t0.Add(time.Hour))
	return evs, c.Stats(), c
}

func summaries(evs []httpmsg.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = summary(e)
	}
	return out
}

// script builds chunks from alternating direction/data pairs, each sent whole.
func script(parts ...any) []httpmsgtest.Chunk {
	var out []httpmsgtest.Chunk
	var off [2]int64
	for i := 0; i < len(parts); i += 2 {
		d := parts[i].(httpmsg.Dir)
		s := parts[i+1].(string)
		out = append(out, httpmsgtest.Chunk{Dir: d, Off: off[d], Data: []byte(s)})
		off[d] += int64(len(s))
	}
	return out
}

// rechunk splits every chunk into pieces of at most n bytes.
func rechunk(chunks []httpmsgtest.Chunk, n int) []httpmsgtest.Chunk {
	var out []httpmsgtest.Chunk
	for _, c := range chunks {
		for i := 0; i < len(c.Data); i += n {
			j := min(i+n, len(c.Data))
			out = append(out, httpmsgtest.Chunk{Dir: c.Dir, Off: c.Off + int64(i), Data: c.Data[i:j]})
		}
	}
	return out
}
