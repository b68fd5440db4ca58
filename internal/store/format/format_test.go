package format

import (
	"bytes"
	"strings"
	"testing"

	"github.com/mcpscope/mcpscope/internal/store"
)

func TestEscape(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"plain", -1, "plain"},
		{"a\x1b[2Jb", -1, `a\x1b[2Jb`},
		{"line\nbreak\ttab", -1, `line\x0abreak\x09tab`},
		{"bidi\u202eevil", -1, `bidi\u202eevil`},
		{"c1\u009bx", -1, `c1\u009bx`},
		{"bad\xffutf8", -1, `bad\xffutf8`},
		{"héllo wörld", -1, "héllo wörld"},
		{"abcdef", 6, "abcdef"},
		{"abcdefg", 6, "abcde…"},
		{"ab\x1bcdef", 6, "ab…"},
		{"", 3, ""},
	} {
		if got := Escape(tc.in, tc.max); got != tc.want {
			t.Errorf("Escape(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

func TestWriteCutsLongCells(t *testing.T) {
	res := &store.Result{Columns: []string{"n", "message"}, Rows: [][]any{{int64(1), strings.Repeat("x", 1000)}, {2.5, []byte{0xff, 0}}}}
	var b bytes.Buffer
	if err := Write(&b, res, Table); err != nil {
		t.Fatal(err)
	}
	want := "  n  message\n---  " + strings.Repeat("-", MaxCell) + "\n  1  " + strings.Repeat("x", MaxCell-1) + "…\n2.5  /wA=\n(2 rows)\n"
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	if err := Write(&b, res, CSV); err != nil || b.String() != "n,message\n1,"+strings.Repeat("x", 1000)+"\n2.5,/wA=\n" {
		t.Errorf("csv: %v %q", err, b.String())
	}
	if err := Write(&b, res, "xml"); err == nil {
		t.Error("unknown format accepted")
	}
}
