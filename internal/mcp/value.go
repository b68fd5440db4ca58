package mcp

// Value returns the bytes of the value at path (member names, outermost first) in the JSON object msg, or nil when
// a member on the path is missing, an object on the path is not an object, or msg is not valid JSON as far as it was
// read. With no path it returns msg's value. The result is a slice of msg, not a copy: a record's message is
// immutable once written (package output), so a sink may keep both.
//
// It reads msg only as far as the value's end, validating what it passes over; a name that occurs twice in one
// object yields its first value (encoding/json takes the last; MCP peers do not repeat names).
func Value(msg []byte, path ...string) []byte {
	s := scanner{data: msg}
	for depth, name := range path {
		if c, err := s.peek("an object"); err != nil || c != '{' {
			return nil
		}
		more, err := s.openObject()
		if err != nil {
			return nil
		}
		for {
			if !more {
				return nil
			}
			got, err := s.memberName()
			if err != nil {
				return nil
			}
			if string(got) == name {
				break
			}
			if s.skipValue(depth+1) != nil {
				return nil
			}
			if more, err = s.nextMember(); err != nil {
				return nil
			}
		}
	}
	v, err := s.rawValue(len(path))
	if err != nil {
		return nil
	}
	return v
}
