package elfsym

import (
	"bytes"
	"debug/elf"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestFuncs compares Funcs with debug/elf's whole reading of the symbol table of a Go program (built by the test,
// with its symbols: a test binary has none), for every function in it, and checks that names it does not define, or
// defines as something other than a function, are not found.
func TestFuncs(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "prog")
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() { println(\"hi\") }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module prog\n\ngo 1.22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", path, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatalf("the test binary's symbols: %v", err)
	}
	want := map[string]Func{}
	var wanted []string
	var data string
	for _, s := range syms {
		switch {
		case elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Section != elf.SHN_UNDEF:
			if _, dup := want[s.Name]; !dup && s.Name != "" {
				want[s.Name] = Func{Value: s.Value, Size: s.Size}
				wanted = append(wanted, s.Name)
			}
		case elf.ST_TYPE(s.Info) == elf.STT_OBJECT && data == "":
			data = s.Name
		}
	}
	if len(wanted) < 500 || data == "" {
		t.Fatalf("the test binary has %d functions and data symbol %q: not a fair test", len(wanted), data)
	}
	// In chunks: the names looked for at once are few in use, and nameOffsets bounds its hits.
	got := map[string]Func{}
	for i := 0; i < len(wanted); i += 200 {
		maps.Copy(got, Funcs(f, wanted[i:min(i+200, len(wanted))]))
	}
	if !maps.Equal(got, want) {
		missing := 0
		for name, fn := range want {
			if got[name] != fn {
				if missing++; missing <= 5 {
					t.Errorf("%s: got %+v, want %+v", name, got[name], fn)
				}
			}
		}
		t.Fatalf("%d of %d functions differ from debug/elf's reading", missing, len(want))
	}
	if got := Funcs(f, []string{"no such function", data}); len(got) != 0 {
		t.Errorf("Funcs found %v: neither is a function", got)
	}
}

// TestNameOffsets checks the string-table scan on what a real file may hold at the edges: a name across the end of
// one read, a name that is the tail of a longer string, a name that only starts another, and a crafted table that
// repeats a name past the bound.
func TestNameOffsets(t *testing.T) {
	table := bytes.Repeat([]byte{'x'}, 64<<10-4) // "SSL_write" then crosses the end of the first 64 KiB read
	table = append(table, 0)
	at := func(s string) uint32 { return uint32(bytes.Index(table, []byte(s))) }
	table = append(table, "SSL_write\x00BIO_SSL_read\x00SSL_read_ex_not\x00\x00"...)
	got, err := nameOffsets(bytes.NewReader(table), []string{"SSL_write", "SSL_read", "SSL_read_ex", ""})
	want := map[uint32]string{at("SSL_write"): "SSL_write", at("BIO_SSL_read") + 4: "SSL_read"}
	if err != nil || !maps.Equal(got, want) {
		t.Errorf("nameOffsets = %v, %v; want %v", got, err, want)
	}
	if got, err := nameOffsets(bytes.NewReader(bytes.Repeat([]byte("f\x00"), maxNameHits+1)), []string{"f"}); err == nil {
		t.Errorf("a table repeating a name %d times: %d offsets, no error", maxNameHits+1, len(got))
	}
	if got, err := nameOffsets(bytes.NewReader(bytes.Repeat([]byte("f\x00"), maxNameHits)), []string{"f"}); err != nil || len(got) != maxNameHits {
		t.Errorf("a table repeating a name %d times: %d offsets, %v", maxNameHits, len(got), err)
	}
}
