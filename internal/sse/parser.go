package sse

import (
	"bytes"
	"strconv"
)

// Event is one dispatched server-sent event.
type Event struct {
	// Type is the `event:` field, "" when absent (a browser then fires "message").
	Type string
	// Data is the `data:` lines joined with "\n".
	Data string
	// ID is the last event id at dispatch time: set by this event's `id:` field or inherited from an earlier one.
	ID string
	// HasID says this event itself carried an `id:` field.
	HasID bool
	// Retry is the `retry:` value in milliseconds when HasRetry.
	Retry    int64
	HasRetry bool
	// Truncated says Data is not what was sent: it exceeded Config.MaxEvent and DataExcess bytes were dropped.
	// (An event that lost bytes in capture is not dispatched at all; see Parser.Gap.)
	Truncated  bool
	DataExcess int64
	// Start and End delimit the event in the body (End is one past its terminating blank line), counted from the
	// first byte fed to the parser.
	Start, End int64
}

// Name returns the event type a browser would dispatch: Type, or "message".
func (e *Event) Name() string {
	if e.Type == "" {
		return "message"
	}
	return e.Type
}

// Config bounds what a Parser keeps. The zero value means the defaults.
type Config struct {
	// MaxEvent caps the data kept per event. Default 64 MiB, the largest body mcpscope keeps.
	MaxEvent int
	// MaxLine caps the other field lines. Default 64 KiB.
	MaxLine int
}

const (
	defaultMaxEvent = 64 << 20
	defaultMaxLine  = 64 << 10
)

// Stats counts what a Parser saw.
type Stats struct {
	Events    int64 // events dispatched
	Comments  int64 // comment lines
	Empty     int64 // blank-line blocks without data (id-only, type-only, keep-alive blank lines)
	Discarded int64 // bytes of events dropped: cut by the end of the stream or by a capture gap
	Skipped   int64 // bytes skipped after a gap, up to the next blank line
	Excess    int64 // data bytes beyond MaxEvent, or field bytes beyond MaxLine
	Lost      int64 // bytes reported lost by Gap
}

// Add adds o's counters to s (for totals over many streams).
func (s *Stats) Add(o Stats) {
	s.Events += o.Events
	s.Comments += o.Comments
	s.Empty += o.Empty
	s.Discarded += o.Discarded
	s.Skipped += o.Skipped
	s.Excess += o.Excess
	s.Lost += o.Lost
}

// Parser is an incremental text/event-stream parser. It is not safe for concurrent use.
type Parser struct {
	cfg Config

	pos       int64 // bytes consumed so far
	bomDone   bool
	skipLF    bool // the last byte was a CR: an LF right after it belongs to the same line ending
	resync    bool // after a gap: discard through the next blank line
	lineEmpty bool // resync: the current line has no bytes yet

	line      []byte // partial line carried across Feed calls
	midLine   bool   // bytes of the current line have been consumed
	lineStart int64  // offset of the current line's first byte
	lineOver  int64  // bytes of the partial line beyond MaxLine

	// the event being assembled
	start     int64
	inEvent   bool // a non-comment line has been seen since the last dispatch
	typ       string
	data      []byte
	hasData   bool
	hasID     bool
	retry     int64
	hasRetry  bool
	truncated bool
	excess    int64
	lastID    string

	stats Stats
}

// NewParser returns a Parser with cfg's limits.
func NewParser(cfg Config) *Parser {
	if cfg.MaxEvent <= 0 {
		cfg.MaxEvent = defaultMaxEvent
	}
	if cfg.MaxLine <= 0 {
		cfg.MaxLine = defaultMaxLine
	}
	return &Parser{cfg: cfg, lineEmpty: true}
}

// Stats returns the counters.
func (p *Parser) Stats() Stats { return p.stats }

// LastEventID returns the last event id buffer (what a client would send as Last-Event-ID).
func (p *Parser) LastEventID() string { return p.lastID }

// Feed parses b and calls emit for every event it completes. emit owns the Event; b is not retained.
func (p *Parser) Feed(b []byte, emit func(*Event)) {
	if !p.bomDone && len(b) > 0 {
		// The BOM is three bytes and may arrive split; hold a partial prefix in the line buffer.
		const bom = "\xef\xbb\xbf"
		have := append(p.line, b...)
		if len(have) < len(bom) && bytes.HasPrefix([]byte(bom), have) {
			p.line = have
			p.pos += int64(len(b))
			return
		}
		p.bomDone = true
		if bytes.HasPrefix(have, []byte(bom)) {
			// Re-feed what follows the BOM; the bytes held so far are accounted in pos already.
			held := len(p.line)
			p.line = p.line[:0]
			skip := len(bom) - held
			p.pos += int64(skip)
			b = b[skip:]
		} else if len(p.line) > 0 {
			held := p.line
			p.line = nil
			p.pos -= int64(len(held))
			p.Feed(held, emit)
		}
	}
	for len(b) > 0 {
		if p.skipLF {
			p.skipLF = false
			if b[0] == '\n' {
				p.pos++
				b = b[1:]
				continue
			}
		}
		if !p.midLine {
			p.lineStart = p.pos
		}
		end, eol := lineEnd(b)
		if end < 0 {
			p.partial(b)
			p.midLine = true
			p.pos += int64(len(b))
			return
		}
		p.midLine = false
		chunk := b[:end]
		if b[end] == '\r' && eol == 1 {
			// A CR at the end of b: an LF starting the next Feed completes the same line ending.
			p.skipLF = true
		}
		p.pos += int64(end + eol)
		b = b[end+eol:]
		if len(p.line) > 0 || p.lineOver > 0 {
			p.partial(chunk)
			p.processLine(p.line, emit)
			p.line = p.line[:0]
			p.lineOver = 0
		} else {
			p.processLine(chunk, emit)
			p.lineOver = 0
		}
	}
}

// lineEnd returns the index of the first CR or LF in b and the length of the line ending that follows it as far as
// b shows it (a CR at the end of b counts as 1; the parser then swallows an LF that starts the next Feed).
func lineEnd(b []byte) (int, int) {
	lf := bytes.IndexByte(b, '\n')
	scope := b
	if lf >= 0 {
		scope = b[:lf]
	}
	if cr := bytes.IndexByte(scope, '\r'); cr >= 0 {
		if cr+1 < len(b) && b[cr+1] == '\n' {
			return cr, 2
		}
		return cr, 1
	}
	return lf, 1
}

// partial stores bytes of an unfinished line, bounded. A data line may grow to MaxEvent, any other to MaxLine; the
// decision needs the field name, which the first bytes carry.
func (p *Parser) partial(b []byte) {
	if p.resync {
		if len(b) > 0 {
			p.lineEmpty = false
		}
		p.stats.Skipped += int64(len(b))
		return
	}
	// Whether this is a data line shows in its first five bytes, which may straddle p.line and b.
	var scratch [5]byte
	head := append(scratch[:0], p.line[:min(len(p.line), 5)]...)
	head = append(head, b[:min(len(b), 5-len(head))]...)
	limit := p.cfg.MaxLine
	if isDataLine(head) {
		limit = p.cfg.MaxEvent + len("data: ")
	}
	room := limit - len(p.line)
	if room < 0 {
		room = 0
	}
	if len(b) > room {
		p.lineOver += int64(len(b) - room)
		b = b[:room]
	}
	p.line = append(p.line, b...)
}

// isDataLine reports whether a (possibly partial) line could be a data field. An incomplete prefix of "data:"
// counts, so that a line split in its first bytes is not cut to MaxLine.
func isDataLine(l []byte) bool {
	const d = "data"
	if len(l) <= len(d) {
		return bytes.HasPrefix([]byte(d), l) && len(l) > 0
	}
	return bytes.HasPrefix(l, []byte(d)) && (l[len(d)] == ':')
}

func (p *Parser) processLine(line []byte, emit func(*Event)) {
	if !p.resync && len(line) > p.cfg.MaxLine && !isDataLine(line[:5]) {
		// A field line that arrived whole is bounded as partial() bounds one that arrived in pieces.
		p.lineOver += int64(len(line) - p.cfg.MaxLine)
		line = line[:p.cfg.MaxLine]
	}
	lineLen := int64(len(line)) + p.lineOver
	if p.resync {
		// Discard until a blank line: a line with no bytes at all.
		if lineLen == 0 && p.lineEmpty {
			p.resync = false
			p.resetEvent()
		} else {
			p.stats.Skipped += int64(len(line))
		}
		p.lineEmpty = true
		return
	}
	if lineLen == 0 {
		p.dispatch(emit)
		return
	}
	if !p.inEvent {
		p.inEvent = true
		p.start = p.lineStart
	}
	if line[0] == ':' {
		p.stats.Comments++
		return
	}
	name, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(name) {
	case "data":
		if p.lineOver > 0 {
			p.truncated = true
			p.excess += p.lineOver
			p.stats.Excess += p.lineOver
		}
		room := p.cfg.MaxEvent - len(p.data)
		if room < 0 {
			room = 0
		}
		if p.hasData {
			// The "\n" joining two data lines counts against the limit too.
			if room > 0 {
				p.data = append(p.data, '\n')
				room--
			} else {
				p.excess++
				p.stats.Excess++
				p.truncated = true
			}
		}
		if len(value) > room {
			p.excess += int64(len(value) - room)
			p.stats.Excess += int64(len(value) - room)
			p.truncated = true
			value = value[:room]
		}
		p.data = append(p.data, value...)
		p.hasData = true
	case "event":
		// MCP servers name almost every event "message": reuse the constant rather than allocate.
		if string(value) == "message" {
			p.typ = "message"
		} else {
			p.typ = string(value)
		}
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			p.lastID = string(value)
			p.hasID = true
		}
	case "retry":
		if n, ok := parseDigits(value); ok {
			p.retry, p.hasRetry = n, true
		}
	}
	if p.lineOver > 0 && string(name) != "data" {
		p.stats.Excess += p.lineOver
	}
}

// parseDigits accepts ASCII digits only, as the spec requires (no sign, no space); overflow is rejected.
func parseDigits(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	return n, err == nil
}

func (p *Parser) dispatch(emit func(*Event)) {
	if !p.hasData {
		if p.inEvent || p.truncated {
			p.stats.Empty++
		}
		p.resetEvent()
		return
	}
	ev := &Event{
		Type:       p.typ,
		Data:       string(p.data),
		ID:         p.lastID,
		HasID:      p.hasID,
		Retry:      p.retry,
		HasRetry:   p.hasRetry,
		Truncated:  p.truncated,
		DataExcess: p.excess,
		Start:      p.start,
		End:        p.pos,
	}
	p.stats.Events++
	p.resetEvent()
	emit(ev)
}

func (p *Parser) resetEvent() {
	p.inEvent = false
	p.typ = ""
	// A buffer grown by a large event is dropped rather than kept for the life of a stream that may stay open
	// for minutes.
	if cap(p.data) > 64<<10 {
		p.data = nil
	} else {
		p.data = p.data[:0]
	}
	p.hasData = false
	p.hasID = false
	p.hasRetry = false
	p.retry = 0
	p.truncated = false
	p.excess = 0
}

// Gap tells the parser that n bytes of the stream were lost (0 when bytes were lost but how many is not known, as
// when an HTTP/2 connection loses frames of several streams). The event being assembled is dropped (counted in
// Stats.Discarded, as are the bytes it had) and the parser skips to the next blank line.
func (p *Parser) Gap(n int64) {
	if n < 0 {
		return
	}
	p.stats.Lost += n
	p.pos += n
	p.bomDone = true
	if p.inEvent {
		p.stats.Discarded += p.pos - n - p.start
	} else if p.midLine {
		p.stats.Discarded += p.pos - n - p.lineStart
	}
	p.line = p.line[:0]
	p.lineOver = 0
	p.skipLF = false
	p.midLine = false
	p.resetEvent()
	p.resync = true
	p.lineEmpty = false
}

// Close ends the stream. An event without its terminating blank line is discarded and counted; Close reports
// whether there was one.
func (p *Parser) Close() (discarded bool) {
	if !p.bomDone && len(p.line) > 0 {
		// Fewer than three bytes that could start a BOM: they are a partial line.
		p.bomDone = true
	}
	if p.inEvent || len(p.line) > 0 || p.lineOver > 0 {
		start := p.start
		if !p.inEvent {
			start = p.lineStart
		}
		p.stats.Discarded += p.pos - start
		discarded = true
	}
	p.line = nil
	p.lineOver = 0
	p.resetEvent()
	return discarded
}
