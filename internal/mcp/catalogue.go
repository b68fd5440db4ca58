package mcp

import (
	"slices"
	"strings"

	"github.com/mcpscope/mcpscope/internal/record"
)

// Method kinds, spelled as record.Message.MethodKind spells them.
const (
	KindProtocol  = ""          // a method of some revision of the protocol
	KindExtension = "extension" // a known extension family: ui/*, skills/*, resources/directory/read
	KindUnknown   = "unknown"   // anything else; still reported, never dropped
)

// FirstModernVersion is the first revision of the modern (stateless) era. Versions are ISO dates and compare as
// strings, as both Go SDKs compare them.
const FirstModernVersion = "2026-07-28"

// EraOf returns record.EraModern for versions from FirstModernVersion on, record.EraLegacy for earlier ones, and
// "" for an empty version.
func EraOf(version string) string {
	switch {
	case version == "":
		return ""
	case version >= FirstModernVersion:
		return record.EraModern
	}
	return record.EraLegacy
}

// Direction says which way a method travels.
type Direction uint8

const (
	// ClientToServer marks what the client sends.
	ClientToServer Direction = 1 << iota
	// ServerToClient marks what the server sends.
	ServerToClient
	// EitherDirection marks what either side sends (ping, cancellation, progress, ...).
	EitherDirection = ClientToServer | ServerToClient
)

func (d Direction) String() string {
	switch d {
	case ClientToServer:
		return "client→server"
	case ServerToClient:
		return "server→client"
	case EitherDirection:
		return "both"
	}
	return "unknown"
}

// RevisionSet is a set of protocol revisions.
type RevisionSet uint8

const (
	rev20241105 RevisionSet = 1 << iota
	rev20250326
	rev20250618
	rev20251125
	rev20260728

	revLegacy = rev20241105 | rev20250326 | rev20250618 | rev20251125
	revAll    = revLegacy | rev20260728
)

// revisionNames names the bits of RevisionSet in order. The draft revision has the same method set as the latest.
var revisionNames = [...]string{"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"}

// Revisions returns the protocol revisions the catalogue knows, oldest first.
func Revisions() []string { return slices.Clone(revisionNames[:]) }

// Has reports whether version is in the set; "draft" counts as the latest revision.
func (r RevisionSet) Has(version string) bool {
	if version == "draft" {
		version = revisionNames[len(revisionNames)-1]
	}
	for i, name := range revisionNames {
		if name == version {
			return r&(1<<i) != 0
		}
	}
	return false
}

// Versions lists the revisions in the set, oldest first.
func (r RevisionSet) Versions() []string {
	var out []string
	for i, name := range revisionNames {
		if r&(1<<i) != 0 {
			out = append(out, name)
		}
	}
	return out
}

func (r RevisionSet) String() string { return strings.Join(r.Versions(), ",") }

// MethodInfo is what the catalogue knows about a method.
type MethodInfo struct {
	Method    string
	Kind      string      // KindProtocol, KindExtension or KindUnknown
	Type      string      // record.TypeRequest or record.TypeNotification; "" when not known
	Direction Direction   // who sends it; 0 when not known
	Revisions RevisionSet // the revisions that define it; empty for extensions and unknown methods
}

// Lookup returns what the catalogue knows about a method. Methods of no revision are KindExtension when they
// belong to a known extension family, else KindUnknown.
func Lookup(method string) MethodInfo {
	if info, ok := catalogue[method]; ok {
		return info
	}
	for _, ext := range extensions {
		if method == ext.Method || ext.prefix && strings.HasPrefix(method, ext.Method) {
			info := ext.MethodInfo
			info.Method = method
			return info
		}
	}
	return MethodInfo{Method: method, Kind: KindUnknown}
}

// Methods returns the catalogue of protocol methods, sorted by name.
func Methods() []MethodInfo {
	out := make([]MethodInfo, 0, len(catalogue))
	for _, info := range catalogue {
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b MethodInfo) int { return strings.Compare(a.Method, b.Method) })
	return out
}

// catalogue lists every method of every revision (mcp-protocol notes §6, from the specification's schema.ts files).
// It is read-only after initialisation.
//
// The tasks methods are core (experimental) in 2025-11-25 and part of the official io.modelcontextprotocol/tasks
// extension in 2026-07-28; both are listed as protocol methods. In 2026-07-28 roots/list, sampling/createMessage
// and elicitation/create travel only inside inputRequests, but the revision still defines them.
var catalogue = func() map[string]MethodInfo {
	m := make(map[string]MethodInfo)
	add := func(typ string, dir Direction, revs RevisionSet, methods ...string) {
		for _, method := range methods {
			m[method] = MethodInfo{Method: method, Kind: KindProtocol, Type: typ, Direction: dir, Revisions: revs}
		}
	}
	const req, note = record.TypeRequest, record.TypeNotification
	add(req, ClientToServer, revLegacy, "initialize", "resources/subscribe", "resources/unsubscribe", "logging/setLevel")
	add(req, EitherDirection, revLegacy, "ping")
	add(req, ClientToServer, rev20260728, "server/discover", "subscriptions/listen", "tasks/update")
	add(req, ClientToServer, revAll, "tools/list", "tools/call", "resources/list", "resources/templates/list",
		"resources/read", "prompts/list", "prompts/get", "completion/complete")
	add(req, ServerToClient, revAll, "sampling/createMessage", "roots/list")
	add(req, ServerToClient, rev20250618|rev20251125|rev20260728, "elicitation/create")
	add(req, EitherDirection, rev20251125|rev20260728, "tasks/get", "tasks/cancel")
	add(req, EitherDirection, rev20251125, "tasks/result", "tasks/list")

	add(note, ClientToServer, revLegacy, "notifications/initialized", "notifications/roots/list_changed")
	add(note, EitherDirection, revAll, "notifications/cancelled", "notifications/progress")
	add(note, ServerToClient, revAll, "notifications/message", "notifications/resources/list_changed",
		"notifications/resources/updated", "notifications/tools/list_changed", "notifications/prompts/list_changed")
	add(note, ServerToClient, rev20251125, "notifications/elicitation/complete")
	add(note, EitherDirection, rev20251125, "notifications/tasks/status")
	add(note, ServerToClient, rev20260728, "notifications/subscriptions/acknowledged", "notifications/tasks")
	return m
}()

// extensions lists the method families seen in the wild that no revision defines.
var extensions = [...]struct {
	MethodInfo
	prefix bool // Method is a prefix (ui/) rather than a whole name
}{
	// MCP Apps, between a host and its iframe.
	{MethodInfo{Method: "ui/", Kind: KindExtension}, true},
	// SEP-2640 skills, sent by Inspector 2.x.
	{MethodInfo{Method: "skills/", Kind: KindExtension, Type: record.TypeRequest, Direction: ClientToServer}, true},
	// Inspector 2.x (mcpdo).
	{MethodInfo{
		Method: "resources/directory/read", Kind: KindExtension, Type: record.TypeRequest, Direction: ClientToServer,
	}, false},
}
