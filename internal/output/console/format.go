package console

import (
	"strconv"
	"unicode/utf8"
)

// escape makes s safe to print on a terminal and cuts it to max characters (max < 0: no limit), ending a cut
// string with "…". Control characters (C0, DEL, C1) and invalid UTF-8 bytes become \xNN or \uNNNN escapes;
// bidirectional formatting characters, which could reorder what the line appears to say, become \uNNNN.
// Printable text, ASCII or not, is kept.
func escape(s string, max int) string {
	if plain(s) && (max < 0 || len(s) <= max) {
		return s
	}
	var b []byte
	width, cut := 0, 0 // characters in b; len(b) when width was at most max-1
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		start := len(b)
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, '\\', 'x', hex[s[i]>>4], hex[s[i]&0xF])
		case r < 0x20 || r == 0x7f:
			b = append(b, '\\', 'x', hex[r>>4], hex[r&0xF])
		case 0x80 <= r && r <= 0x9f, isBidi(r):
			b = append(b, '\\', 'u', hex[r>>12&0xF], hex[r>>8&0xF], hex[r>>4&0xF], hex[r&0xF])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
		if b[start] == '\\' {
			width += len(b) - start
		} else {
			width++
		}
		if max >= 0 {
			if width > max {
				return string(b[:cut]) + "…"
			}
			if width <= max-1 {
				cut = len(b)
			}
		}
	}
	return string(b)
}

const hex = "0123456789abcdef"

// plain reports whether s is printable ASCII only.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// isBidi reports whether r is a bidirectional formatting character (Unicode's Bidi_Control property).
func isBidi(r rune) bool {
	return r == 0x061c || r == 0x200e || r == 0x200f || 0x202a <= r && r <= 0x202e || 0x2066 <= r && r <= 0x2069
}

// appendSize appends n bytes in binary units: 512 B, 1.5 KiB, 1.0 MiB.
func appendSize(b []byte, n int) []byte {
	if n < 1024 {
		b = strconv.AppendInt(b, int64(n), 10)
		return append(b, " B"...)
	}
	v, unit := float64(n)/1024, 0
	for v >= 1024 && unit < 3 {
		v, unit = v/1024, unit+1
	}
	b = strconv.AppendFloat(b, v, 'f', 1, 64)
	return append(b, [...]string{" KiB", " MiB", " GiB", " TiB"}[unit]...)
}

// appendLatency appends a latency given in milliseconds with two or three significant digits: 420 µs, 6.5 ms,
// 130 ms, 2.35 s, 75.0 s, 312 s.
func appendLatency(b []byte, ms float64) []byte {
	switch {
	case ms < 0.9995:
		b = strconv.AppendFloat(b, ms*1000, 'f', 0, 64)
		return append(b, " µs"...)
	case ms < 99.95:
		b = strconv.AppendFloat(b, ms, 'f', 1, 64)
		return append(b, " ms"...)
	case ms < 999.5:
		b = strconv.AppendFloat(b, ms, 'f', 0, 64)
		return append(b, " ms"...)
	case ms < 9995:
		b = strconv.AppendFloat(b, ms/1000, 'f', 2, 64)
	case ms < 99950:
		b = strconv.AppendFloat(b, ms/1000, 'f', 1, 64)
	default:
		b = strconv.AppendFloat(b, ms/1000, 'f', 0, 64)
	}
	return append(b, " s"...)
}
