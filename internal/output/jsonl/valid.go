package jsonl

import "encoding/binary"

// maxDepth is encoding/json's nesting limit: valid rejects deeper values, as json.Valid does.
const maxDepth = 10000

// valid reports whether b is one JSON value, optionally surrounded by whitespace. It accepts exactly what
// json.Valid accepts (FuzzValid checks this) at several times its speed.
func valid(b []byte) bool {
	const (
		stValue = iota // expecting a value
		stKey          // expecting an object key
		stAfter        // after a value
	)
	var stackArray [32]byte
	stack := stackArray[:0] // '{' or '[' for each open container
	i, state := skipSpace(b, 0), stValue
	for {
		switch state {
		case stValue:
			if i >= len(b) {
				return false
			}
			switch c := b[i]; c {
			case '{', '[':
				if len(stack) == maxDepth {
					return false
				}
				close := byte('}')
				if c == '[' {
					close = ']'
				}
				i = skipSpace(b, i+1)
				if i < len(b) && b[i] == close {
					i, state = i+1, stAfter
					continue
				}
				stack = append(stack, c)
				if c == '{' {
					state = stKey
				}
				continue
			case '"':
				if i = scanString(b, i); i < 0 {
					return false
				}
			case 't':
				if i = scanLiteral(b, i, "true"); i < 0 {
					return false
				}
			case 'f':
				if i = scanLiteral(b, i, "false"); i < 0 {
					return false
				}
			case 'n':
				if i = scanLiteral(b, i, "null"); i < 0 {
					return false
				}
			default:
				if i = scanNumber(b, i); i < 0 {
					return false
				}
			}
			state = stAfter
		case stKey:
			if i >= len(b) || b[i] != '"' {
				return false
			}
			if i = scanString(b, i); i < 0 {
				return false
			}
			if i = skipSpace(b, i); i >= len(b) || b[i] != ':' {
				return false
			}
			i, state = skipSpace(b, i+1), stValue
		case stAfter:
			i = skipSpace(b, i)
			if len(stack) == 0 {
				return i == len(b)
			}
			if i >= len(b) {
				return false
			}
			top := stack[len(stack)-1]
			switch b[i] {
			case ',':
				i, state = skipSpace(b, i+1), stValue
				if top == '{' {
					state = stKey
				}
			case '}':
				if top != '{' {
					return false
				}
				stack, i = stack[:len(stack)-1], i+1
			case ']':
				if top != '[' {
					return false
				}
				stack, i = stack[:len(stack)-1], i+1
			default:
				return false
			}
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanString returns the index after the string starting at b[i] == '"', or -1.
func scanString(b []byte, i int) int {
	i++
	for {
		// Eight bytes at a time while none is a quote, a backslash or a control character.
		for i+8 <= len(b) && !hasSpecial(binary.LittleEndian.Uint64(b[i:])) {
			i += 8
		}
		for i < len(b) && b[i] >= 0x20 && b[i] != '"' && b[i] != '\\' {
			i++ // bytes of multi-byte UTF-8 sequences are accepted unchecked, as encoding/json does
		}
		if i >= len(b) {
			return -1
		}
		switch b[i] {
		case '"':
			return i + 1
		case '\\':
			if i+1 >= len(b) {
				return -1
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) {
					return -1
				}
				for _, h := range b[i+2 : i+6] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return -1
					}
				}
				i += 6
			default:
				return -1
			}
		default: // a control character
			return -1
		}
	}
}

// hasSpecial reports whether any byte of x is a quote, a backslash or below 0x20, with the classic SWAR tests:
// (v - 0x0101…) &^ v has a byte's high bit set if some byte of v is zero, and (v - n*0x0101…) &^ v if some byte
// is below n (n ≤ 0x80). Which byte is flagged may be wrong; whether one is, is exact.
func hasSpecial(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	less := (x - 0x20*ones) &^ x    // bytes < 0x20 (bytes ≥ 0x80 are excluded by &^ x)
	quote := x ^ '"'*ones           // zero where '"'
	slash := x ^ '\\'*ones          // zero where '\\'
	quote = (quote - ones) &^ quote // high bit set where zero
	slash = (slash - ones) &^ slash
	return (less|quote|slash)&highs != 0
}

func scanLiteral(b []byte, i int, lit string) int {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

// scanNumber returns the index after the number starting at b[i], or -1.
func scanNumber(b []byte, i int) int {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = scanDigits(b, i+1)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		j := scanDigits(b, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := scanDigits(b, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func scanDigits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}
