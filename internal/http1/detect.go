package http1

import "bytes"

// methods are the request methods resynchronisation and detection accept. Extension methods exist, but a monitor
// that skipped to any token followed by a space would find request lines inside every JSON body; MCP uses POST, GET
// and DELETE, and the others are here because proxies and health checks send them on the same connections.
var methods = [...]string{"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE"}

// LooksLikeHTTP reports whether the first bytes of a TCP stream could open an HTTP/1.x request or response: a
// known method, a space and the first byte of a request target, or "HTTP/1." followed by a digit. Shorter input is
// accepted when it is a prefix of such a start. The check looks at no more than 16 bytes and does not allocate, so
// it can gate which connections are followed at all.
//
// The HTTP/2 connection preface ("PRI * HTTP/2.0") is not HTTP/1: see h2.LooksLikePreface.
func LooksLikeHTTP(b []byte) bool {
	return LooksLikeRequest(b) || LooksLikeResponse(b)
}

// LooksLikeRequest is the request half of [LooksLikeHTTP].
func LooksLikeRequest(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, m := range methods {
		if m[0] != b[0] {
			continue
		}
		n := len(m)
		if len(b) <= n {
			if bytes.HasPrefix([]byte(m), b) {
				return true
			}
			continue
		}
		if string(b[:n]) != m || b[n] != ' ' {
			continue
		}
		if len(b) == n+1 {
			return true
		}
		c := b[n+1]
		// origin-form "/", absolute-form "http://", asterisk-form "*" (OPTIONS), authority-form (CONNECT).
		if c == '/' || c == '*' || c == 'h' || c == 'H' || (m == "CONNECT" && isTokenByte(c)) {
			return true
		}
	}
	return false
}

// LooksLikeResponse is the response half of [LooksLikeHTTP].
func LooksLikeResponse(b []byte) bool {
	const p = "HTTP/1."
	if len(b) == 0 || b[0] != 'H' {
		return false
	}
	if len(b) <= len(p) {
		return bytes.HasPrefix([]byte(p), b)
	}
	if !bytes.HasPrefix(b, []byte(p)) || !isDigit(b[len(p)]) {
		return false
	}
	if len(b) > len(p)+1 && b[len(p)+1] != ' ' {
		return false
	}
	for i := len(p) + 2; i < len(b) && i < len(p)+5; i++ {
		if !isDigit(b[i]) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isTokenByte reports whether c may appear in an RFC 9110 token (header names, methods).
func isTokenByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !isTokenByte(c) {
			return false
		}
	}
	return true
}

// validTarget accepts a request target: visible ASCII and obs-text, no spaces or controls.
func validTarget(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// parseVersion accepts "HTTP/1.0" and "HTTP/1.1" (and HTTP/1.x in general, read as 1.1 semantics).
func parseVersion(b []byte) (string, bool) {
	if len(b) != len("HTTP/1.1") || string(b[:7]) != "HTTP/1." || !isDigit(b[7]) {
		return "", false
	}
	switch b[7] {
	case '0':
		return "HTTP/1.0", true
	case '1':
		return "HTTP/1.1", true
	}
	return string(b), true
}

// requestLine splits a complete request line (without its line ending).
func requestLine(line []byte) (method, target []byte, proto string, ok bool) {
	sp1 := bytes.IndexByte(line, ' ')
	sp2 := bytes.LastIndexByte(line, ' ')
	if sp1 <= 0 || sp2 <= sp1+1 {
		return nil, nil, "", false
	}
	method, target = line[:sp1], line[sp1+1:sp2]
	proto, ok = parseVersion(line[sp2+1:])
	if !ok || !isToken(method) || !validTarget(target) {
		return nil, nil, "", false
	}
	return method, target, proto, true
}

// statusLine splits a complete status line (without its line ending).
func statusLine(line []byte) (proto string, status int, reason []byte, ok bool) {
	if len(line) < len("HTTP/1.1 200") || line[8] != ' ' {
		return "", 0, nil, false
	}
	proto, ok = parseVersion(line[:8])
	if !ok {
		return "", 0, nil, false
	}
	c := line[9:12]
	if !isDigit(c[0]) || !isDigit(c[1]) || !isDigit(c[2]) || c[0] == '0' {
		return "", 0, nil, false
	}
	status = int(c[0]-'0')*100 + int(c[1]-'0')*10 + int(c[2]-'0')
	if len(line) > 12 {
		if line[12] != ' ' {
			return "", 0, nil, false
		}
		reason = line[13:]
	}
	return proto, status, reason, true
}

// findStart looks in one complete line (line ending removed) for a start line that ends where the line ends, and
// returns where it begins. It finds a request glued to the end of a body without a newline ("…}POST /mcp
// HTTP/1.1"), which is how pipelined JSON bodies look when parsing resumes inside them.
func findStart(line []byte, response bool) int {
	if response {
		// A status line's reason phrase may contain spaces, so look for the version token; the first one that
		// parses wins.
		for off := 0; off < len(line); {
			i := bytes.Index(line[off:], []byte("HTTP/1."))
			if i < 0 {
				return -1
			}
			if validStart(line[off+i:], true) {
				return off + i
			}
			off += i + 1
		}
		return -1
	}
	// A request line is METHOD SP target SP version, and the target has no spaces: the last two spaces delimit
	// it, and the method is a known one ending right before the first of them.
	sp2 := bytes.LastIndexByte(line, ' ')
	if sp2 <= 0 {
		return -1
	}
	if _, ok := parseVersion(line[sp2+1:]); !ok {
		return -1
	}
	sp1 := bytes.LastIndexByte(line[:sp2], ' ')
	if sp1 <= 0 || !validTarget(line[sp1+1:sp2]) {
		return -1
	}
	for _, m := range methods {
		if sp1 >= len(m) && string(line[sp1-len(m):sp1]) == m && validStart(line[sp1-len(m):], false) {
			return sp1 - len(m)
		}
	}
	return -1
}
