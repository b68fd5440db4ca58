package gobin

import (
	"bytes"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/mcpscope/mcpscope/internal/testutil"
)

// A program that links crypto/tls, built twice by the test: with symbols and stripped.
const tlsProgram = `package main

import (
	"crypto/tls"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) > 1 { // never run: it keeps (*tls.Conn).Read and Write in the program
		c := tls.Client(nil, nil)
		b := make([]byte, 1)
		c.Write(b)
		c.Read(b)
	}
	fmt.Println(tls.VersionName(tls.VersionTLS13))
}
`

func buildProgram(t *testing.T, goarch string, ldflags string) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go toolchain")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(tlsProgram), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module tlsprog\n\ngo 1.22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "prog")
	cmd := exec.Command("go", "build", "-o", out, "-ldflags="+ldflags, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOARCH="+goarch, "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

// TestStrippedMatchesSymbols finds crypto/tls's Read and Write in a stripped build (from .gopclntab) at the same
// place, with the same returns, as in the build with symbols, on both architectures.
func TestStrippedMatchesSymbols(t *testing.T) {
	for _, arch := range []string{"amd64", "arm64"} {
		t.Run(arch, func(t *testing.T) {
			full := buildProgram(t, arch, "")
			stripped := buildProgram(t, arch, "-s -w")
			for _, name := range []string{"crypto/tls.(*Conn).Write", "crypto/tls.(*Conn).Read"} {
				a := mustFunc(t, full, name)
				b := mustFunc(t, stripped, name)
				if len(a.Returns) == 0 || !slices.Equal(a.Returns, b.Returns) {
					t.Errorf("%s: returns %v with symbols, %v stripped", name, a.Returns, b.Returns)
				}
				// -s -w changes the file layout, so the offsets and the PC-relative displacements differ; the
				// function's length and its prologue (the stack check against g) must not.
				ca, cb := code(t, full, a), code(t, stripped, b)
				if len(ca) != len(cb) || !slices.Equal(ca[:8], cb[:8]) {
					t.Errorf("%s: the stripped build's function differs from the one with symbols:\n% x\n% x", name, ca[:8], cb[:8])
				}
			}
		})
	}
}

// TestFuncsMatchesFunc: Funcs finds what Func finds, name by name, with and without symbols, and leaves out a
// function the program does not have.
func TestFuncsMatchesFunc(t *testing.T) {
	names := []string{"crypto/tls.(*Conn).Write", "crypto/tls.(*Conn).Read", "main.noSuchFunction"}
	for _, ldflags := range []string{"", "-s -w"} {
		path := buildProgram(t, runtime.GOARCH, ldflags)
		b, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := b.Funcs(names...)
		b.Close()
		if err != nil {
			t.Fatalf("ldflags %q: Funcs: %v", ldflags, err)
		}
		if len(got) != 2 {
			t.Errorf("ldflags %q: Funcs found %d functions, want the two of crypto/tls", ldflags, len(got))
		}
		for _, name := range names[:2] {
			if want := mustFunc(t, path, name); !reflect.DeepEqual(got[name], want) {
				t.Errorf("ldflags %q: Funcs gives %s as %+v, Func as %+v", ldflags, name, got[name], want)
			}
		}
	}
}

func mustFunc(t *testing.T, path, name string) Func {
	t.Helper()
	b, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.RegisterABI(); err != nil {
		t.Fatal(err)
	}
	f, err := b.Func(name)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// code reads the function's bytes up to its last return, from the file at the offsets Func gave.
func code(t *testing.T, path string, f Func) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	last := f.Returns[len(f.Returns)-1]
	return data[f.Offset : f.Offset+last+1]
}

// TestReturnInstructionsAreRets checks every offset Returns gives holds a return instruction in the file itself.
func TestReturnInstructionsAreRets(t *testing.T) {
	path := buildProgram(t, runtime.GOARCH, "-s -w")
	f := mustFunc(t, path, "crypto/tls.(*Conn).Write")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range f.Returns {
		at := data[f.Offset+r:]
		switch runtime.GOARCH {
		case "amd64":
			if at[0] != 0xc3 {
				t.Errorf("offset %#x: byte %#x, want RET (0xc3)", r, at[0])
			}
		case "arm64":
			if uint32(at[0])|uint32(at[1])<<8|uint32(at[2])<<16|uint32(at[3])<<24 != arm64Ret {
				t.Errorf("offset %#x: not RET", r)
			}
		}
	}
}

func TestNotGo(t *testing.T) {
	if _, err := Open("/bin/sh"); !errors.Is(err, ErrNotGo) {
		t.Fatalf("Open(/bin/sh): %v, want ErrNotGo", err)
	}
	path := buildProgram(t, runtime.GOARCH, "")
	b, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Func("crypto/tls.(*Conn).NoSuchMethod"); !errors.Is(err, ErrNoFunc) {
		t.Fatalf("missing function: %v, want ErrNoFunc", err)
	}
}

func TestReturnsRefusesUndecodable(t *testing.T) {
	// 0x06 (PUSH ES) does not exist in 64-bit mode; a REX prefix with nothing after it is cut short.
	for _, code := range [][]byte{{0xc3, 0x06}, {0xc3, 0x48}} {
		if _, err := returns(elfX86(), code); err == nil {
			t.Errorf("undecodable code % x: no error", code)
		}
	}
	rets, err := returns(elfX86(), []byte{0x48, 0x89, 0xc3, 0xc3}) // MOV RBX, RAX; RET
	if err != nil || !slices.Equal(rets, []uint64{3}) {
		t.Fatalf("returns = %v, %v; want [3] (the 0xc3 inside MOV is not a RET)", rets, err)
	}
}

func elfX86() elf.Machine { return elf.EM_X86_64 }

// FuzzFuncs reads damaged executables: reading one may fail, never panic. Seeds in testdata/fuzz/FuzzFuncs:
// goish-elf, 1 KB, which gcc made from two C functions named as Go names crypto/tls's Write and Read (an asm label),
// with a .gopclntab section of junk added by objcopy so that Open takes the file for Go
// (gcc -O1 -c -fno-asynchronous-unwind-tables; objcopy --add-section .gopclntab=junk; gcc -nostdlib -static
// -Wl,-e,0 -Wl,-z,max-page-size=16 -Wl,-z,noseparate-code); goish-elf-stripped, the same through strip, whose
// functions can only come from the junk .gopclntab; and damaged files the fuzzer kept.
func FuzzFuncs(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := read(bytes.NewReader(data), "fuzz")
		if err != nil {
			return
		}
		defer b.Close()
		_ = b.RegisterABI()
		fns, err := b.Funcs(tlsWrite, tlsRead)
		if err != nil {
			return
		}
		for name, fn := range fns {
			if len(fn.Returns) == 0 {
				t.Errorf("%s: found without a return", name)
			}
		}
	})
}

const (
	tlsWrite = "crypto/tls.(*Conn).Write"
	tlsRead  = "crypto/tls.(*Conn).Read"
)

// TestFuncsOfSeed reads FuzzFuncs's seeds (see there) as Open would: both functions of goish-elf are found by their
// symbols, with their one return each; in its stripped twin, whose .gopclntab holds no function, neither is.
func TestFuncsOfSeed(t *testing.T) {
	b, err := read(bytes.NewReader(testutil.FuzzSeed(t, "FuzzFuncs", "goish-elf")), "goish-elf")
	if err != nil {
		t.Fatal(err)
	}
	fns, err := b.Funcs(tlsWrite, tlsRead)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Func{
		tlsWrite: {Name: tlsWrite, Offset: 0xb0, Returns: []uint64{0x12}},
		tlsRead:  {Name: tlsRead, Offset: 0xc3, Returns: []uint64{3}},
	}
	if !reflect.DeepEqual(fns, want) {
		t.Errorf("Funcs = %+v, want %+v", fns, want)
	}
	b, err = read(bytes.NewReader(testutil.FuzzSeed(t, "FuzzFuncs", "goish-elf-stripped")), "goish-elf-stripped")
	if err != nil {
		t.Fatal(err)
	}
	if fns, err := b.Funcs(tlsWrite, tlsRead); err != nil || len(fns) != 0 {
		t.Errorf("stripped: Funcs = %+v, %v; want none found", fns, err)
	}
	if _, err := b.Func(tlsWrite); !errors.Is(err, ErrNoFunc) {
		t.Errorf("stripped: Func = %v, want ErrNoFunc", err)
	}
}

// TestFuncTooLarge: a function whose symbol claims more code than maxFuncSize, inside a segment that claims as much,
// is refused before its code is read (goish-elf, FuzzFuncs's seed, patched: Write's size and the code segment's).
func TestFuncTooLarge(t *testing.T) {
	data := testutil.FuzzSeed(t, "FuzzFuncs", "goish-elf")
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	symtab := f.SectionByType(elf.SHT_SYMTAB)
	syms, err := f.Symbols()
	if err != nil || symtab == nil {
		t.Fatalf("symbols: %v", err)
	}
	huge := uint64(2 * maxFuncSize)
	for i, s := range syms {
		if s.Name == tlsWrite {
			// Symbols() leaves out the null symbol at index 0; a 64-bit entry's size is at byte 16.
			f.ByteOrder.PutUint64(data[symtab.Offset+uint64(i+1)*elf.Sym64Size+16:], huge)
		}
	}
	for i, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 {
			// A 64-bit program header is 56 bytes; p_filesz at 32, p_memsz at 40.
			off := f.ByteOrder.Uint64(data[32:40]) + uint64(i)*56 // e_phoff at 32
			f.ByteOrder.PutUint64(data[off+32:], 2*huge)
			f.ByteOrder.PutUint64(data[off+40:], 2*huge)
		}
	}
	b, err := read(bytes.NewReader(data), "patched")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Func(tlsWrite); err == nil || !strings.Contains(err.Error(), "claims") {
		t.Errorf("Func = %v, want the claimed size refused", err)
	}
	if fn, err := b.Func(tlsRead); err != nil || len(fn.Returns) != 1 {
		t.Errorf("Read, not patched: %+v, %v", fn, err)
	}
}

// TestMalformedRecovers: a panic under malformed becomes an error naming the file.
func TestMalformedRecovers(t *testing.T) {
	err := func() (err error) {
		defer malformed("some/exe", &err)
		var tab []int
		_ = tab[3] // what a bad index in a debug/* reader does
		return nil
	}()
	if err == nil || !strings.Contains(err.Error(), "some/exe: malformed executable") {
		t.Errorf("err = %v", err)
	}
}
