package jsonl

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mcpscope/mcpscope/internal/record"
)

// docPath is docs/jsonl.md, relative to this package.
const docPath = "../../../docs/jsonl.md"

// docField is one field of the JSONL schema, as record.go declares it or as a docs/jsonl.md table lists it.
type docField struct {
	name    string // dotted JSON name: "from.pid"
	typ     string // first word of the Type column: string, integer, number, boolean, object, array, JSON
	always  bool   // no omitempty / the Present column says "always"
	comment string // where it was found
}

// schemaFields lists the JSON fields of t, recursing into struct-valued fields other than time.Time and into the
// elements of arrays of structs ("request_headers[].name").
func schemaFields(t *testing.T, typ reflect.Type, prefix string) []docField {
	t.Helper()
	var out []docField
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			t.Fatalf("%s.%s has no json name; give it one in record.go", typ.Name(), f.Name)
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		df := docField{name: prefix + name, always: !strings.Contains(opts, "omitempty"), comment: typ.Name() + "." + f.Name}
		switch {
		case ft == reflect.TypeFor[time.Time]():
			df.typ = "string"
		case ft == reflect.TypeFor[json.RawMessage]():
			df.typ = "JSON"
		case ft.Kind() == reflect.String:
			df.typ = "string"
		case ft.Kind() >= reflect.Int && ft.Kind() <= reflect.Uint64:
			df.typ = "integer"
		case ft.Kind() == reflect.Float32 || ft.Kind() == reflect.Float64:
			df.typ = "number"
		case ft.Kind() == reflect.Bool:
			df.typ = "boolean"
		case ft.Kind() == reflect.Map:
			df.typ = "object"
		case ft.Kind() == reflect.Struct:
			df.typ = "object"
		case ft.Kind() == reflect.Slice:
			df.typ = "array"
		default:
			t.Fatalf("%s: no JSON type for %s; teach schema_test.go", df.comment, ft)
		}
		out = append(out, df)
		if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[time.Time]() {
			out = append(out, schemaFields(t, ft, df.name+".")...)
		}
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
			out = append(out, schemaFields(t, ft.Elem(), df.name+"[].")...)
		}
	}
	return out
}

// docTable returns the rows of the first table after the heading "## "+section in doc.
func docTable(t *testing.T, doc, section string) []docField {
	t.Helper()
	_, rest, ok := strings.Cut(doc, "\n## "+section+"\n")
	if !ok {
		t.Fatalf("%s: no section %q", docPath, "## "+section)
	}
	if end := strings.Index(rest, "\n## "); end >= 0 {
		rest = rest[:end]
	}
	var out []docField
	sc := bufio.NewScanner(strings.NewReader(rest))
	inTable := false
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "|") {
			if inTable {
				break // the first table only
			}
			continue
		}
		inTable = true
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if len(cells) != 4 {
			t.Errorf("%s, %s: want 4 columns (Field, Type, Present, Meaning): %s", docPath, section, line)
			continue
		}
		if cells[0] == "Field" || strings.HasPrefix(cells[0], "---") {
			continue
		}
		name, ok := strings.CutPrefix(cells[0], "`")
		name, ok2 := strings.CutSuffix(name, "`")
		if !ok || !ok2 {
			t.Errorf("%s, %s: the Field cell must be one `name`: %s", docPath, section, line)
			continue
		}
		typ, _, _ := strings.Cut(cells[1], " ")
		out = append(out, docField{name: name, typ: typ, always: cells[2] == "always", comment: line})
	}
	return out
}

// TestSchemaDoc checks the field tables of docs/jsonl.md against record.go: the same fields, in the same order,
// with the same JSON type, and "always" exactly for the fields without omitempty.
func TestSchemaDoc(t *testing.T) {
	raw, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	if want := fmt.Sprintf("**Schema version: %d**", record.SchemaVersion); !strings.Contains(doc, want) {
		t.Errorf("%s does not say %s", docPath, want)
	}
	for _, tc := range []struct {
		section string
		typ     reflect.Type
	}{
		{"Message records", reflect.TypeFor[record.Message]()},
		{"HTTP records", reflect.TypeFor[record.HTTP]()},
		{"Stats records", reflect.TypeFor[record.Stats]()},
	} {
		code := schemaFields(t, tc.typ, "")
		documented := docTable(t, doc, tc.section)
		byName := map[string]docField{}
		for _, d := range documented {
			if _, dup := byName[d.name]; dup {
				t.Errorf("%s, %s: %q listed twice", docPath, tc.section, d.name)
			}
			byName[d.name] = d
		}
		inCode := map[string]bool{}
		for _, c := range code {
			inCode[c.name] = true
			d, ok := byName[c.name]
			if !ok {
				t.Errorf("%s, %s: no row for %q (%s)", docPath, tc.section, c.name, c.comment)
				continue
			}
			if d.typ != c.typ {
				t.Errorf("%s, %s: %q has type %q, record.go makes it %q", docPath, tc.section, c.name, d.typ, c.typ)
			}
			if d.always != c.always {
				t.Errorf("%s, %s: %q: Present is \"always\" = %v, but omitempty = %v in record.go", docPath, tc.section, c.name, d.always, !c.always)
			}
		}
		// The same order, among the fields both have.
		var codeOrder, docOrder []string
		for _, c := range code {
			if _, ok := byName[c.name]; ok {
				codeOrder = append(codeOrder, c.name)
			}
		}
		for _, d := range documented {
			if inCode[d.name] {
				docOrder = append(docOrder, d.name)
			}
		}
		for i := range codeOrder {
			if docOrder[i] != codeOrder[i] {
				t.Errorf("%s, %s: row for %q where %q should be: list fields in the order record.go (and the encoder) writes them", docPath, tc.section, docOrder[i], codeOrder[i])
				break
			}
		}
		for _, d := range documented {
			if !inCode[d.name] {
				t.Errorf("%s, %s: row for %q, which record.go does not have: %s", docPath, tc.section, d.name, d.comment)
			}
		}
	}
}

// TestSchemaDocExamples checks that every line of the ```json blocks of docs/jsonl.md decodes into a record with
// no unknown field and is exactly what the writer produces for that record.
func TestSchemaDocExamples(t *testing.T) {
	raw, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, block := range strings.Split(string(raw), "```json\n")[1:] {
		block, _, _ = strings.Cut(block, "```")
		for _, line := range strings.SplitAfter(block, "\n") {
			if line == "" {
				continue
			}
			n++
			var kind struct{ Kind string }
			if err := json.Unmarshal([]byte(line), &kind); err != nil {
				t.Errorf("example %d: %v: %s", n, err, line)
				continue
			}
			dec := json.NewDecoder(strings.NewReader(line))
			dec.DisallowUnknownFields()
			var got []byte
			switch kind.Kind {
			case record.KindMessage:
				var m record.Message
				if err = dec.Decode(&m); err == nil {
					got, err = AppendMessage(nil, &m)
				}
				if err == nil && !m.Truncated && m.Size != len(m.Message) {
					t.Errorf("example %d: size %d, but the message has %d bytes", n, m.Size, len(m.Message))
				}
			case record.KindHTTP:
				var h record.HTTP
				if err = dec.Decode(&h); err == nil {
					got, err = AppendHTTP(nil, &h)
				}
			case record.KindStats:
				var s record.Stats
				if err = dec.Decode(&s); err == nil {
					got, err = AppendStats(nil, &s)
				}
			default:
				err = fmt.Errorf("unknown kind %q", kind.Kind)
			}
			if err != nil {
				t.Errorf("example %d: %v: %s", n, err, line)
				continue
			}
			if !bytes.Equal(got, []byte(line)) {
				t.Errorf("example %d is not what the writer produces:\n doc %s\nwant %s", n, line, got)
			}
		}
	}
	if n < 12 {
		t.Errorf("%s: found %d example lines, want the 12 examples", docPath, n)
	}
}
