package mcp

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mcpscope/mcpscope/internal/record"
)

// The method table of the notes (mcp-protocol.md §6), transcribed independently of catalogue.go.
var specRequests = map[string]struct {
	dir  Direction
	revs []string
}{
	"initialize":               {ClientToServer, []string{"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"}},
	"ping":                     {EitherDirection, []string{"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"}},
	"server/discover":          {ClientToServer, []string{"2026-07-28"}},
	"tools/list":               {ClientToServer, Revisions()},
	"tools/call":               {ClientToServer, Revisions()},
	"resources/list":           {ClientToServer, Revisions()},
	"resources/templates/list": {ClientToServer, Revisions()},
	"resources/read":           {ClientToServer, Revisions()},
	"resources/subscribe":      {ClientToServer, []string{"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"}},
	"resources/unsubscribe":    {ClientToServer, []string{"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"}},
	"subscriptions/listen":     {ClientToServer, []string{"2026-07-28"}},
	"prompts/list":             {ClientToServer, Revisions()},
	"prompts/get":              {ClientToServer, Revisions()},
	"completion/complete":      {ClientToServer, Revisions()},
	"logging/setLevel":         {ClientToServer, []string{"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"}},
	"sampling/createMessage":   {ServerToClient, Revisions()},
	"roots/list":               {ServerToClient, Revisions()},
	"elicitation/create":       {ServerToClient, []string{"2025-06-18", "2025-11-25", "2026-07-28"}},
	"tasks/get":                {EitherDirection, []string{"2025-11-25", "2026-07-28"}},
	"tasks/cancel":             {EitherDirection, []string{"2025-11-25", "2026-07-28"}},
	"tasks/result":             {EitherDirection, []string{"2025-11-25"}},
	"tasks/list":               {EitherDirection, []string{"2025-11-25"}},
	"tasks/update":             {ClientToServer, []string{"2026-07-28"}},
}

var specNotifications = map[string]struct {
	dir  Direction
	revs []string
}{
	"notifications/initialized":                {ClientToServer, []string{"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"}},
	"notifications/cancelled":                  {EitherDirection, Revisions()},
	"notifications/progress":                   {EitherDirection, Revisions()},
	"notifications/message":                    {ServerToClient, Revisions()},
	"notifications/resources/list_changed":     {ServerToClient, Revisions()},
	"notifications/resources/updated":          {ServerToClient, Revisions()},
	"notifications/tools/list_changed":         {ServerToClient, Revisions()},
	"notifications/prompts/list_changed":       {ServerToClient, Revisions()},
	"notifications/roots/list_changed":         {ClientToServer, []string{"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"}},
	"notifications/elicitation/complete":       {ServerToClient, []string{"2025-11-25"}},
	"notifications/tasks/status":               {EitherDirection, []string{"2025-11-25"}},
	"notifications/subscriptions/acknowledged": {ServerToClient, []string{"2026-07-28"}},
	"notifications/tasks":                      {ServerToClient, []string{"2026-07-28"}},
}

func TestCatalogueMatchesSpec(t *testing.T) {
	if got, want := len(Methods()), len(specRequests)+len(specNotifications); got != want {
		t.Errorf("catalogue has %d methods, the spec table %d", got, want)
	}
	check := func(method, typ string, dir Direction, revs []string) {
		info := Lookup(method)
		if info.Method != method || info.Kind != KindProtocol || info.Type != typ || info.Direction != dir ||
			!slices.Equal(info.Revisions.Versions(), revs) {
			t.Errorf("Lookup(%q) = %+v (revisions %v), want %s %v %v", method, info, info.Revisions, typ, dir, revs)
		}
		for _, rev := range Revisions() {
			if info.Revisions.Has(rev) != slices.Contains(revs, rev) {
				t.Errorf("Lookup(%q).Revisions.Has(%s) is wrong", method, rev)
			}
		}
	}
	for method, m := range specRequests {
		check(method, record.TypeRequest, m.dir, m.revs)
	}
	for method, m := range specNotifications {
		check(method, record.TypeNotification, m.dir, m.revs)
	}
}

// Every method of the catalogue, sent on the wire, comes out labelled as a protocol method with its direction.
func TestEveryCatalogueMethodIsLabelled(t *testing.T) {
	for _, info := range Methods() {
		t.Run(info.Method, func(t *testing.T) {
			frame := fmt.Sprintf(`{"jsonrpc":"2.0","method":%q,"params":{}}`, info.Method)
			if info.Type == record.TypeRequest {
				frame = fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":%q,"params":{}}`, info.Method)
			}
			ps, err := Parse([]byte(frame))
			if err != nil {
				t.Fatal(err)
			}
			c := NewCorrelator(Limits{})
			var rec record.Message
			c.Annotate("s", 1, &ps[0], time.Unix(0, 0), &rec)
			if rec.Method != info.Method || rec.MethodKind != KindProtocol || rec.Type != info.Type {
				t.Errorf("got method %q kind %q type %q", rec.Method, rec.MethodKind, rec.Type)
			}
			wantDir := map[Direction]string{ClientToServer: record.ClientToServer, ServerToClient: record.ServerToClient}[info.Direction]
			if rec.Direction != wantDir {
				t.Errorf("direction %q, want %q", rec.Direction, wantDir)
			}
		})
	}
}

func TestLookupExtensionsAndUnknown(t *testing.T) {
	tests := []struct {
		method, kind string
	}{
		{"ui/initialize", KindExtension},
		{"ui/notifications/tool-input", KindExtension},
		{"skills/list", KindExtension},
		{"skills/get", KindExtension},
		{"resources/directory/read", KindExtension},
		{"resources/directory", KindUnknown},
		{"custom/echo", KindUnknown},
		{"", KindUnknown},
		{"tools/call2", KindUnknown},
	}
	for _, tt := range tests {
		if info := Lookup(tt.method); info.Kind != tt.kind || info.Method != tt.method || info.Revisions != 0 {
			t.Errorf("Lookup(%q) = %+v, want kind %q", tt.method, info, tt.kind)
		}
	}
}

func TestEraOf(t *testing.T) {
	for version, want := range map[string]string{
		"":           "",
		"2024-11-05": record.EraLegacy,
		"2025-11-25": record.EraLegacy,
		"2026-07-28": record.EraModern,
		"2027-01-01": record.EraModern,
	} {
		if got := EraOf(version); got != want {
			t.Errorf("EraOf(%q) = %q, want %q", version, got, want)
		}
	}
}

func TestRevisionSetAndDirectionStrings(t *testing.T) {
	info := Lookup("elicitation/create")
	if got, want := info.Revisions.String(), "2025-06-18,2025-11-25,2026-07-28"; got != want {
		t.Errorf("Revisions = %s, want %s", got, want)
	}
	if !info.Revisions.Has("draft") || Lookup("ping").Revisions.Has("draft") || info.Revisions.Has("1999-01-01") {
		t.Error(`"draft" must count as the latest revision, and unknown versions as none`)
	}
	for d, want := range map[Direction]string{
		ClientToServer: "client→server", ServerToClient: "server→client", EitherDirection: "both", 0: "unknown",
	} {
		if got := d.String(); got != want {
			t.Errorf("Direction(%d).String() = %q, want %q", d, got, want)
		}
	}
	revs := Revisions()
	revs[0] = "changed"
	if Revisions()[0] != "2024-11-05" {
		t.Error("Revisions hands out the catalogue's own slice")
	}
}
