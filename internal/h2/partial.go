package h2

import (
	"errors"
	"fmt"

	"golang.org/x/net/http2/hpack"
)

// partialDecoder decodes HPACK header blocks when the start of the connection was not seen, without ever
// producing a wrong field.
//
// HPACK (RFC 7541) refers to earlier fields by index: 1 to 61 into a static table, above that into a dynamic
// table whose newest entry is index 62. Static entries and literal fields decode the same whatever happened
// before. A dynamic index i refers to the (i-62)-th most recent insertion, as long as that entry is still in the
// table; an encoder never refers to an evicted entry. So an index that falls among the insertions seen since
// capture began can be resolved exactly, whatever the table's size and the entries before capture: only indexes
// beyond them are unknown. What this recovers: :method, common :status values and other static fields, every
// literal (new values: content-length, a new session id), and fields inserted after capture began. What it does
// not: a field inserted before capture and reused ever after (a client's :path or Mcp-Session-Id on a
// long-lived connection) stays unknown for the life of the connection, since nothing on the wire says it again.
//
// Losing a header block breaks the count of insertions; [partialDecoder.reset] then forgets what was seen.
type partialDecoder struct {
	seen     []hpack.HeaderField // insertions since capture began or since the last reset, newest last
	seenSize int                 // RFC 7541 §4.1 size of seen
	unknown  []bool              // parallel to seen: the entry's content is not known (its name was unknown)
	maxStr   int
}

// seenBudget bounds the insertions remembered. An entry older than this much table cannot be live in any table
// an encoder really uses (4 KiB by default, 64 KiB at most in common peers), and forgetting a live one only makes
// its field unknown, never wrong.
const seenBudget = 64 << 10

var errHPACK = errors.New("malformed HPACK block")

func (d *partialDecoder) reset() {
	d.seen, d.unknown, d.seenSize = d.seen[:0], d.unknown[:0], 0
}

// lookup resolves an index; ok is false for an index into the part of the dynamic table capture did not see.
func (d *partialDecoder) lookup(i uint64) (f hpack.HeaderField, ok bool, err error) {
	if i == 0 {
		return f, false, fmt.Errorf("index 0: %w", errHPACK)
	}
	if i <= uint64(len(staticTable)) {
		return staticTable[i-1], true, nil
	}
	j := i - uint64(len(staticTable)) - 1 // 0 = newest
	if j >= uint64(len(d.seen)) {
		return f, false, nil
	}
	k := len(d.seen) - 1 - int(j)
	return d.seen[k], !d.unknown[k], nil
}

func (d *partialDecoder) insert(f hpack.HeaderField, known bool) {
	d.seen = append(d.seen, f)
	d.unknown = append(d.unknown, !known)
	d.seenSize += len(f.Name) + len(f.Value) + 32
	drop := 0
	for d.seenSize > seenBudget && drop < len(d.seen) {
		d.seenSize -= len(d.seen[drop].Name) + len(d.seen[drop].Value) + 32
		drop++
	}
	if drop > 0 {
		d.seen = append(d.seen[:0], d.seen[drop:]...)
		d.unknown = append(d.unknown[:0], d.unknown[drop:]...)
	}
}

// decode returns the fields of block that could be decoded and whether all could. A malformed block returns an
// error, after which the caller resets the decoder (the insertions it made are uncertain).
func (d *partialDecoder) decode(block []byte) (fields []hpack.HeaderField, complete bool, err error) {
	complete = true
	p := block
	for len(p) > 0 {
		b := p[0]
		switch {
		case b&0x80 != 0: // indexed field
			var i uint64
			if i, p, err = readVarInt(7, p); err != nil {
				return nil, false, err
			}
			f, ok, err := d.lookup(i)
			if err != nil {
				return nil, false, err
			}
			if ok {
				fields = append(fields, f)
			} else {
				complete = false
			}
		case b&0xe0 == 0x20: // dynamic table size update: eviction is the encoder's business, see the type comment
			if _, p, err = readVarInt(5, p); err != nil {
				return nil, false, err
			}
		default: // literals: with incremental indexing (01), without (0000) or never indexed (0001)
			prefix, indexing := byte(4), false
			if b&0xc0 == 0x40 {
				prefix, indexing = 6, true
			}
			var i uint64
			if i, p, err = readVarInt(prefix, p); err != nil {
				return nil, false, err
			}
			var f hpack.HeaderField
			nameOK := true
			if i == 0 {
				if f.Name, p, err = d.readString(p); err != nil {
					return nil, false, err
				}
			} else {
				var nf hpack.HeaderField
				if nf, nameOK, err = d.lookup(i); err != nil {
					return nil, false, err
				}
				f.Name = nf.Name
			}
			if f.Value, p, err = d.readString(p); err != nil {
				return nil, false, err
			}
			f.Sensitive = b&0xf0 == 0x10
			if nameOK {
				fields = append(fields, f)
			} else {
				complete = false
			}
			if indexing {
				d.insert(f, nameOK)
			}
		}
	}
	return fields, complete, nil
}

// readVarInt reads an RFC 7541 §5.1 integer with an n-bit prefix.
func readVarInt(n byte, p []byte) (uint64, []byte, error) {
	if len(p) == 0 {
		return 0, p, fmt.Errorf("integer: %w", errHPACK)
	}
	mask := uint64(1)<<n - 1
	i := uint64(p[0]) & mask
	p = p[1:]
	if i < mask {
		return i, p, nil
	}
	for shift := uint(0); len(p) > 0; shift += 7 {
		if shift > 56 {
			return 0, p, fmt.Errorf("integer overflow: %w", errHPACK)
		}
		b := p[0]
		p = p[1:]
		i += uint64(b&0x7f) << shift
		if b&0x80 == 0 {
			return i, p, nil
		}
	}
	return 0, p, fmt.Errorf("integer: %w", errHPACK)
}

// readString reads an RFC 7541 §5.2 string literal, Huffman-coded or not.
func (d *partialDecoder) readString(p []byte) (string, []byte, error) {
	if len(p) == 0 {
		return "", p, fmt.Errorf("string: %w", errHPACK)
	}
	huff := p[0]&0x80 != 0
	n, p, err := readVarInt(7, p)
	if err != nil {
		return "", p, err
	}
	if n > uint64(len(p)) || (d.maxStr > 0 && n > uint64(d.maxStr)) {
		return "", p, fmt.Errorf("string of %d bytes: %w", n, errHPACK)
	}
	raw := p[:n]
	p = p[n:]
	if !huff {
		return string(raw), p, nil
	}
	s, err := hpack.HuffmanDecodeToString(raw)
	if err != nil {
		return "", p, fmt.Errorf("huffman: %w", err)
	}
	return s, p, nil
}

// staticTable is RFC 7541 Appendix A.
var staticTable = [...]hpack.HeaderField{
	{Name: ":authority"},
	{Name: ":method", Value: "GET"},
	{Name: ":method", Value: "POST"},
	{Name: ":path", Value: "/"},
	{Name: ":path", Value: "/index.html"},
	{Name: ":scheme", Value: "http"},
	{Name: ":scheme", Value: "https"},
	{Name: ":status", Value: "200"},
	{Name: ":status", Value: "204"},
	{Name: ":status", Value: "206"},
	{Name: ":status", Value: "304"},
	{Name: ":status", Value: "400"},
	{Name: ":status", Value: "404"},
	{Name: ":status", Value: "500"},
	{Name: "accept-charset"},
	{Name: "accept-encoding", Value: "gzip, deflate"},
	{Name: "accept-language"},
	{Name: "accept-ranges"},
	{Name: "accept"},
	{Name: "access-control-allow-origin"},
	{Name: "age"},
	{Name: "allow"},
	{Name: "authorization"},
	{Name: "cache-control"},
	{Name: "content-disposition"},
	{Name: "content-encoding"},
	{Name: "content-language"},
	{Name: "content-length"},
	{Name: "content-location"},
	{Name: "content-range"},
	{Name: "content-type"},
	{Name: "cookie"},
	{Name: "date"},
	{Name: "etag"},
	{Name: "expect"},
	{Name: "expires"},
	{Name: "from"},
	{Name: "host"},
	{Name: "if-match"},
	{Name: "if-modified-since"},
	{Name: "if-none-match"},
	{Name: "if-range"},
	{Name: "if-unmodified-since"},
	{Name: "last-modified"},
	{Name: "link"},
	{Name: "location"},
	{Name: "max-forwards"},
	{Name: "proxy-authenticate"},
	{Name: "proxy-authorization"},
	{Name: "range"},
	{Name: "referer"},
	{Name: "refresh"},
	{Name: "retry-after"},
	{Name: "server"},
	{Name: "set-cookie"},
	{Name: "strict-transport-security"},
	{Name: "transfer-encoding"},
	{Name: "user-agent"},
	{Name: "vary"},
	{Name: "via"},
	{Name: "www-authenticate"},
}
