package mcp

// Value returns the bytes of the value at path (member names, outermost first) in the JSON object msg, or nil when
// a member on the path is missing, an object on the path is not an object, or what it read of msg is not valid JSON.
// With no path it returns msg's value. The result is a slice of msg, not a copy: a record's message is immutable
// once written (package output), so a sink may keep both.
//
// A name that occurs twice in one object yields its last value, as in Parse and encoding/json (and in JSON.parse
// and Python's json: what the peers act on). So each object on the path is read whole, validating it.
func Value(msg []byte, path ...string) []byte {
	s := scanner{data: msg}
	if len(path) == 0 {
		v, err := s.rawValue(0)
		if err != nil {
			return nil
		}
		return v
	}
	var start, end int
	for depth, name := range path {
		found := false
		isObject, err := s.object(depth, func(got []byte) error {
			if string(got) != name {
				return s.skipValue(depth + 1)
			}
			s.skipSpace()
			at := s.pos
			if err := s.skipValue(depth + 1); err != nil {
				return err
			}
			start, end, found = at, s.pos, true
			return nil
		})
		if err != nil || !isObject || !found {
			return nil
		}
		s.pos = start // the next name is looked up in the value found
	}
	return msg[start:end]
}
