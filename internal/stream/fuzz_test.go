package stream

import (
	"encoding/binary"
	"testing"
)

// The fuzz input is a sequence of operations on four keys, decoded by fuzzOps. Each starts with an op byte:
//
//	op&7 in 0..4  push: key byte, offset, length byte, data, then a lost byte if op&0x40 (see fuzzOps.push and fuzzSeed.push)
//	op&7 == 5     close: key byte
//	op&7 == 6     flush: the clock advances by 4 × the next byte
//	op&7 == 7     push a long run of filler at the key's cursor: key byte, length byte (× 64 bytes); a newline ends
//	              it if op&0x40
//
// The Config is tiny so that short inputs reach every limit.
func fuzzConfig() Config {
	return Config{MaxMessage: 64, OversizePrefix: 8, MaxPending: 96, MaxStreams: 3, GapTimeout: 100, IdleTimeout: 50}
}

// fuzzAlphabet maps data bytes (unless raw) onto bytes that make lines, line endings and JSON-RPC message starts.
const fuzzAlphabet = "{\"id:1}\n\r[ jsonx"

const (
	fuzzOffsetNext   = 0 << 3 // at the key's cursor
	fuzzOffsetBack   = 1 << 3 // a byte's worth (mod 32) before the cursor
	fuzzOffsetAhead  = 2 << 3 // a byte's worth (mod 32) past the cursor
	fuzzOffsetAnyway = 3 << 3 // eight bytes of absolute offset
	fuzzRaw          = 1 << 5 // data bytes are taken as they are
	fuzzLost         = 1 << 6 // the kernel's loss counter grows by a byte's worth (mod 32)
)

// Key byte bits besides the key index (bits 0-1).
const (
	fuzzNewGen   = 1 << 4 // the key moves to a new generation, offsets restart at 0
	fuzzStaleGen = 1 << 5 // the chunk claims the previous generation
)

type fuzzOps struct {
	in     []byte
	clock  uint64
	keys   [4]Key
	gen    [4]uint64
	cursor [4]uint64
	lost   [4]uint64
}

func (d *fuzzOps) byte() byte {
	if len(d.in) == 0 {
		return 0
	}
	b := d.in[0]
	d.in = d.in[1:]
	return b
}

func (d *fuzzOps) uint64() uint64 {
	var b [8]byte
	n := copy(b[:], d.in)
	d.in = d.in[n:]
	return binary.LittleEndian.Uint64(b[:])
}

// run applies the operations to r, then closes every key. after is called after every operation, with the key it
// closed if it was a close.
func (d *fuzzOps) run(r *Reassembler, after func(closed *Key)) {
	for i := range d.keys {
		d.keys[i] = Key{Kind: KindPipe + uint8(i%2), Ino: uint64(i)}
		d.gen[i] = 10
	}
	for len(d.in) > 0 {
		op := d.byte()
		d.clock++
		switch op & 7 {
		case 5:
			k := d.keys[d.byte()&3]
			r.Close(k)
			after(&k)
			continue
		case 6:
			d.clock += 4 * uint64(d.byte())
			r.Flush(d.clock)
		case 7:
			k := int(d.byte() & 3)
			data := make([]byte, 64*int(d.byte()))
			for i := range data {
				data[i] = 'a' + byte(i%26)
			}
			if op&fuzzLost != 0 && len(data) > 0 {
				data[len(data)-1] = '\n'
			}
			r.Push(Chunk{Key: d.keys[k], Gen: d.gen[k], Offset: d.cursor[k], Data: data, LostTotal: d.lost[k],
				Time: d.clock})
			if end := d.cursor[k] + uint64(len(data)); end >= d.cursor[k] {
				d.cursor[k] = end
			}
		default:
			r.Push(d.push(op))
		}
		after(nil)
	}
	for _, k := range d.keys {
		r.Close(k)
		after(&k)
	}
}

func (d *fuzzOps) push(op byte) Chunk {
	kb := d.byte()
	k := int(kb & 3)
	if kb&fuzzNewGen != 0 {
		d.gen[k]++
		d.cursor[k], d.lost[k] = 0, 0
	}
	gen := d.gen[k]
	if kb&fuzzStaleGen != 0 {
		gen--
	}
	off := d.cursor[k]
	switch op & (3 << 3) {
	case fuzzOffsetBack:
		off -= min(off, uint64(d.byte()%32))
	case fuzzOffsetAhead:
		off += uint64(d.byte() % 32)
	case fuzzOffsetAnyway:
		off = d.uint64()
	}
	n := min(int(d.byte()), len(d.in))
	data := make([]byte, n)
	copy(data, d.in)
	d.in = d.in[n:]
	if op&fuzzRaw == 0 {
		for i, b := range data {
			data[i] = fuzzAlphabet[b%byte(len(fuzzAlphabet))]
		}
	}
	if op&fuzzLost != 0 {
		d.lost[k] += uint64(d.byte() % 32)
	}
	if end := off + uint64(n); end >= off {
		d.cursor[k] = max(d.cursor[k], end)
	}
	return Chunk{Key: d.keys[k], Gen: gen, Offset: off, Data: data, LostTotal: d.lost[k], Time: d.clock,
		Writer: Writer{Pid: k, Tid: int(op)}}
}

// fuzzSeed builds fuzz inputs.
type fuzzSeed []byte

// push adds a push to key; dist is the distance of fuzzOffsetBack or fuzzOffsetAhead or the offset of
// fuzzOffsetAnyway; data must be made with alpha unless flags has fuzzRaw.
func (s fuzzSeed) push(flags, key byte, dist uint64, data string, lost byte) fuzzSeed {
	s = append(s, flags&^7, key)
	switch flags & (3 << 3) {
	case fuzzOffsetBack, fuzzOffsetAhead:
		s = append(s, byte(dist))
	case fuzzOffsetAnyway:
		s = binary.LittleEndian.AppendUint64(s, dist)
	}
	s = append(s, byte(len(data)))
	s = append(s, data...)
	if flags&fuzzLost != 0 {
		s = append(s, lost)
	}
	return s
}

func (s fuzzSeed) close(key byte) fuzzSeed { return append(s, 5, key) }
func (s fuzzSeed) flush(by byte) fuzzSeed  { return append(s, 6, by) }

// filler adds n×64 bytes of filler, ending in a newline if flags has fuzzLost.
func (s fuzzSeed) filler(flags, key, n byte) fuzzSeed { return append(s, flags|7, key, n) }

// alpha encodes text made of fuzzAlphabet's bytes for a push without fuzzRaw.
func alpha(text string) string {
	b := []byte(text)
	for i, c := range b {
		for j := range len(fuzzAlphabet) {
			if fuzzAlphabet[j] == c {
				b[i] = byte(j)
			}
		}
	}
	return string(b)
}

// fuzzSeeds are the f.Add seeds; testdata/fuzz/FuzzReassembler holds more.
func fuzzSeeds() [][]byte {
	var s fuzzSeed
	return [][]byte{
		s.push(fuzzRaw, 0, 0, "hello\nwor", 0).push(fuzzRaw, 0, 0, "ld\r\n\n", 0).close(0),
		// Reordering and duplicates.
		s.push(fuzzRaw|fuzzOffsetAhead, 1, 5, "later\n", 0).push(fuzzRaw|fuzzOffsetBack, 1, 11, "abcde", 0).
			push(fuzzRaw|fuzzOffsetBack, 1, 11, "abcde", 0).flush(255),
		// A loss the kernel's counter explains, then a message start.
		s.push(0, 2, 0, alpha(`{"id":1`), 0).push(fuzzOffsetAhead|fuzzLost, 2, 9, alpha(`{"id":1}`+"\n"), 9),
		// A gap that times out.
		s.push(fuzzRaw, 3, 0, "abc", 0).push(fuzzRaw|fuzzOffsetAhead, 3, 4, "xyz\n", 0).flush(10).flush(40),
		// New and stale generations.
		s.push(fuzzRaw, 0, 0, "part", 0).push(fuzzRaw, fuzzNewGen, 0, "new\n", 0).
			push(fuzzRaw, fuzzStaleGen, 0, "old\n", 0),
		// Oversize lines with and without a newline.
		s.filler(fuzzLost, 0, 3).filler(0, 1, 2).close(1),
		// Eviction: four keys, three streams.
		s.push(fuzzRaw, 0, 0, "a", 0).push(fuzzRaw, 1, 0, "b", 0).push(fuzzRaw, 2, 0, "c", 0).
			push(fuzzRaw, 3, 0, "d\n", 0),
		// MaxPending overflow and absurd offsets.
		s.push(fuzzRaw, 0, 0, "ab", 0).push(fuzzRaw|fuzzOffsetAhead, 0, 3, "\n", 0).filler(0, 0, 2).
			push(fuzzRaw|fuzzOffsetAnyway, 0, 1<<40, "far\n", 0).
			push(fuzzRaw|fuzzOffsetAnyway, 0, ^uint64(0)-2, "end\nof all", 0),
	}
}

func FuzzReassembler(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		cfg := fuzzConfig()
		var (
			emitted, lost, frames, evicted uint64
			// Per key, while its stream lives: the generation and end of its latest frame. Frames must not overlap.
			lastEnd = make(map[Key]uint64)
			lastGen = make(map[Key]uint64)
		)
		var r *Reassembler
		r = New(cfg, func(f Frame) {
			frames++
			emitted += uint64(len(f.Data))
			lost += f.LostBytes
			if err := checkFrame(f, cfg.withDefaults()); err != nil {
				t.Fatalf("frame %+v: %v", f, err)
			}
			if emitted > r.stats.BytesIn {
				t.Fatalf("%d bytes emitted of %d pushed", emitted, r.stats.BytesIn)
			}
			if f.Offset >= 1<<62 || uint64(f.Size) >= 1<<62 {
				return
			}
			if end, ok := lastEnd[f.Key]; ok && lastGen[f.Key] == f.Gen && f.Offset < end {
				t.Fatalf("frame %+v starts before the end (%d) of the previous one", f, end)
			}
			lastEnd[f.Key], lastGen[f.Key] = f.Offset+uint64(f.Size), f.Gen
		})
		ops := &fuzzOps{in: in}
		ops.run(r, func(closed *Key) {
			// A stream closed or evicted starts again from offset 0.
			if closed != nil {
				delete(lastEnd, *closed)
			}
			if st := r.Stats(); st.StreamsEvicted != evicted {
				evicted = st.StreamsEvicted
				clear(lastEnd)
			}
		})

		st := r.Stats()
		if st.Frames != frames || st.LostBytes != lost || st.Streams != 0 || st.HeldBytes != 0 || len(r.gapped) != 0 {
			t.Fatalf("after closing every key: stats %+v, emitted %d frames with %d bytes lost, %d streams gapped",
				st, frames, lost, len(r.gapped))
		}
		if r.newest != nil || r.oldest != nil || r.sweptTail != nil || r.last != nil {
			t.Fatal("stream list not empty after closing every key")
		}
		checkConservation(t, r)
	})
}
