package jsonl

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
)

var validSeeds = []string{
	``, ` `, `0`, `-0`, `01`, `-`, `1.`, `.5`, `1.5e`, `1e+`, `1E-07`, `-12.5e+3`, `1x`, `1 2`, `true`, `tru`, `truex`,
	`false`, `null`, `nul`, `""`, `"a`, `"\"`, `"\u00e9"`, `"\u00g9"`, `"\ud800"`, `"\x"`, `"` + "\x01" + `"`,
	`"` + "\xff\xfe" + `"`, `"` + "\x7f" + `"`, `{}`, `{ }`, `[]`, `[ ]`, `[1,]`, `[,1]`, `{"a":1,}`, `{"a"}`,
	`{"a":}`, `{1:2}`, `{"a":1 "b":2}`, `[1 2]`, `[}`, `{]`, `[[[]]]`, `[[[]]`, "\t{\"a\" :\r\n[1, {\"b\":null}]}\n",
	`{"jsonrpc": "2.0", "id": 3, "result": {"content": [{"type": "text", "text": "a<b"}]}}`, `}`, `]`, `,`, `:`,
	`"a":1`, `{"a":1}}`, `[1]]`, "\u00a0 1", `{"a":[1,{"b":[true,false,null,"x\\\"y"]}]}`,
}

func TestValid(t *testing.T) {
	for _, s := range validSeeds {
		if got, want := valid([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Errorf("valid(%q) = %v, json.Valid = %v", s, got, want)
		}
	}
	for _, depth := range []int{maxDepth - 1, maxDepth, maxDepth + 1} {
		for _, open := range []string{"[", `{"a":`} {
			close := map[string]string{"[": "]", `{"a":`: "}"}[open]
			s := []byte(strings.Repeat(open, depth) + "1" + strings.Repeat(close, depth))
			if got, want := valid(s), json.Valid(s); got != want {
				t.Errorf("depth %d %s: valid = %v, json.Valid = %v", depth, open, got, want)
			}
		}
	}
}

func FuzzValid(f *testing.F) {
	for _, s := range validSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := valid(b), json.Valid(b); got != want {
			t.Fatalf("valid(%q) = %v, json.Valid = %v", b, got, want)
		}
	})
}

func BenchmarkValid(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString(`{"jsonrpc":"2.0","id":3,"result":{"content":[`)
	for buf.Len() < 16<<20 {
		buf.WriteString(`{"type":"text","text":"hello world \u00e9 <tag> & lorem ipsum dolor sit amet","n":[1,2.5,-3e4,true,null]},`)
	}
	buf.WriteString(`{}]}}`)
	structured := buf.Bytes()
	// A tools/call result carrying an image: one long base64 string.
	image := []byte(`{"result":{"content":[{"type":"image","mimeType":"image/png","data":"` +
		strings.Repeat("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg", 16<<20/100) +
		`"}]},"jsonrpc":"2.0","id":3}`)
	for _, in := range []struct {
		name string
		p    []byte
	}{{"structured", structured}, {"string", image}} {
		b.Run(in.name+"/valid", func(b *testing.B) {
			b.SetBytes(int64(len(in.p)))
			for b.Loop() {
				if !valid(in.p) {
					b.Fatal("invalid")
				}
			}
		})
		b.Run(in.name+"/json.Valid", func(b *testing.B) {
			b.SetBytes(int64(len(in.p)))
			for b.Loop() {
				if !json.Valid(in.p) {
					b.Fatal("invalid")
				}
			}
		})
	}
}

func TestHasSpecial(t *testing.T) {
	special := func(c byte) bool { return c < 0x20 || c == '"' || c == '\\' }
	check := func(w [8]byte) {
		want := false
		for _, c := range w {
			want = want || special(c)
		}
		x := uint64(0)
		for i := 7; i >= 0; i-- {
			x = x<<8 | uint64(w[i])
		}
		if got := hasSpecial(x); got != want {
			t.Fatalf("hasSpecial(% x) = %v, want %v", w, got, want)
		}
	}
	// Every byte value in every position, among neighbours that are borderline but not special.
	for _, fill := range []byte{0x20, 0x21, 0x5b, 0x5d, 0x7f, 0x80, 0xff} {
		for pos := range 8 {
			for c := range 256 {
				var w [8]byte
				for i := range w {
					w[i] = fill
				}
				w[pos] = byte(c)
				check(w)
			}
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 100000 {
		var w [8]byte
		for i := range w {
			w[i] = byte(0x18 + r.IntN(0x70)) // around 0x20, '"' and '\\'
		}
		check(w)
	}
}
