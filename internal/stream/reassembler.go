package stream

import (
	"math"
	"slices"
)

// retainBuffer is the largest line buffer a stream keeps for its next message; a larger one, grown by a large
// message, is dropped once that message is emitted so that a long run does not pin it per stream.
const retainBuffer = 1 << 20

// The Reassembler recycles up to maxSpare buffers of held chunks of up to maxSpareSize bytes: enough for a burst of
// reordered 32 KiB kernel chunks, little enough to forget.
const (
	maxSpare     = 16
	maxSpareSize = 64 << 10
)

// Reassembler turns chunks into frames. It is not safe for concurrent use, and emit must not call back into it.
type Reassembler struct {
	cfg         Config
	maxWhole    uint64 // bytes a line may reach and stay whole: MaxMessage plus a '\r' that will be stripped
	gapTimeout  uint64 // ns
	idleTimeout uint64 // ns
	emit        func(Frame)

	streams map[Key]*stream
	last    *stream // the stream of the previous Push: most chunks follow one of the same stream

	// LRU list of streams, most recently used first. Every stream from sweptTail to the tail has had its buffers
	// released by Flush and not been used since, so Flush only visits streams that went idle since its last call.
	newest, oldest *stream
	sweptTail      *stream

	gapped []*stream // streams holding out-of-order chunks, for Flush's timeout
	spare  [][]byte  // buffers of delivered held chunks, for the next chunks to hold

	// now is the latest time known: the largest chunk Time pushed or now passed to Flush. It timestamps held chunks
	// and stream activity, so that a consumer running behind does not declare gaps lost while the chunks that fill
	// them are still queued (see hold).
	now uint64

	delivered uint64 // bytes passed in order to line splitting; with stats, accounts for every byte pushed
	stats     Stats
}

// stream is the state of one stream: of its current generation, and of the message it is assembling.
type stream struct {
	key Key
	gen uint64

	next          uint64 // offset of the next byte to deliver in order
	lostSeen      uint64 // largest LostTotal seen in this generation
	lostAccounted uint64 // bytes of this generation declared lost
	resync        bool   // the next byte delivered follows a lost gap

	held        []heldChunk // out-of-order chunks by offset; all start beyond next
	heldBytes   int
	gappedIndex int // index in Reassembler.gapped, or -1

	line line

	lastActive uint64 // Reassembler.now when the stream was last pushed to
	lastTime   uint64 // Time of the stream's latest chunk
	lastWriter Writer // writer of the stream's latest chunk

	newer, older *stream // LRU links
}

// heldChunk is a copy of a chunk that arrived ahead of a gap.
type heldChunk struct {
	offset uint64
	data   []byte
	time   uint64
	heldAt uint64 // Reassembler.now when it was held
	writer Writer
}

// New returns a Reassembler that passes each frame to emit, which must not retain Frame.Data. A nil emit discards
// frames (the counters still count them).
func New(cfg Config, emit func(Frame)) *Reassembler {
	cfg = cfg.withDefaults()
	if emit == nil {
		emit = func(Frame) {}
	}
	return &Reassembler{
		cfg:         cfg,
		maxWhole:    uint64(cfg.MaxMessage) + 1,
		gapTimeout:  uint64(cfg.GapTimeout.Nanoseconds()),
		idleTimeout: uint64(cfg.IdleTimeout.Nanoseconds()),
		emit:        emit,
		streams:     make(map[Key]*stream),
	}
}

// Stats returns the counters.
func (r *Reassembler) Stats() Stats {
	st := r.stats
	st.Streams = len(r.streams)
	return st
}

// Push adds a chunk. It calls emit for every message the chunk completes, in stream order; frames of streams the
// chunk evicts (MaxStreams) or resets (new Gen) come first.
func (r *Reassembler) Push(c Chunk) {
	r.stats.Chunks++
	r.stats.BytesIn += uint64(len(c.Data))
	r.now = max(r.now, c.Time)

	s := r.streamFor(c.Key, c.Gen)
	if s == nil {
		r.stats.StaleBytes += uint64(len(c.Data))
		return
	}
	s.lastActive = r.now
	s.lastTime = c.Time
	s.lastWriter = c.Writer
	s.lostSeen = max(s.lostSeen, c.LostTotal)

	data, off := c.Data, c.Offset
	if room := math.MaxUint64 - off; uint64(len(data)) > room {
		// No stream reaches 2^64 bytes; keep the offsets arithmetic exact for whatever claims to.
		r.stats.InvalidBytes += uint64(len(data)) - room
		data = data[:room]
	}
	r.accept(s, off, data, c.Time, &c.Writer)
	r.trackGaps(s)
}

// Close ends the stream: its open gaps and the bytes the kernel reported lost beyond them are declared lost, its
// partial message is emitted as Incomplete, and its state is freed.
func (r *Reassembler) Close(k Key) {
	s := r.streams[k]
	if s == nil {
		return
	}
	r.finish(s)
	r.remove(s)
}

// Flush declares lost the gaps that have stayed open for GapTimeout and releases the buffers of streams unused for
// IdleTimeout. now is CLOCK_MONOTONIC nanoseconds, the clock of Chunk.Time. Call it periodically, say ten times per
// GapTimeout; its cost is proportional to the streams with gaps and the streams that went idle since the last call.
func (r *Reassembler) Flush(now uint64) {
	r.now = max(r.now, now)
	now = r.now

	// Iterate backwards: trackGaps may move the last stream into the slot of one it removes.
	for i := len(r.gapped) - 1; i >= 0; i-- {
		if i >= len(r.gapped) {
			continue
		}
		s := r.gapped[i]
		// Every byte below a held chunk has been missing since the chunk was held: find the farthest held chunk
		// whose wait is over, and give up every gap up to it.
		var limit uint64
		expired := false
		for _, h := range s.held {
			if now-h.heldAt >= r.gapTimeout {
				limit, expired = h.offset, true
			}
		}
		for expired && len(s.held) > 0 && s.held[0].offset <= limit {
			r.stats.GapsTimedOut++
			r.loseGap(s, s.held[0].offset)
			r.drain(s)
		}
		r.resolveGaps(s)
		r.trackGaps(s)
	}

	start := r.oldest
	if r.sweptTail != nil {
		start = r.sweptTail.newer
	}
	for s := start; s != nil && now-s.lastActive >= r.idleTimeout; s = s.newer {
		s.release()
		r.sweptTail = s
	}
}

// streamFor returns the state of k's generation gen, creating, resetting or evicting state as needed, or nil when
// gen is older than the generation tracked. Generations are the kernel's creation timestamps: they only grow.
func (r *Reassembler) streamFor(k Key, gen uint64) *stream {
	s := r.last
	if s == nil || s.key != k {
		s = r.streams[k]
	}
	if s == nil {
		for len(r.streams) >= r.cfg.MaxStreams {
			victim := r.oldest
			r.finish(victim)
			r.remove(victim)
			r.stats.StreamsEvicted++
		}
		s = &stream{key: k, gen: gen, gappedIndex: -1}
		r.streams[k] = s
		r.stats.StreamsOpened++
	} else {
		switch {
		case gen < s.gen:
			return nil
		case gen > s.gen:
			r.finish(s)
			s.reset(gen)
			r.trackGaps(s)
			r.stats.Generations++
		}
	}
	r.touch(s)
	r.last = s
	return s
}

// accept delivers the bytes data at offset off, or holds them until the gap before them fills or is declared
// lost.
func (r *Reassembler) accept(s *stream, off uint64, data []byte, time uint64, w *Writer) {
	for {
		if off <= s.next {
			if dup := s.next - off; dup > 0 {
				trim := min(dup, uint64(len(data)))
				r.stats.DuplicateBytes += trim
				data = data[trim:]
			}
			if len(data) > 0 {
				r.deliver(s, data, time, w)
				r.drain(s)
			}
			r.resolveGaps(s)
			return
		}
		if len(data) == 0 {
			r.resolveGaps(s)
			return
		}
		// A gap precedes the chunk. Its first part ends at the chunk or at the first held chunk before it.
		end := off
		if len(s.held) > 0 {
			end = min(end, s.held[0].offset)
		}
		switch {
		case s.unaccountedLost() >= end-s.next:
			r.loseGap(s, end)
			r.drain(s)
		case s.heldBytes+len(data) > r.cfg.MaxPending:
			r.stats.GapsOverflowed++
			r.loseGap(s, end)
			r.drain(s)
		default:
			r.hold(s, off, data, time, w)
			return
		}
	}
}

// hold keeps a copy of a chunk that arrived ahead of a gap. It is stamped with r.now rather than its own Time: Time
// is when it was written, and a consumer running seconds behind must not time out a gap whose filling chunk is only
// queued behind it.
func (r *Reassembler) hold(s *stream, off uint64, data []byte, time uint64, w *Writer) {
	i, _ := slices.BinarySearchFunc(s.held, off, func(h heldChunk, off uint64) int {
		if h.offset <= off {
			return -1 // after every chunk at the same offset: equal offsets keep their arrival order
		}
		return 1
	})
	var buf []byte
	if n := len(r.spare); n > 0 && cap(r.spare[n-1]) >= len(data) {
		buf, r.spare = r.spare[n-1], r.spare[:n-1]
	}
	s.held = slices.Insert(s.held, i, heldChunk{
		offset: off,
		data:   append(buf[:0], data...),
		time:   time,
		heldAt: r.now,
		writer: *w,
	})
	s.heldBytes += len(data)
	r.stats.HeldBytes += len(data)
	r.stats.ReorderedChunks++
}

// drain delivers the held chunks that the stream has reached.
func (r *Reassembler) drain(s *stream) {
	n := 0
	for n < len(s.held) && s.held[n].offset <= s.next {
		h := &s.held[n]
		n++
		s.heldBytes -= len(h.data)
		r.stats.HeldBytes -= len(h.data)
		data := h.data
		if dup := s.next - h.offset; dup > 0 {
			trim := min(dup, uint64(len(data)))
			r.stats.DuplicateBytes += trim
			data = data[trim:]
		}
		if len(data) > 0 {
			r.deliver(s, data, h.time, &h.writer)
		}
		if len(r.spare) < maxSpare && cap(h.data) <= maxSpareSize {
			r.spare = append(r.spare, h.data)
		}
	}
	if n > 0 {
		clear(s.held[:n]) // drop references to the copies
		s.held = slices.Delete(s.held, 0, n)
	}
}

// resolveGaps declares lost the gaps in front of held chunks that the kernel's loss counter accounts for.
func (r *Reassembler) resolveGaps(s *stream) {
	for len(s.held) > 0 && s.unaccountedLost() >= s.held[0].offset-s.next {
		r.loseGap(s, s.held[0].offset)
		r.drain(s)
	}
}

// loseGap declares the bytes from s.next to end lost: they are charged to the message being assembled, and the
// next byte to arrive is checked for a message start (see deliver).
func (r *Reassembler) loseGap(s *stream, end uint64) {
	if end <= s.next {
		return
	}
	n := end - s.next
	r.stats.GapsLost++
	r.stats.LostBytes += n
	s.lostAccounted += n
	s.line.addLost(s.next, n, r.maxWhole, r.cfg.OversizePrefix)
	s.next = end
	s.resync = true
}

// finish declares every open gap of s lost, charges the loss the kernel reported beyond what arrived to its last
// message, and emits that message as Incomplete.
func (r *Reassembler) finish(s *stream) {
	for len(s.held) > 0 {
		r.loseGap(s, s.held[0].offset)
		r.drain(s)
	}
	if extra := s.unaccountedLost(); extra > 0 {
		// Bytes lost past the last one that arrived: the kernel counted them, no later chunk showed the gap.
		r.loseGap(s, s.next+min(extra, math.MaxUint64-s.next))
	}
	if s.line.size > 0 {
		r.emitLine(s, true)
	}
	s.resync = false
}

// trackGaps keeps s in r.gapped exactly while it holds chunks.
func (r *Reassembler) trackGaps(s *stream) {
	switch {
	case len(s.held) > 0 && s.gappedIndex < 0:
		s.gappedIndex = len(r.gapped)
		r.gapped = append(r.gapped, s)
	case len(s.held) == 0 && s.gappedIndex >= 0:
		last := r.gapped[len(r.gapped)-1]
		r.gapped[s.gappedIndex] = last
		last.gappedIndex = s.gappedIndex
		r.gapped[len(r.gapped)-1] = nil
		r.gapped = r.gapped[:len(r.gapped)-1]
		s.gappedIndex = -1
	}
}

// remove forgets s, which finish has emptied.
func (r *Reassembler) remove(s *stream) {
	r.stats.HeldBytes -= s.heldBytes
	s.held, s.heldBytes = nil, 0
	r.trackGaps(s)
	r.unlink(s)
	delete(r.streams, s.key)
	if r.last == s {
		r.last = nil
	}
}

// touch makes s the most recently used stream.
func (r *Reassembler) touch(s *stream) {
	if r.sweptTail == s {
		r.sweptTail = s.older
	}
	if r.newest == s {
		return
	}
	if s.newer != nil || s.older != nil || r.oldest == s {
		r.unlink(s)
	}
	s.older = r.newest
	if r.newest != nil {
		r.newest.newer = s
	}
	r.newest = s
	if r.oldest == nil {
		r.oldest = s
	}
}

func (r *Reassembler) unlink(s *stream) {
	if r.sweptTail == s {
		r.sweptTail = s.older
	}
	if s.newer != nil {
		s.newer.older = s.older
	} else if r.newest == s {
		r.newest = s.older
	}
	if s.older != nil {
		s.older.newer = s.newer
	} else if r.oldest == s {
		r.oldest = s.newer
	}
	s.newer, s.older = nil, nil
}

// unaccountedLost returns how many bytes the kernel reported lost beyond those already declared lost.
func (s *stream) unaccountedLost() uint64 {
	if s.lostSeen <= s.lostAccounted {
		return 0
	}
	return s.lostSeen - s.lostAccounted
}

// reset starts generation gen of s, whose previous generation finish has emptied. The line buffer is kept.
func (s *stream) reset(gen uint64) {
	s.gen = gen
	s.next = 0
	s.lostSeen, s.lostAccounted = 0, 0
	s.resync = false
}

// release frees the buffers of an idle stream. A partial message keeps its bytes, in a buffer trimmed to fit.
func (s *stream) release() {
	if s.line.size == 0 {
		s.line.buf = nil
	} else if cap(s.line.buf)-len(s.line.buf) > 4<<10 {
		s.line.buf = append([]byte(nil), s.line.buf...)
	}
	if len(s.held) == 0 {
		s.held = nil
	}
}
