package mcp

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/mcpscope/mcpscope/internal/record"
)

// Limits bound the memory a Correlator holds. A zero or negative field takes its default.
//
// There is deliberately no time limit: MCP requests may legitimately run for many minutes (a long tool call, a
// subscriptions/listen stream that is answered only at teardown), and a monitor that forgot them would report
// their responses as unmatched and lose their latency. Memory is bounded by count instead; when a limit is
// reached the oldest open request goes first (requests that were cancelled go before all others, since their
// peer may never answer), and every eviction is counted.
type Limits struct {
	MaxPendingPerSession int // open requests (awaiting a response or an MRTR retry) in one session
	MaxPending           int // open requests over all sessions
	MaxSessions          int // sessions with state; the least recently active session goes first
}

// Defaults for Limits. An open request costs roughly 300 bytes, so the global default is about 20 MB at most.
const (
	DefaultMaxPendingPerSession = 4096
	DefaultMaxPending           = 65536
	DefaultMaxSessions          = 16384
)

func (l Limits) withDefaults() Limits {
	if l.MaxPendingPerSession <= 0 {
		l.MaxPendingPerSession = DefaultMaxPendingPerSession
	}
	if l.MaxPending <= 0 {
		l.MaxPending = DefaultMaxPending
	}
	if l.MaxSessions <= 0 {
		l.MaxSessions = DefaultMaxSessions
	}
	return l
}

// Stats describes the correlator's state and what it has done since it was created.
type Stats struct {
	Sessions      int // sessions with state now
	Pending       int // requests awaiting their response now
	AwaitingRetry int // MRTR operations whose input_required result was seen and whose retry was not, now

	Matched            uint64 // responses paired with their request
	UnmatchedResponses uint64 // responses whose request was not seen (capture began later, evicted, null id, peer bug)
	Unanswered         uint64 // open requests dropped by EndSession
	Evicted            uint64 // open requests dropped to stay within Limits
	EvictedSessions    uint64 // sessions dropped to stay within Limits.MaxSessions
	Late               uint64 // responses to requests that had been cancelled
	Cancelled          uint64 // notifications/cancelled that named an open request
	Retries            uint64 // MRTR retries linked to their original request
	AmbiguousRetries   uint64 // requests that could be the retry of more than one operation, left unlinked
	UnlinkedProgress   uint64 // notifications/progress whose token matched no open request
	DuplicateIDs       uint64 // requests that reused the id of an open request of the same side (the older is dropped)
}

// Counters returns the statistics under the names used in stats records (see record.Stats).
func (s Stats) Counters() map[string]uint64 {
	return map[string]uint64{
		"sessions":            uint64(s.Sessions),
		"pending":             uint64(s.Pending),
		"awaiting_retry":      uint64(s.AwaitingRetry),
		"matched":             s.Matched,
		"unmatched_responses": s.UnmatchedResponses,
		"unanswered":          s.Unanswered,
		"evicted":             s.Evicted,
		"evicted_sessions":    s.EvictedSessions,
		"late":                s.Late,
		"cancelled":           s.Cancelled,
		"retries":             s.Retries,
		"ambiguous_retries":   s.AmbiguousRetries,
		"unlinked_progress":   s.UnlinkedProgress,
		"duplicate_ids":       s.DuplicateIDs,
	}
}

// Correlator pairs responses with their requests and keeps what it learns about each session: which process is
// the client and which the server, the era and protocol version, open requests, cancellations, progress tokens and
// multi-round-trip (MRTR) operations.
//
// A Correlator is not safe for concurrent use: one goroutine owns it and calls Annotate in capture order (the
// order matters: a response must come after its request).
type Correlator struct {
	limits   Limits
	sessions map[string]*session
	lru      sessionList // least recently active first
	open     entryList   // every open request over all sessions, next to evict first
	pending  int         // open requests awaiting a response
	awaiting int         // open requests awaiting an MRTR retry
	counts   Stats       // the counters; the gauges are computed by Stats
	scratch  []byte      // canonical ids and chain keys, built here to look maps up without allocating
}

// NewCorrelator returns a Correlator bounded by l (zero fields take the defaults).
func NewCorrelator(l Limits) *Correlator {
	return &Correlator{
		limits:   l.withDefaults(),
		sessions: make(map[string]*session),
		open:     entryList{which: linkAll},
	}
}

// Stats returns the current statistics.
func (c *Correlator) Stats() Stats {
	st := c.counts
	st.Sessions = len(c.sessions)
	st.Pending = c.pending
	st.AwaitingRetry = c.awaiting
	return st
}

// role is a process's role in a session.
type role uint8

const (
	roleUnknown role = iota
	roleClient
	roleServer
)

func (r role) peer() role {
	switch r {
	case roleClient:
		return roleServer
	case roleServer:
		return roleClient
	}
	return roleUnknown
}

// direction is the direction of a message written by a process in role r.
func (r role) direction() string {
	switch r {
	case roleClient:
		return record.ClientToServer
	case roleServer:
		return record.ServerToClient
	}
	return ""
}

// maxSidesPerSession bounds the writers tracked in one session. A stdio session has two; a few more appear when a
// wrapper (npx, a shell) shares the pipe with its child.
const maxSidesPerSession = 16

type session struct {
	key      string
	sides    []*side
	open     entryList // this session's open requests, next to evict first
	era      string
	eraProbe bool // era is modern only because the client sent server/discover, which a legacy server refuses
	version  string

	prev, next *session // in Correlator.lru
}

// side is one writer in a session, and the requests it issued.
type side struct {
	session  *session
	sender   int
	role     role
	detached bool                // past maxSidesPerSession: annotated without keeping state
	pending  map[string]*entry   // requests awaiting a response, by canonical id
	progress map[string]*entry   // the same requests, by canonical progress token
	chains   map[string][]*entry // MRTR operations awaiting a retry, by method and name
}

// entry is one open request: awaiting its response, or (after an input_required result) awaiting its retry.
type entry struct {
	side                   *side
	key                    string          // canonical id: the key in side.pending
	id                     json.RawMessage // the id verbatim (a copy)
	method, kind           string
	tool, resource, prompt string
	origin                 time.Time       // when the operation began: this request, or the first of its MRTR chain
	originID               json.RawMessage // id of the first request of the MRTR chain; nil for that request
	progressKey            string          // canonical progress token; "" if none
	cancelled              bool

	// Set while the entry awaits an MRTR retry.
	awaitingRetry bool
	chainKey      string
	requestState  string
	inputKeys     []string

	links [2]link // in session.open and Correlator.open
}

func (c *Correlator) session(key string) *session {
	if s := c.sessions[key]; s != nil {
		c.lru.moveToBack(s)
		return s
	}
	for len(c.sessions) >= c.limits.MaxSessions {
		c.counts.EvictedSessions++
		c.dropSession(c.lru.head, &c.counts.Evicted)
	}
	s := &session{key: key, open: entryList{which: linkSession}}
	c.sessions[key] = s
	c.lru.pushBack(s)
	return s
}

func (s *session) side(sender int) *side {
	for _, sd := range s.sides {
		if sd.sender == sender {
			return sd
		}
	}
	sd := &side{session: s, sender: sender}
	if len(s.sides) >= maxSidesPerSession {
		sd.detached = true
		return sd
	}
	s.sides = append(s.sides, sd)
	return sd
}

// learnRole records that sd plays r, unless its role is known already or another writer plays r: the first
// evidence wins, so one odd message cannot flip a session around.
func (s *session) learnRole(sd *side, r role) {
	if sd.role != roleUnknown || r == roleUnknown {
		return
	}
	for _, other := range s.sides {
		if other != sd && other.role == r {
			return
		}
	}
	sd.role = r
}

// learnRoleFrom learns sd's role from a method that only one role sends.
func (s *session) learnRoleFrom(sd *side, info MethodInfo) {
	if info.Kind != KindProtocol {
		return
	}
	switch info.Direction {
	case ClientToServer:
		s.learnRole(sd, roleClient)
	case ServerToClient:
		s.learnRole(sd, roleServer)
	}
}

// roleOf returns sd's role, inferring it when the other writer's role is known.
func (s *session) roleOf(sd *side) role {
	if sd.role == roleUnknown {
		var client, server bool
		for _, other := range s.sides {
			client = client || other.role == roleClient
			server = server || other.role == roleServer
		}
		switch {
		case client && !server:
			s.learnRole(sd, roleServer)
		case server && !client:
			s.learnRole(sd, roleClient)
		}
	}
	return sd.role
}

// noteVersion adopts a protocol version seen in a message and the era it implies.
func (s *session) noteVersion(version string) {
	if version == "" {
		return
	}
	s.version = version
	s.era = EraOf(version)
	s.eraProbe = false
}

// Annotate fills rec from p and from what the correlator knows of the session: Type, ID, Method (on a response,
// the method of its request), MethodKind, Tool, Resource, Prompt (on a response, copied from its request),
// LatencyMs, IsError, Error, Era, ProtocolVersion, ResultType, ProgressToken, RelatedID, Late, RetryOf, Batch,
// Direction and Message (p.Raw, not copied). It leaves the other fields (Kind, Time, Transport, Session, From, To,
// Size, Truncated, LostBytes) to the caller.
//
// session is an opaque key chosen by the caller (for stdio, the pipe pair); sender identifies the process that
// wrote the message (its pid) and must differ between the two sides of a session. Requests are correlated by
// (session, requesting side, id): an id reused by the other side, or in another session, never mixes. t is when the
// message was written; latencies are differences of these times.
func (c *Correlator) Annotate(session string, sender int, p *Parsed, t time.Time, rec *record.Message) {
	s := c.session(session)
	from := s.side(sender)

	rec.Type = p.Type
	rec.ID = p.ID
	rec.Method = p.Method
	rec.MethodKind = ""
	rec.Tool, rec.Resource, rec.Prompt = p.Tool, p.Resource, p.Prompt
	rec.LatencyMs = nil
	rec.IsError = p.IsError
	rec.Error = p.Error
	rec.ResultType = p.ResultType
	rec.ProgressToken = p.ProgressToken
	rec.RelatedID = nil
	rec.Late = false
	rec.RetryOf = nil
	rec.Batch = p.Batch
	rec.Direction = ""
	rec.Message = json.RawMessage(p.Raw)
	rec.Arguments = p.Arguments

	switch p.Type {
	case record.TypeRequest:
		c.request(s, from, p, t, rec)
	case record.TypeNotification:
		c.notification(s, from, p, rec)
	case record.TypeResponse:
		c.response(s, from, p, t, rec)
	}

	rec.Era, rec.ProtocolVersion = s.era, s.version
	if rec.Direction == "" {
		rec.Direction = s.roleOf(from).direction()
	}
}

func (c *Correlator) request(s *session, from *side, p *Parsed, t time.Time, rec *record.Message) {
	info := Lookup(p.Method)
	rec.MethodKind = info.Kind
	s.learnRoleFrom(from, info)
	if p.Method == "server/discover" && s.era == "" {
		s.era, s.eraProbe = record.EraModern, true
	}
	s.noteVersion(p.ProtocolVersion)
	switch {
	case p.Method == "initialize":
		s.era, s.eraProbe = record.EraLegacy, false
	case s.era == "" && p.ProtocolVersion == "" && info.Kind == KindProtocol && p.Method != "server/discover":
		// Every modern request carries its version in _meta (and modern servers send no requests at all), so a
		// protocol request without one is legacy. This gives captures that start mid-session an era; the first
		// version seen overrides it.
		s.era = record.EraLegacy
	}
	if from.detached {
		return
	}

	origin, originID := t, json.RawMessage(nil)
	if p.RequestState != "" || p.HasInputResponses {
		if first := c.matchRetry(from, p); first != nil {
			origin, originID = first.origin, first.originID
			if originID == nil {
				originID = first.id
			}
			rec.RetryOf = originID
			c.counts.Retries++
			c.drop(first)
		}
	}

	var ok bool
	if c.scratch, ok = appendIDKey(c.scratch[:0], p.ID); !ok {
		return // a null id: nothing could tell its response from another's
	}
	if from.pending == nil {
		from.pending = make(map[string]*entry)
	}
	if old := from.pending[string(c.scratch)]; old != nil {
		c.counts.DuplicateIDs++
		c.drop(old)
	}
	key := string(c.scratch)
	c.makeRoom(s)
	e := &entry{
		side:     from,
		key:      key,
		id:       bytes.Clone(p.ID),
		method:   p.Method,
		kind:     info.Kind,
		tool:     p.Tool,
		resource: p.Resource,
		prompt:   p.Prompt,
		origin:   origin,
		originID: originID,
	}
	from.pending[key] = e
	if c.scratch, ok = appendIDKey(c.scratch[:0], p.ProgressToken); ok {
		e.progressKey = string(c.scratch)
		if from.progress == nil {
			from.progress = make(map[string]*entry)
		}
		from.progress[e.progressKey] = e
	}
	s.open.pushBack(e)
	c.open.pushBack(e)
	c.pending++
}

func (c *Correlator) notification(s *session, from *side, p *Parsed, rec *record.Message) {
	info := Lookup(p.Method)
	rec.MethodKind = info.Kind
	s.learnRoleFrom(from, info)
	s.noteVersion(p.ProtocolVersion)

	switch p.Method {
	case "notifications/cancelled":
		rec.RelatedID = p.CancelRequestID
		if e := c.cancelTarget(s, from, p.CancelRequestID); e != nil && !e.cancelled {
			e.cancelled = true
			// The peer may never answer a cancelled request (the TS SDK does not): let it go first.
			s.open.moveToFront(e)
			c.open.moveToFront(e)
			c.counts.Cancelled++
		}
	case "notifications/progress":
		if e := c.progressTarget(s, from, p.ProgressToken); e != nil {
			rec.RelatedID = e.id
		} else {
			c.counts.UnlinkedProgress++
		}
	}
	if rec.RelatedID == nil && p.SubscriptionID != nil {
		rec.RelatedID = p.SubscriptionID
	}
}

func (c *Correlator) response(s *session, from *side, p *Parsed, t time.Time, rec *record.Message) {
	if s.era == record.EraModern && !s.eraProbe {
		s.learnRole(from, roleServer) // from 2026-07-28 on, a client never writes responses
	}
	e := c.requestFor(s, from, p.ID)
	if e == nil {
		c.counts.UnmatchedResponses++
		s.noteVersion(p.ProtocolVersion) // an InitializeResult whose request the capture missed
		if s.era == "" && p.ResultType != "" {
			s.era = record.EraModern
		}
		return
	}

	c.counts.Matched++
	rec.Method, rec.MethodKind = e.method, e.kind
	rec.Tool, rec.Resource, rec.Prompt = e.tool, e.resource, e.prompt
	ms := float64(t.Sub(e.origin)) / float64(time.Millisecond)
	if ms < 0 { // timestamps from different CPUs can disagree by a hair
		ms = 0
	}
	rec.LatencyMs = &ms
	if e.cancelled {
		rec.Late = true
		c.counts.Late++
	}
	if requester := s.roleOf(e.side); requester != roleUnknown {
		s.learnRole(from, requester.peer())
		rec.Direction = requester.peer().direction()
	}

	switch e.method {
	case "initialize":
		if p.Error == nil {
			s.noteVersion(p.ProtocolVersion)
			s.era, s.eraProbe = record.EraLegacy, false
		}
	case "server/discover":
		switch {
		case p.Error != nil && s.eraProbe: // a legacy server; the client falls back to initialize
			s.era, s.eraProbe = "", false
		case p.Error == nil && (s.era == "" || s.eraProbe):
			s.era, s.eraProbe = record.EraModern, false
		}
	default:
		if s.era == "" && p.ResultType != "" {
			s.era = record.EraModern
		}
	}

	if p.InputRequired && p.Error == nil {
		c.awaitRetry(e, p)
	} else {
		c.drop(e)
	}
}

// requestFor finds the open request a response written by from answers: one issued by another side of the session.
func (c *Correlator) requestFor(s *session, from *side, id json.RawMessage) *entry {
	var ok bool
	if c.scratch, ok = appendIDKey(c.scratch[:0], id); !ok {
		return nil
	}
	for _, sd := range s.sides {
		if sd != from {
			if e := sd.pending[string(c.scratch)]; e != nil {
				return e
			}
		}
	}
	return nil
}

// cancelTarget finds the request a notifications/cancelled from from names: one from issued itself, or else the
// other side's subscriptions/listen, which a 2026-07-28 server on stdio ends this way (the only cancellation a
// server may send for a request it did not issue).
func (c *Correlator) cancelTarget(s *session, from *side, id json.RawMessage) *entry {
	var ok bool
	if c.scratch, ok = appendIDKey(c.scratch[:0], id); !ok {
		return nil
	}
	if e := from.pending[string(c.scratch)]; e != nil {
		return e
	}
	for _, sd := range s.sides {
		if sd != from {
			if e := sd.pending[string(c.scratch)]; e != nil && e.method == "subscriptions/listen" {
				return e
			}
		}
	}
	return nil
}

// progressTarget finds the open request, issued by another side, whose progress token a notifications/progress
// carries.
func (c *Correlator) progressTarget(s *session, from *side, token json.RawMessage) *entry {
	var ok bool
	if c.scratch, ok = appendIDKey(c.scratch[:0], token); !ok {
		return nil
	}
	for _, sd := range s.sides {
		if sd != from {
			if e := sd.progress[string(c.scratch)]; e != nil {
				return e
			}
		}
	}
	return nil
}

// appendChainKey appends the key under which MRTR operations wait for their retry: the method and its name.
func appendChainKey(dst []byte, method, tool, resource, prompt string) []byte {
	dst = append(dst, method...)
	dst = append(dst, 0)
	dst = append(dst, tool...)
	dst = append(dst, 0)
	dst = append(dst, resource...)
	dst = append(dst, 0)
	return append(dst, prompt...)
}

// awaitRetry turns e, just answered with an input_required result, into an operation awaiting its retry.
func (c *Correlator) awaitRetry(e *entry, p *Parsed) {
	sd := e.side
	delete(sd.pending, e.key)
	if e.progressKey != "" && sd.progress[e.progressKey] == e {
		delete(sd.progress, e.progressKey)
	}
	e.progressKey = ""
	c.pending--

	e.awaitingRetry = true
	e.requestState = p.RequestState
	e.inputKeys = p.InputRequestKeys
	c.scratch = appendChainKey(c.scratch[:0], e.method, e.tool, e.resource, e.prompt)
	e.chainKey = string(c.scratch)
	if sd.chains == nil {
		sd.chains = make(map[string][]*entry)
	}
	sd.chains[e.chainKey] = append(sd.chains[e.chainKey], e)
	c.awaiting++
	// The operation is alive again: the client is gathering input.
	sd.session.open.moveToBack(e)
	c.open.moveToBack(e)
}

// matchRetry finds the operation a request from from retries: same method and name, then the exact requestState
// echoed, else inputResponses keys equal to the inputRequests keys. It refuses to guess between candidates.
func (c *Correlator) matchRetry(from *side, p *Parsed) *entry {
	if len(from.chains) == 0 {
		return nil
	}
	c.scratch = appendChainKey(c.scratch[:0], p.Method, p.Tool, p.Resource, p.Prompt)
	candidates := from.chains[string(c.scratch)]
	if len(candidates) == 0 {
		return nil
	}
	var match *entry
	n := 0
	if p.RequestState != "" {
		for _, e := range candidates {
			if e.requestState == p.RequestState {
				match, n = e, n+1
			}
		}
	}
	if n == 0 && p.HasInputResponses && len(p.InputResponseKeys) > 0 {
		for _, e := range candidates {
			// An operation that was given a different requestState is not this one.
			if (e.requestState == "" || p.RequestState == "") && slices.Equal(e.inputKeys, p.InputResponseKeys) {
				match, n = e, n+1
			}
		}
	}
	if n > 1 {
		c.counts.AmbiguousRetries++
		return nil
	}
	return match
}

// makeRoom evicts open requests until one more fits in session s and overall.
func (c *Correlator) makeRoom(s *session) {
	for s.open.len >= c.limits.MaxPendingPerSession {
		c.counts.Evicted++
		c.drop(s.open.head)
	}
	for c.open.len >= c.limits.MaxPending {
		c.counts.Evicted++
		c.drop(c.open.head)
	}
}

// drop forgets an open request.
func (c *Correlator) drop(e *entry) {
	sd := e.side
	if e.awaitingRetry {
		chain := sd.chains[e.chainKey]
		if i := slices.Index(chain, e); i >= 0 {
			chain = slices.Delete(chain, i, i+1)
		}
		if len(chain) == 0 {
			delete(sd.chains, e.chainKey)
		} else {
			sd.chains[e.chainKey] = chain
		}
		c.awaiting--
	} else {
		if sd.pending[e.key] == e {
			delete(sd.pending, e.key)
		}
		c.pending--
	}
	if e.progressKey != "" && sd.progress[e.progressKey] == e {
		delete(sd.progress, e.progressKey)
	}
	sd.session.open.remove(e)
	c.open.remove(e)
}

// CarryOver gives session to what from learned of the protocol: its version and era. Streamable HTTP needs it: the
// initialize exchange has no session id yet (the caller keys it by connection), and the messages after it are keyed
// by the Mcp-Session-Id its response announced.
func (c *Correlator) CarryOver(from, to string) {
	src := c.sessions[from]
	if src == nil || from == to {
		return
	}
	dst := c.session(to)
	if dst.version == "" {
		dst.version, dst.era, dst.eraProbe = src.version, src.era, src.eraProbe
	}
}

// EndSession drops a session's state when its conversation is over. Its open requests are counted as unanswered.
func (c *Correlator) EndSession(session string) {
	if s := c.sessions[session]; s != nil {
		c.dropSession(s, &c.counts.Unanswered)
	}
}

// dropSession forgets s, adding its open requests to *counter.
func (c *Correlator) dropSession(s *session, counter *uint64) {
	for s.open.head != nil {
		*counter++
		c.drop(s.open.head)
	}
	delete(c.sessions, s.key)
	c.lru.remove(s)
}

// appendIDKey appends the canonical form of a JSON-RPC id or progress token, under which they are compared: 's'
// and the decoded string, or 'n' and the number's canonical text. So 1 and "1" differ, while "a" and "\u0061"
// match, as do 1, 1.0 and 1e0. ok is false for anything else (absent, null, not a scalar).
func appendIDKey(dst []byte, raw []byte) ([]byte, bool) {
	if len(raw) == 0 {
		return dst, false
	}
	switch c := raw[0]; {
	case c == '"':
		if len(raw) < 2 || raw[len(raw)-1] != '"' {
			return dst, false
		}
		body := raw[1 : len(raw)-1]
		dst = append(dst, 's')
		if bytes.IndexByte(body, '\\') < 0 {
			return append(dst, body...), true
		}
		return appendUnescaped(dst, body), true
	case c == '-' || isDigit(c):
		return appendCanonicalNumber(append(dst, 'n'), raw), true
	}
	return dst, false
}

// appendCanonicalNumber appends a canonical text for a JSON number. Integers written plainly keep their text
// (ids beyond 2^53 stay exact); others are read as float64 and written back shortest, as an integer when they are
// one.
func appendCanonicalNumber(dst, raw []byte) []byte {
	if !bytes.ContainsAny(raw, ".eE") {
		if string(raw) == "-0" {
			return append(dst, '0')
		}
		return append(dst, raw...)
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil { // out of range: compare the text
		return append(dst, raw...)
	}
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return strconv.AppendInt(dst, int64(f), 10)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64)
}
