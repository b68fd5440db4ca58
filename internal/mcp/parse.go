package mcp

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/mcpscope/mcpscope/internal/record"
)

// Errors that Parse wraps; test with errors.Is.
var (
	// ErrInvalidJSON means the frame is not JSON at all (a log line printed on stdout, a truncated message, ...).
	ErrInvalidJSON = errors.New("not valid JSON")
	// ErrNotJSONRPC means the frame is JSON but not a JSON-RPC 2.0 message or batch.
	ErrNotJSONRPC = errors.New("not a JSON-RPC 2.0 message")
)

// ParseError says why a frame was refused and where.
type ParseError struct {
	Err    error  // ErrInvalidJSON or ErrNotJSONRPC
	Offset int    // byte offset in the frame where the problem was found
	Reason string // what is wrong, for a person to read
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("%v at byte %d: %s", e.Err, e.Offset, e.Reason)
}

func (e *ParseError) Unwrap() error { return e.Err }

func syntaxError(offset int, reason string) error {
	return &ParseError{Err: ErrInvalidJSON, Offset: offset, Reason: reason}
}

func notRPCError(offset int, reason string) error {
	return &ParseError{Err: ErrNotJSONRPC, Offset: offset, Reason: reason}
}

// Limits on what Parse collects from one message, so that a hostile frame costs time linear in its size and no
// more memory than a small multiple of it.
const (
	maxCollectedKeys     = 256 // inputRequests / inputResponses keys
	maxSupportedVersions = 64  // server/discover supportedVersions
)

// Parsed is one JSON-RPC message decoded from a frame. Slices of bytes (Raw, ID, ProgressToken, CancelRequestID,
// SubscriptionID) point into the frame, so the frame must stay unchanged while they are in use; strings are
// copies.
type Parsed struct {
	Raw  []byte // the message verbatim (for a batch, the element's bytes)
	Type string // record.TypeRequest, record.TypeResponse or record.TypeNotification

	// ID is the id verbatim (number or string); nil for notifications and for error responses without one, the
	// four bytes null for an explicit "id": null.
	ID     json.RawMessage
	Method string // requests and notifications

	Tool string // tools/call params.name
	// Resource is params.uri of resources/read, resources/subscribe, resources/unsubscribe,
	// notifications/resources/updated and resources/directory/read, or the ref.uri of a completion/complete for a
	// resource template.
	Resource string
	Prompt   string // prompts/get params.name, or the ref.name of a completion/complete for a prompt

	IsError *bool            // result.isError when present: a tool error, not a JSON-RPC error
	Error   *record.RPCError // the JSON-RPC error of an error response

	// ProtocolVersion is params._meta["io.modelcontextprotocol/protocolVersion"] (modern era), else
	// params.protocolVersion of initialize, or result.protocolVersion of a response (an InitializeResult).
	ProtocolVersion string
	ResultType      string // result.resultType (modern era): "complete", "input_required", "task"

	// ProgressToken is params._meta.progressToken on a request, params.progressToken on notifications/progress.
	ProgressToken json.RawMessage
	// Arguments is params.arguments verbatim (tools/call, prompts/get, any method that sends them), a slice of the
	// frame; nil when absent.
	Arguments       json.RawMessage
	CancelRequestID json.RawMessage // params.requestId of notifications/cancelled
	// SubscriptionID is params._meta["io.modelcontextprotocol/subscriptionId"]: the id of the subscriptions/listen
	// request whose stream carries this notification.
	SubscriptionID json.RawMessage

	// Multi-round-trip requests (modern era). A server answers with InputRequired and InputRequestKeys and/or
	// RequestState; the client retries with a new id, HasInputResponses, InputResponseKeys and the echoed
	// RequestState.
	RequestState      string   // params.requestState of a request, result.requestState of a response
	InputResponseKeys []string // sorted, distinct keys of params.inputResponses (nil past 256 keys)
	HasInputResponses bool     // params.inputResponses is present
	InputRequestKeys  []string // sorted, distinct keys of result.inputRequests (nil past 256 keys)
	InputRequired     bool     // result.resultType == "input_required"

	SupportedVersions []string // result.supportedVersions (a server/discover result)

	Batch *record.Batch // where the message sits in a batch; nil outside one
}

// Parse decodes one frame (one line of a stdio stream, without its newline) into JSON-RPC messages: one for an
// object, one per element for a batch (an array). Anything that is not JSON-RPC 2.0 is refused with a
// *ParseError wrapping ErrInvalidJSON (not JSON) or ErrNotJSONRPC (JSON of the wrong shape). Whitespace around
// the value (a CR before the newline, say) is allowed.
//
// Parse reads the frame once, never recurses, and validates all of it, so a frame it accepts is valid JSON.
func Parse(data []byte) ([]Parsed, error) {
	return AppendParse(nil, data)
}

// AppendParse is Parse appending to dst, so that a caller can reuse one slice for every frame. On error it returns
// dst unchanged. Keep in mind that the Parsed values (and their Batch pointers) are overwritten on reuse.
func AppendParse(dst []Parsed, data []byte) ([]Parsed, error) {
	orig := dst
	s := scanner{data: data}
	dst, err := s.parseFrame(dst)
	if err == nil {
		return dst, nil
	}
	clear(dst[len(orig):]) // drop references into data from the discarded elements
	if errors.Is(err, ErrNotJSONRPC) {
		// The parser stops at the first sign of a wrong shape; make sure the rest was JSON at all, so that the
		// two errors mean what they say.
		if verr := validate(&s); verr != nil {
			return orig, verr
		}
	}
	return orig, err
}

// validate checks that the whole frame is one JSON value surrounded by whitespace.
func validate(s *scanner) error {
	s.pos = 0
	if err := s.skipValue(0); err != nil {
		return err
	}
	s.skipSpace()
	if s.pos != len(s.data) {
		return s.errUnexpected("the end of the frame")
	}
	return nil
}

func (s *scanner) parseFrame(dst []Parsed) ([]Parsed, error) {
	s.skipSpace()
	if s.pos >= len(s.data) {
		return dst, syntaxError(0, "the frame is empty")
	}
	switch s.data[s.pos] {
	case '{':
		dst = append(dst, Parsed{})
		if err := s.parseMessage(&dst[len(dst)-1], 1); err != nil {
			return dst, err
		}
	case '[':
		var err error
		if dst, err = s.parseBatch(dst); err != nil {
			return dst, err
		}
	default:
		start := s.pos
		if err := s.skipValue(0); err != nil {
			return dst, err
		}
		return dst, notRPCError(start,
			"a JSON "+jsonKind(s.data[start])+" is not a message (want an object or an array of objects)")
	}
	s.skipSpace()
	if s.pos != len(s.data) {
		return dst, s.errUnexpected("the end of the frame")
	}
	return dst, nil
}

func jsonKind(first byte) string {
	switch first {
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// parseBatch reads a JSON-RPC batch: an array of messages (allowed only by protocol 2025-03-26).
func (s *scanner) parseBatch(dst []Parsed) ([]Parsed, error) {
	n0 := len(dst)
	start := s.pos
	s.pos++
	if c, err := s.peek("a message or ']'"); err != nil {
		return dst, err
	} else if c == ']' {
		return dst, notRPCError(start, "an empty batch (array) holds no message")
	}
	for index := 0; ; index++ {
		c, err := s.peek("a message")
		if err != nil {
			return dst, err
		}
		if c != '{' {
			return dst, notRPCError(s.pos, fmt.Sprintf("batch element %d is not an object", index))
		}
		dst = append(dst, Parsed{})
		if err := s.parseMessage(&dst[len(dst)-1], 2); err != nil {
			var pe *ParseError
			if errors.As(err, &pe) && pe.Err == ErrNotJSONRPC {
				pe.Reason = fmt.Sprintf("batch element %d: %s", index, pe.Reason)
			}
			return dst, err
		}
		if c, err = s.peek("',' or ']'"); err != nil {
			return dst, err
		}
		if c == ']' {
			s.pos++
			break
		}
		if c != ',' {
			return dst, s.errUnexpected("',' or ']'")
		}
		s.pos++
	}
	count := len(dst) - n0
	batches := make([]record.Batch, count)
	for i := range batches {
		batches[i] = record.Batch{Index: i, Count: count, Size: s.pos - start}
		dst[n0+i].Batch = &batches[i]
	}
	return dst, nil
}

// fields gathers what a message holds, in whatever order its members come (the TS SDK writes "result" before
// "jsonrpc" and "id"); interpret makes sense of them once the object is complete. When a member repeats, the
// last one wins, as with encoding/json, so each object's fields are reset when it (re)appears.
type fields struct {
	hasJSONRPC, hasID, hasMethod, hasResult, hasError bool
	errorIsObject                                     bool
	jsonrpc, method                                   span
	id                                                []byte
	params                                            paramFields
	result                                            resultFields
	error                                             errorFields
}

type paramFields struct {
	name, uri, protocolVersion, requestState span
	progressToken, requestID, arguments      []byte
	hasInputResponses                        bool
	inputResponseKeys                        []string
	ref                                      refFields
	meta                                     metaFields
}

type refFields struct{ typ, name, uri span }

type metaFields struct {
	progressToken, subscriptionID []byte
	protocolVersion               span
}

type resultFields struct {
	isErrorSet, isError                   bool
	resultType, protocolVersion, reqState span
	inputRequestKeys, supportedVersions   []string
}

type errorFields struct {
	code    int64
	message span
}

// parseMessage reads the object at s.pos (at the given depth: 1 alone, 2 in a batch) into p.
func (s *scanner) parseMessage(p *Parsed, depth int) error {
	start := s.pos
	var f fields
	err := s.members(func(name []byte) (err error) {
		switch string(name) {
		case "jsonrpc":
			f.hasJSONRPC = true
			f.jsonrpc, err = s.stringValue(depth)
		case "id":
			f.hasID = true
			f.id, err = s.rawValue(depth)
		case "method":
			f.hasMethod = true
			f.method, err = s.stringValue(depth)
		case "params": // positional params (an array) are JSON-RPC but not MCP; nothing to label
			f.params = paramFields{}
			_, err = s.parseParams(&f.params, depth)
		case "result":
			f.hasResult = true
			f.result = resultFields{}
			_, err = s.parseResult(&f.result, depth)
		case "error":
			f.hasError = true
			f.error = errorFields{}
			f.errorIsObject, err = s.parseError(&f.error, depth)
		default:
			err = s.skipValue(depth)
		}
		return err
	})
	if err != nil {
		return err
	}
	p.Raw = s.data[start:s.pos]
	return s.interpret(&f, p, start)
}

func (s *scanner) peekIs(c byte) bool {
	s.skipSpace()
	return s.pos < len(s.data) && s.data[s.pos] == c
}

// members reads the object at s.pos member by member: it reads each member's name and calls value, which must
// consume the member's value. It returns the first error of either.
func (s *scanner) members(value func(name []byte) error) error {
	more, err := s.openObject()
	for more && err == nil {
		var name []byte
		if name, err = s.memberName(); err != nil {
			break
		}
		if err = value(name); err == nil {
			more, err = s.nextMember()
		}
	}
	return err
}

// object reads the value at s.pos, a member of an object at depth: member by member as members does if it is an
// object (value then reads at depth+1), and otherwise validates and skips it, so that a peer's odd field type never
// rejects the whole message. It reports whether the value was an object.
func (s *scanner) object(depth int, value func(name []byte) error) (bool, error) {
	if !s.peekIs('{') {
		return false, s.skipValue(depth)
	}
	return true, s.members(value)
}

// parseParams reads params, a member of the message object at depth.
func (s *scanner) parseParams(f *paramFields, depth int) (bool, error) {
	inner := depth + 1
	return s.object(depth, func(name []byte) (err error) {
		switch string(name) {
		case "name":
			f.name, err = s.stringValue(inner)
		case "uri":
			f.uri, err = s.stringValue(inner)
		case "protocolVersion":
			f.protocolVersion, err = s.stringValue(inner)
		case "progressToken":
			f.progressToken, err = s.rawValue(inner)
		case "requestId":
			f.requestID, err = s.rawValue(inner)
		case "arguments":
			f.arguments, err = s.rawValue(inner)
		case "requestState":
			f.requestState, err = s.stringValue(inner)
		case "inputResponses":
			f.hasInputResponses, err = s.objectKeys(inner, &f.inputResponseKeys)
		case "ref":
			f.ref = refFields{}
			_, err = s.parseRef(&f.ref, inner)
		case "_meta":
			f.meta = metaFields{}
			_, err = s.parseMeta(&f.meta, inner)
		default:
			err = s.skipValue(inner)
		}
		return err
	})
}

// parseRef reads completion/complete params.ref: {type:"ref/prompt", name} or {type:"ref/resource", uri}.
func (s *scanner) parseRef(f *refFields, depth int) (bool, error) {
	inner := depth + 1
	return s.object(depth, func(name []byte) (err error) {
		switch string(name) {
		case "type":
			f.typ, err = s.stringValue(inner)
		case "name":
			f.name, err = s.stringValue(inner)
		case "uri":
			f.uri, err = s.stringValue(inner)
		default:
			err = s.skipValue(inner)
		}
		return err
	})
}

// parseMeta reads params._meta.
func (s *scanner) parseMeta(f *metaFields, depth int) (bool, error) {
	inner := depth + 1
	return s.object(depth, func(name []byte) (err error) {
		switch string(name) {
		case "progressToken":
			f.progressToken, err = s.rawValue(inner)
		case "io.modelcontextprotocol/protocolVersion":
			f.protocolVersion, err = s.stringValue(inner)
		case "io.modelcontextprotocol/subscriptionId":
			f.subscriptionID, err = s.rawValue(inner)
		default:
			err = s.skipValue(inner)
		}
		return err
	})
}

// parseResult reads result, a member of the message object at depth.
func (s *scanner) parseResult(f *resultFields, depth int) (bool, error) {
	inner := depth + 1
	return s.object(depth, func(name []byte) (err error) {
		switch string(name) {
		case "isError":
			var raw []byte
			if raw, err = s.rawValue(inner); err == nil {
				f.isErrorSet = raw[0] == 't' || raw[0] == 'f'
				f.isError = raw[0] == 't'
			}
		case "resultType":
			f.resultType, err = s.stringValue(inner)
		case "protocolVersion":
			f.protocolVersion, err = s.stringValue(inner)
		case "requestState":
			f.reqState, err = s.stringValue(inner)
		case "inputRequests":
			_, err = s.objectKeys(inner, &f.inputRequestKeys)
		case "supportedVersions":
			f.supportedVersions = nil
			if s.peekIs('[') {
				f.supportedVersions, err = s.stringArray(inner+1, maxSupportedVersions)
			} else {
				err = s.skipValue(inner)
			}
		default:
			err = s.skipValue(inner)
		}
		return err
	})
}

// parseError reads a JSON-RPC error object, a member of the message object at depth.
func (s *scanner) parseError(f *errorFields, depth int) (bool, error) {
	inner := depth + 1
	return s.object(depth, func(name []byte) (err error) {
		switch string(name) {
		case "code":
			var raw []byte
			if raw, err = s.rawValue(inner); err == nil {
				f.code = errorCode(raw)
			}
		case "message":
			f.message, err = s.stringValue(inner)
		default:
			err = s.skipValue(inner)
		}
		return err
	})
}

// errorCode reads an error code: an integer, or a number with an integral value (-32601.0). Anything else reads
// as 0, so that a peer's malformed error is still reported.
func errorCode(raw []byte) int64 {
	if raw[0] != '-' && !isDigit(raw[0]) {
		return 0
	}
	if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
		return n
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
		return 0
	}
	return int64(f)
}

// objectKeys reads the value at s.pos, a member of an object at depth, into keys: an object's member names, sorted
// and distinct (nil when there are more than maxCollectedKeys); nil for any other value. It reports whether the
// value was an object.
func (s *scanner) objectKeys(depth int, keys *[]string) (bool, error) {
	var names []string
	tooMany := false
	isObject, err := s.object(depth, func(name []byte) error {
		if len(names) < maxCollectedKeys {
			names = append(names, string(name))
		} else {
			tooMany = true
		}
		return s.skipValue(depth + 1)
	})
	*keys = nil
	if err != nil || tooMany {
		return isObject, err
	}
	slices.Sort(names)
	*keys = slices.Compact(names)
	return isObject, nil
}

// stringArray reads the array at s.pos (at depth) and returns up to limit of its string elements.
func (s *scanner) stringArray(depth, limit int) ([]string, error) {
	s.pos++
	if s.peekIs(']') {
		s.pos++
		return nil, nil
	}
	var out []string
	for {
		sp, err := s.stringValue(depth)
		if err != nil {
			return nil, err
		}
		if sp.ok && len(out) < limit {
			out = append(out, internVersion(s.bytesOf(sp)))
		}
		c, err := s.peek("',' or ']'")
		if err != nil {
			return nil, err
		}
		switch c {
		case ']':
			s.pos++
			return out, nil
		case ',':
			s.pos++
		default:
			return nil, s.errUnexpected("',' or ']'")
		}
	}
}

// interpret checks the shape of a complete message and fills p.
func (s *scanner) interpret(f *fields, p *Parsed, start int) error {
	switch {
	case !f.hasJSONRPC:
		return notRPCError(start, `the "jsonrpc" member is missing`)
	case !f.jsonrpc.ok:
		return notRPCError(start, `"jsonrpc" is not a string (want "2.0")`)
	case string(s.bytesOf(f.jsonrpc)) != "2.0":
		return notRPCError(start, fmt.Sprintf(`"jsonrpc" is %q (want "2.0")`, s.text(f.jsonrpc)))
	}
	if f.hasID {
		switch c := f.id[0]; {
		case c == '"', c == '-', isDigit(c), c == 'n':
		default:
			return notRPCError(start, `"id" is not a string, a number or null`)
		}
		p.ID = f.id
	}
	switch {
	case f.hasMethod:
		if !f.method.ok {
			return notRPCError(start, `"method" is not a string`)
		}
		if f.hasResult || f.hasError {
			return notRPCError(start, `a message has both "method" and "result" or "error"`)
		}
		p.Type = record.TypeNotification
		if f.hasID {
			p.Type = record.TypeRequest
		}
		s.interpretCall(f, p)
	case f.hasResult && f.hasError:
		return notRPCError(start, `a response has both "result" and "error"`)
	case f.hasResult:
		if !f.hasID {
			return notRPCError(start, `a response has no "id"`)
		}
		p.Type = record.TypeResponse
		s.interpretResult(&f.result, p)
	case f.hasError:
		if !f.errorIsObject {
			return notRPCError(start, `"error" is not an object`)
		}
		p.Type = record.TypeResponse
		p.Error = &record.RPCError{Code: f.error.code, Message: s.text(f.error.message)}
	default:
		return notRPCError(start, `a message has neither "method" nor "result" or "error"`)
	}
	return nil
}

// interpretCall fills the fields of a request or notification.
func (s *scanner) interpretCall(f *fields, p *Parsed) {
	params := &f.params
	p.Method = internMethod(s.bytesOf(f.method))
	switch {
	case params.meta.protocolVersion.ok:
		p.ProtocolVersion = internVersion(s.bytesOf(params.meta.protocolVersion))
	case p.Method == "initialize" && params.protocolVersion.ok:
		p.ProtocolVersion = internVersion(s.bytesOf(params.protocolVersion))
	}
	switch p.Method {
	case "tools/call":
		p.Tool = s.text(params.name)
	case "prompts/get":
		p.Prompt = s.text(params.name)
	case "resources/read", "resources/subscribe", "resources/unsubscribe", "notifications/resources/updated",
		"resources/directory/read":
		p.Resource = s.text(params.uri)
	case "completion/complete":
		switch string(s.bytesOf(params.ref.typ)) {
		case "ref/prompt":
			p.Prompt = s.text(params.ref.name)
		case "ref/resource":
			p.Resource = s.text(params.ref.uri)
		}
	case "notifications/cancelled":
		p.CancelRequestID = params.requestID
	}
	if p.Type == record.TypeRequest {
		p.ProgressToken = params.meta.progressToken
	} else if p.Method == "notifications/progress" {
		p.ProgressToken = params.progressToken
	}
	p.SubscriptionID = params.meta.subscriptionID
	p.Arguments = params.arguments
	p.RequestState = s.text(params.requestState)
	p.HasInputResponses = params.hasInputResponses
	p.InputResponseKeys = params.inputResponseKeys
}

// interpretResult fills the fields of a successful response.
func (s *scanner) interpretResult(f *resultFields, p *Parsed) {
	if f.isErrorSet {
		isError := f.isError
		p.IsError = &isError
	}
	if f.resultType.ok {
		p.ResultType = internResultType(s.bytesOf(f.resultType))
		p.InputRequired = p.ResultType == "input_required"
	}
	if f.protocolVersion.ok {
		p.ProtocolVersion = internVersion(s.bytesOf(f.protocolVersion))
	}
	p.RequestState = s.text(f.reqState)
	p.InputRequestKeys = f.inputRequestKeys
	p.SupportedVersions = f.supportedVersions
}

// internMethod returns the catalogue's copy of a known method name, sparing an allocation per message.
func internMethod(b []byte) string {
	if info, ok := catalogue[string(b)]; ok {
		return info.Method
	}
	return string(b)
}

func internVersion(b []byte) string {
	for _, v := range revisionNames {
		if string(b) == v {
			return v
		}
	}
	return string(b)
}

func internResultType(b []byte) string {
	switch string(b) {
	case "complete":
		return "complete"
	case "input_required":
		return "input_required"
	case "task":
		return "task"
	}
	return string(b)
}
