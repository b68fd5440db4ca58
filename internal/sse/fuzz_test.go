package sse

import (
	"slices"
	"testing"
)

// FuzzSSE feeds the same stream whole and in pieces: the events and counters must be the same, and no event may
// exceed the limit.
func FuzzSSE(f *testing.F) {
	f.Add([]byte("event: message\nid: 1\ndata: {\"jsonrpc\":\"2.0\"}\n\n"), uint8(3), uint16(0))
	f.Add([]byte("\xef\xbb\xbfdata: a\r\ndata: b\r\r: c\n\n"), uint8(1), uint16(4))
	f.Add([]byte("id: p\ndata: \n\nretry: 5\n\n"), uint8(2), uint16(9))
	f.Fuzz(func(t *testing.T, in []byte, size uint8, gapAt uint16) {
		cfg := Config{MaxEvent: 64, MaxLine: 32}
		run := func(n int) ([]string, Stats) {
			p := NewParser(cfg)
			var out []string
			emit := func(e *Event) {
				if len(e.Data) > cfg.MaxEvent {
					t.Fatalf("event data %d > %d", len(e.Data), cfg.MaxEvent)
				}
				if e.End < e.Start {
					t.Fatalf("offsets %d..%d", e.Start, e.End)
				}
				out = append(out, render(e))
			}
			for i := 0; i < len(in); i += n {
				p.Feed(in[i:min(i+n, len(in))], emit)
			}
			p.Close()
			return out, p.Stats()
		}
		a, sa := run(len(in) + 1)
		b, sb := run(int(size%17) + 1)
		if !slices.Equal(a, b) || sa != sb {
			t.Fatalf("chunking changed the result:\n%q %+v\n%q %+v", a, sa, b, sb)
		}
		// A gap anywhere must be survived and counted.
		p := NewParser(cfg)
		at := int(gapAt) % (len(in) + 1)
		p.Feed(in[:at], func(*Event) {})
		p.Gap(3)
		p.Feed(in[at:], func(*Event) {})
		p.Close()
		if p.Stats().Lost != 3 {
			t.Fatalf("lost %d", p.Stats().Lost)
		}
	})
}
