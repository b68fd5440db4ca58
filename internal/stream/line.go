package stream

import (
	"bytes"
	"math"
)

// line is the message a stream is assembling: the bytes since the last newline.
type line struct {
	buf         []byte // bytes that arrived: all of them up to maxWhole, once oversize the first OversizePrefix
	offset      uint64 // stream offset of the first byte, lost or not
	size        uint64 // bytes written so far, lost ones included; 0 when no message is open
	lost        uint64 // bytes of size that were lost
	first, last uint64 // Time of the chunks that held the first and the last byte that arrived
	writer      Writer // writer of the last byte that arrived
	oversize    bool   // size exceeded maxWhole: buf is a prefix
	endsCR      bool   // the last byte so far arrived and is '\r'
}

// arrived returns how many bytes of the message arrived.
func (l *line) arrived() uint64 { return l.size - l.lost }

// add appends p, the next bytes of the message, which start at stream offset off.
func (l *line) add(off uint64, p []byte, time uint64, w *Writer, maxWhole uint64, prefix int) {
	if len(p) == 0 {
		return
	}
	if l.arrived() == 0 {
		l.first = time
		if l.size == 0 {
			l.offset = off
		}
	}
	l.size += uint64(len(p))
	l.last = time
	l.writer = *w
	l.endsCR = p[len(p)-1] == '\r'
	switch {
	case l.oversize:
		if room := prefix - len(l.buf); room > 0 {
			l.buf = append(l.buf, p[:min(room, len(p))]...)
		}
	case l.size <= maxWhole:
		if need := len(l.buf) + len(p); need > cap(l.buf) {
			l.grow(need, maxWhole)
		}
		l.buf = append(l.buf, p...)
	default:
		l.becomeOversize(p, prefix)
	}
}

// grow makes room for need bytes. It doubles the capacity, where append grows large slices by 1.25×: a 16 MiB
// message is then copied about twice on its way up, not five times, and a buffer's capacity is a power of two
// that retainBuffer can keep. maxWhole caps the capacity: no whole message is longer.
func (l *line) grow(need int, maxWhole uint64) {
	c := max(512, cap(l.buf))
	for c < need {
		c *= 2
	}
	buf := make([]byte, len(l.buf), max(need, min(c, int(maxWhole))))
	copy(buf, l.buf)
	l.buf = buf
}

// addLost charges n lost bytes, starting at stream offset off, to the message.
func (l *line) addLost(off, n, maxWhole uint64, prefix int) {
	if l.size == 0 {
		l.offset = off
	}
	l.size += n
	l.lost += n
	l.endsCR = false
	if !l.oversize && l.size > maxWhole {
		l.becomeOversize(nil, prefix)
	}
}

// becomeOversize cuts the message to its first prefix bytes, p included, for good. A buffer grown large for the
// message is replaced rather than kept.
func (l *line) becomeOversize(p []byte, prefix int) {
	l.oversize = true
	kept := l.buf[:min(len(l.buf), prefix)]
	if cap(l.buf) > max(retainBuffer, prefix) {
		kept = append(make([]byte, 0, prefix), kept...)
	}
	l.buf = append(kept, p[:min(prefix-len(kept), len(p))]...)
}

// reset closes the message, keeping a buffer of reasonable size for the next one.
func (l *line) reset() {
	buf := l.buf[:0]
	if cap(buf) > retainBuffer {
		buf = nil
	}
	*l = line{buf: buf}
}

// deliver splits data, the next bytes of s in stream order, into messages.
func (r *Reassembler) deliver(s *stream, data []byte, time uint64, w *Writer) {
	r.delivered += uint64(len(data))
	if s.resync {
		s.resync = false
		// Writers write whole messages: after a gap, bytes that open a JSON-RPC object start a message rather than
		// continue the one the gap cut (see the package documentation).
		if s.line.size > 0 && looksLikeMessageStart(data) {
			r.stats.Resyncs++
			r.emitLine(s, true)
		}
	}
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			s.line.add(s.next, data, time, w, r.maxWhole, r.cfg.OversizePrefix)
			s.next += uint64(len(data))
			return
		}
		if s.line.size == 0 {
			// The whole message is in data: emit it from there, without copying.
			r.emitWhole(s, data[:i], time, w)
		} else {
			s.line.add(s.next, data[:i], time, w, r.maxWhole, r.cfg.OversizePrefix)
			r.emitLine(s, false)
		}
		s.next += uint64(i) + 1
		data = data[i+1:]
	}
}

// emitWhole emits msg, a message found whole in one chunk at offset s.next.
func (r *Reassembler) emitWhole(s *stream, msg []byte, time uint64, w *Writer) {
	if n := len(msg); n > 0 && msg[n-1] == '\r' {
		msg = msg[:n-1]
	}
	if len(msg) == 0 {
		r.stats.EmptyLines++
		return
	}
	f := Frame{
		Key:    s.key,
		Gen:    s.gen,
		Offset: s.next,
		Size:   len(msg),
		Start:  time,
		End:    time,
		Writer: *w,
	}
	if len(msg) > r.cfg.MaxMessage {
		f.Oversize = true
		msg = msg[:r.cfg.OversizePrefix]
	}
	f.Data = msg
	r.send(f)
}

// emitLine emits the message s has assembled; incomplete when no newline ended it.
func (r *Reassembler) emitLine(s *stream, incomplete bool) {
	l := &s.line
	size, data := l.size, l.buf
	if !incomplete && l.endsCR {
		size--
		if uint64(len(data)) == l.arrived() {
			data = data[:len(data)-1]
		}
	}
	if size == 0 {
		r.stats.EmptyLines++
		l.reset()
		return
	}
	f := Frame{
		Key:        s.key,
		Gen:        s.gen,
		Offset:     l.offset,
		Size:       clampInt(size),
		Start:      l.first,
		End:        l.last,
		Writer:     l.writer,
		Truncated:  incomplete || l.lost > 0,
		LostBytes:  l.lost,
		Oversize:   l.oversize || size > uint64(r.cfg.MaxMessage),
		Incomplete: incomplete,
	}
	if l.arrived() == 0 {
		f.Start, f.End, f.Writer = s.lastTime, s.lastTime, s.lastWriter
	}
	if f.Oversize && len(data) > r.cfg.OversizePrefix {
		data = data[:r.cfg.OversizePrefix]
	}
	f.Data = data
	r.send(f)
	l.reset()
}

func (r *Reassembler) send(f Frame) {
	r.stats.Frames++
	if f.Truncated {
		r.stats.TruncatedFrames++
	}
	if f.Incomplete {
		r.stats.IncompleteFrames++
	}
	if f.Oversize {
		r.stats.OversizeFrames++
	}
	r.emit(f)
}

func clampInt(n uint64) int {
	if n > math.MaxInt {
		return math.MaxInt
	}
	return int(n)
}

// looksLikeMessageStart tells whether b opens a JSON-RPC message, by the same test the kernel programs use to
// recognise an MCP stream: an optional '[' (a batch) and one blank, then `{"` and a member name closed by `"`.
// Key order is not fixed (the TypeScript SDK writes "result" first), so any member counts. Bytes too few to decide
// do not count.
func looksLikeMessageStart(b []byte) bool {
	if len(b) > 0 && b[0] == '[' {
		b = b[1:]
	}
	if len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	if len(b) < 2 || b[0] != '{' || b[1] != '"' {
		return false
	}
	b = b[2:]
	for _, name := range [...]string{"jsonrpc", "id", "method", "result", "error", "params"} {
		if len(b) > len(name) && string(b[:len(name)]) == name && b[len(name)] == '"' {
			return true
		}
	}
	return false
}
