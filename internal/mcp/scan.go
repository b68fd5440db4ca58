package mcp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds the nesting of arrays and objects, as encoding/json does (its maxNestingDepth), so that a frame
// accepted here is also accepted by the JSONL writer's validation. The scanner is iterative: depth costs one bit of
// scanner state per level, never a stack frame.
const maxDepth = 10000

// span locates a JSON string's contents (between the quotes) in the frame.
type span struct {
	start, end int
	escaped    bool // contains a backslash escape, so the bytes must be decoded before use
	ok         bool // the value was a string
}

// scanner reads one frame. It validates everything it passes over, so a frame it accepts is valid JSON (RFC 8259,
// with encoding/json's tolerance of invalid UTF-8 inside strings).
type scanner struct {
	data   []byte
	pos    int
	keyBuf []byte                  // decoded member names that contained escapes
	arrays [maxDepth/64 + 1]uint64 // bit d: the container open at depth d is an array (used by skipValue)
}

func (s *scanner) skipSpace() {
	for ; s.pos < len(s.data); s.pos++ {
		if c := s.data[s.pos]; c > ' ' || c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return
		}
	}
}

// peek skips whitespace and returns the next byte, failing at the end of the frame.
func (s *scanner) peek(want string) (byte, error) {
	s.skipSpace()
	if s.pos >= len(s.data) {
		return 0, s.errEnd(want)
	}
	return s.data[s.pos], nil
}

func (s *scanner) errEnd(want string) error {
	return syntaxError(len(s.data), "the frame ends where "+want+" should follow")
}

func (s *scanner) errUnexpected(want string) error {
	if s.pos >= len(s.data) {
		return s.errEnd(want)
	}
	return syntaxError(s.pos, fmt.Sprintf("unexpected %s where %s should follow", quoteByte(s.data[s.pos]), want))
}

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

const (
	swarOnes  = 0x0101010101010101
	swarHighs = 0x8080808080808080
)

// stringSpecialMask flags (in the high bit of each byte) the bytes of w that are '"', '\\' or a control character
// (< 0x20): the bytes a string scan must stop at. Each term is the classic "has zero byte" test. Borrows only
// propagate upwards from a flagged byte, so the lowest flag is always exact, which is all the scan needs.
func stringSpecialMask(w uint64) uint64 {
	q := w ^ (swarOnes * '"')
	b := w ^ (swarOnes * '\\')
	return ((q-swarOnes)&^q | (b-swarOnes)&^b | (w-swarOnes*0x20)&^w) & swarHighs
}

// indexStringSpecial returns the index of the first byte at or after i that ends a run of plain string contents,
// or len(data). Long strings are the bulk of large MCP messages (base64 images, file contents), so it tests eight
// bytes at a time.
func indexStringSpecial(data []byte, i int) int {
	for ; i+8 <= len(data); i += 8 {
		if m := stringSpecialMask(binary.LittleEndian.Uint64(data[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for ; i < len(data); i++ {
		if c := data[i]; c == '"' || c == '\\' || c < 0x20 {
			return i
		}
	}
	return i
}

// scanString reads a string starting at the opening quote at s.pos and validates its escapes.
func (s *scanner) scanString() (span, error) {
	data := s.data
	start := s.pos + 1
	escaped := false
	for i := start; ; {
		i = indexStringSpecial(data, i)
		if i >= len(data) {
			return span{}, syntaxError(s.pos, "the string starting here is not terminated")
		}
		switch c := data[i]; {
		case c == '"':
			s.pos = i + 1
			return span{start: start, end: i, escaped: escaped, ok: true}, nil
		case c == '\\':
			escaped = true
			if i+1 >= len(data) {
				return span{}, syntaxError(s.pos, "the string starting here is not terminated")
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(data) || !isHex4(data[i+2:i+6]) {
					return span{}, syntaxError(i, `invalid \u escape in string (want four hex digits)`)
				}
				i += 6
			default:
				return span{}, syntaxError(i, fmt.Sprintf("invalid escape \\%s in string", string(rune(data[i+1]))))
			}
		default:
			return span{}, syntaxError(i, fmt.Sprintf("control character 0x%02x inside a string (must be escaped)", c))
		}
	}
}

func isHex4(b []byte) bool {
	for _, c := range b[:4] {
		if !isHex(c) {
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// scanNumber reads a number at s.pos following the JSON grammar -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func (s *scanner) scanNumber() error {
	data := s.data
	i := s.pos
	if data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && '1' <= data[i] && data[i] <= '9':
		for i++; i < len(data) && isDigit(data[i]); i++ {
		}
	default:
		return syntaxError(s.pos, "invalid number (want a digit after the minus sign)")
	}
	if i < len(data) && data[i] == '.' {
		i++
		if i >= len(data) || !isDigit(data[i]) {
			return syntaxError(s.pos, "invalid number (want a digit after the decimal point)")
		}
		for ; i < len(data) && isDigit(data[i]); i++ {
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) || !isDigit(data[i]) {
			return syntaxError(s.pos, "invalid number (want a digit in the exponent)")
		}
		for ; i < len(data) && isDigit(data[i]); i++ {
		}
	}
	s.pos = i
	return nil
}

func (s *scanner) scanLiteral(lit string) error {
	if !bytes.HasPrefix(s.data[s.pos:], []byte(lit)) {
		return syntaxError(s.pos, "invalid literal (want true, false or null)")
	}
	s.pos += len(lit)
	return nil
}

func (s *scanner) setArray(depth int, isArray bool) {
	if isArray {
		s.arrays[depth/64] |= 1 << (depth % 64)
	} else {
		s.arrays[depth/64] &^= 1 << (depth % 64)
	}
}

func (s *scanner) isArray(depth int) bool { return s.arrays[depth/64]&(1<<(depth%64)) != 0 }

// skipValue validates and skips one value of any kind. depth is the number of containers enclosing the value.
// It keeps its own stack of open containers as bits, so hostile nesting costs no recursion.
func (s *scanner) skipValue(depth int) error {
	base := depth
	for {
		// A value is expected at s.pos.
		c, err := s.peek("a value")
		if err != nil {
			return err
		}
		switch c {
		case '{', '[':
			depth++
			if depth > maxDepth {
				return syntaxError(s.pos, fmt.Sprintf("nesting deeper than %d levels", maxDepth))
			}
			s.pos++
			s.setArray(depth, c == '[')
			closer, want := byte('}'), "a member name or '}'"
			if c == '[' {
				closer, want = ']', "a value or ']'"
			}
			if next, err := s.peek(want); err != nil {
				return err
			} else if next == closer {
				s.pos++
				depth--
				break // an empty container is a complete value
			}
			if c == '{' {
				if err := s.skipMemberName(); err != nil {
					return err
				}
			}
			continue
		case '"':
			if _, err := s.scanString(); err != nil {
				return err
			}
		case 't':
			err = s.scanLiteral("true")
		case 'f':
			err = s.scanLiteral("false")
		case 'n':
			err = s.scanLiteral("null")
		default:
			if c != '-' && !isDigit(c) {
				return s.errUnexpected("a value")
			}
			err = s.scanNumber()
		}
		if err != nil {
			return err
		}
		// A value is complete: close finished containers, or step to the next element or member.
		for depth > base {
			inArray := s.isArray(depth)
			want := "',' or '}'"
			if inArray {
				want = "',' or ']'"
			}
			c, err := s.peek(want)
			if err != nil {
				return err
			}
			if c == ',' {
				s.pos++
				if !inArray {
					if err := s.skipMemberName(); err != nil {
						return err
					}
				}
				break
			}
			if inArray && c == ']' || !inArray && c == '}' {
				s.pos++
				depth--
				continue
			}
			return s.errUnexpected(want)
		}
		if depth == base {
			return nil
		}
	}
}

// skipMemberName reads `"name" :`.
func (s *scanner) skipMemberName() error {
	c, err := s.peek("a member name")
	if err != nil {
		return err
	}
	if c != '"' {
		return s.errUnexpected("a member name")
	}
	if _, err := s.scanString(); err != nil {
		return err
	}
	if c, err := s.peek("':'"); err != nil {
		return err
	} else if c != ':' {
		return s.errUnexpected("':'")
	}
	s.pos++
	return nil
}

// openObject consumes the '{' at s.pos and reports whether the object has a member.
func (s *scanner) openObject() (bool, error) {
	s.pos++
	c, err := s.peek("a member name or '}'")
	if err != nil {
		return false, err
	}
	if c == '}' {
		s.pos++
		return false, nil
	}
	return true, nil
}

// memberName reads `"name" :` and returns the name, decoded if it contained escapes. The result is valid until
// the next call.
func (s *scanner) memberName() ([]byte, error) {
	c, err := s.peek("a member name")
	if err != nil {
		return nil, err
	}
	if c != '"' {
		return nil, s.errUnexpected("a member name")
	}
	name, err := s.scanString()
	if err != nil {
		return nil, err
	}
	if c, err := s.peek("':'"); err != nil {
		return nil, err
	} else if c != ':' {
		return nil, s.errUnexpected("':'")
	}
	s.pos++
	if !name.escaped {
		return s.data[name.start:name.end], nil
	}
	s.keyBuf = appendUnescaped(s.keyBuf[:0], s.data[name.start:name.end])
	return s.keyBuf, nil
}

// nextMember consumes the ',' or '}' after a member's value and reports whether another member follows.
func (s *scanner) nextMember() (bool, error) {
	c, err := s.peek("',' or '}'")
	if err != nil {
		return false, err
	}
	switch c {
	case ',':
		s.pos++
		return true, nil
	case '}':
		s.pos++
		return false, nil
	}
	return false, s.errUnexpected("',' or '}'")
}

// stringValue reads a value that should be a string. Other values are validated, skipped and reported with
// ok == false in the span, so a peer's odd field type never rejects the whole message.
func (s *scanner) stringValue(depth int) (span, error) {
	c, err := s.peek("a value")
	if err != nil {
		return span{}, err
	}
	if c != '"' {
		return span{}, s.skipValue(depth)
	}
	return s.scanString()
}

// rawValue validates and skips a value of any kind and returns its bytes.
func (s *scanner) rawValue(depth int) ([]byte, error) {
	s.skipSpace()
	start := s.pos
	if err := s.skipValue(depth); err != nil {
		return nil, err
	}
	return s.data[start:s.pos], nil
}

// text returns a string's decoded contents ("" when sp is not a string).
func (s *scanner) text(sp span) string {
	if !sp.ok {
		return ""
	}
	if !sp.escaped {
		return string(s.data[sp.start:sp.end])
	}
	return string(appendUnescaped(nil, s.data[sp.start:sp.end]))
}

// bytesOf returns a string's contents as they are in the frame, or decoded into a new buffer if escaped.
func (s *scanner) bytesOf(sp span) []byte {
	if !sp.escaped {
		return s.data[sp.start:sp.end]
	}
	return appendUnescaped(nil, s.data[sp.start:sp.end])
}

// appendUnescaped decodes the contents of a JSON string that scanString has validated. It decodes exactly as
// encoding/json does, including its treatment of unpaired surrogates (each becomes U+FFFD).
func appendUnescaped(dst, src []byte) []byte {
	for i := 0; i < len(src); {
		if src[i] != '\\' {
			j := bytes.IndexByte(src[i:], '\\')
			if j < 0 {
				return append(dst, src[i:]...)
			}
			dst = append(dst, src[i:i+j]...)
			i += j
			continue
		}
		if i+1 >= len(src) { // cannot happen after scanString; keep the decoder total anyway
			return append(dst, src[i:]...)
		}
		switch c := src[i+1]; c {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hexRune(src[i+2:])
			if !ok {
				return append(dst, src[i:]...)
			}
			i += 6
			if utf16.IsSurrogate(r) {
				if i+1 < len(src) && src[i] == '\\' && src[i+1] == 'u' {
					if r2, ok := hexRune(src[i+2:]); ok {
						if dec := utf16.DecodeRune(r, r2); dec != unicode.ReplacementChar {
							dst = utf8.AppendRune(dst, dec)
							i += 6
							continue
						}
					}
				}
				r = unicode.ReplacementChar
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, c)
		}
		i += 2
	}
	return dst
}

func hexRune(b []byte) (rune, bool) {
	if len(b) < 4 || !isHex4(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c <= '9':
			c -= '0'
		case c <= 'F':
			c -= 'A' - 10
		default:
			c -= 'a' - 10
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
