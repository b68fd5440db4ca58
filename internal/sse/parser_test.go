package sse

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func collect(p *Parser, chunks ...string) []string {
	var out []string
	for _, c := range chunks {
		p.Feed([]byte(c), func(e *Event) { out = append(out, render(e)) })
	}
	return out
}

func render(e *Event) string {
	s := fmt.Sprintf("type=%q data=%q id=%q", e.Type, e.Data, e.ID)
	if e.HasRetry {
		s += fmt.Sprintf(" retry=%d", e.Retry)
	}
	if e.Truncated {
		s += fmt.Sprintf(" truncated(%d)", e.DataExcess)
	}
	return s
}

func TestParser(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		in    string
		want  []string
		stats func(Stats) bool
	}{
		{"simple", Config{}, "data: hello\n\n", []string{`type="" data="hello" id=""`}, nil},
		{"multiline_data", Config{}, "data: a\ndata: b\ndata\ndata:c\n\n", []string{`type="" data="a\nb\n\nc" id=""`}, nil},
		{"event_id_retry", Config{}, "event: message\nid: 7\nretry: 1500\ndata: {}\n\n", []string{`type="message" data="{}" id="7" retry=1500`}, nil},
		{"id_persists", Config{}, "id: 1\ndata: a\n\ndata: b\n\n", []string{`type="" data="a" id="1"`, `type="" data="b" id="1"`}, nil},
		{"id_only_block_not_dispatched", Config{}, "id: 5\n\ndata: x\n\n", []string{`type="" data="x" id="5"`}, func(s Stats) bool { return s.Empty == 1 }},
		{"priming_event", Config{}, "id: p\ndata: \n\n", []string{`type="" data="" id="p"`}, nil},
		{"id_with_nul_ignored", Config{}, "id: a\x00b\ndata: x\n\n", []string{`type="" data="x" id=""`}, nil},
		{"bad_retry_ignored", Config{}, "retry: 10s\ndata: x\n\nretry: -1\ndata: y\n\n", []string{`type="" data="x" id=""`, `type="" data="y" id=""`}, nil},
		{"comments", Config{}, ": hi\n:\ndata: x\n\n: keep-alive\n\n", []string{`type="" data="x" id=""`}, func(s Stats) bool { return s.Comments == 3 }},
		{"crlf", Config{}, "data: a\r\ndata: b\r\n\r\n", []string{`type="" data="a\nb" id=""`}, nil},
		{"cr_only", Config{}, "data: a\rdata: b\r\r", []string{`type="" data="a\nb" id=""`}, nil},
		{"bom", Config{}, "\xef\xbb\xbfdata: x\n\n", []string{`type="" data="x" id=""`}, nil},
		{"bom_only_first", Config{}, "\xef\xbb\xbfdata: x\n\n\xef\xbb\xbfdata: y\n\n", []string{`type="" data="x" id=""`}, nil},
		{"two_spaces_keep_one", Config{}, "data:  x\n\n", []string{`type="" data=" x" id=""`}, nil},
		{"unknown_field", Config{}, "foo: bar\ndata: x\n\n", []string{`type="" data="x" id=""`}, nil},
		{"type_reset_after_dispatch", Config{}, "event: a\ndata: 1\n\ndata: 2\n\n", []string{`type="a" data="1" id=""`, `type="" data="2" id=""`}, nil},
		{"unterminated_discarded", Config{}, "data: 1\n\ndata: 2\n", []string{`type="" data="1" id=""`}, nil},
		{"oversize", Config{MaxEvent: 4}, "data: 123456\ndata: 7\n\ndata: ok\n\n", []string{`type="" data="1234" id="" truncated(4)`, `type="" data="ok" id=""`},
			func(s Stats) bool { return s.Excess == 4 }},
		{"long_field_line_bounded", Config{MaxLine: 8}, "event: " + strings.Repeat("e", 100) + "\ndata: x\n\n", []string{`type="e" data="x" id=""`},
			func(s Stats) bool { return s.Excess == 100-1 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, n := range []int{0, 1, 2, 3, 5} {
				p := NewParser(tc.cfg)
				var chunks []string
				if n == 0 {
					chunks = []string{tc.in}
				} else {
					for i := 0; i < len(tc.in); i += n {
						chunks = append(chunks, tc.in[i:min(i+n, len(tc.in))])
					}
				}
				got := collect(p, chunks...)
				p.Close()
				if !slices.Equal(got, tc.want) {
					t.Fatalf("chunk %d:\n got %q\nwant %q", n, got, tc.want)
				}
				if tc.stats != nil && !tc.stats(p.Stats()) {
					t.Fatalf("chunk %d: stats %+v", n, p.Stats())
				}
			}
		})
	}
}

func TestGap(t *testing.T) {
	p := NewParser(Config{})
	var got []string
	emit := func(e *Event) { got = append(got, render(e)) }
	p.Feed([]byte("data: one\n\ndata: tw"), emit)
	p.Gap(10)
	p.Feed([]byte("o more\ndata: x\n\ndata: three\n\n"), emit)
	want := []string{`type="" data="one" id=""`, `type="" data="three" id=""`}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q want %q", got, want)
	}
	s := p.Stats()
	if s.Lost != 10 || s.Discarded != 8 || s.Skipped == 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestOffsets(t *testing.T) {
	p := NewParser(Config{})
	in := ": c\ndata: a\n\nevent: x\r\ndata: b\r\n\r\n"
	var evs []*Event
	p.Feed([]byte(in), func(e *Event) { evs = append(evs, e) })
	if len(evs) != 2 || evs[0].Start != 0 || evs[0].End != 13 || evs[1].Start != 13 || evs[1].End != int64(len(in)) {
		for _, e := range evs {
			t.Logf("%+v", *e)
		}
		t.Fatal("offsets")
	}
}

func TestCloseCountsPartial(t *testing.T) {
	p := NewParser(Config{})
	p.Feed([]byte("data: x\n\ndata: partial"), func(*Event) {})
	if !p.Close() || p.Stats().Discarded != int64(len("data: partial")) {
		t.Fatalf("stats %+v", p.Stats())
	}
}
