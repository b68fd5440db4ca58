// Package gobin finds functions in Go executables, stripped ones included, for uprobes: where a function's code is in
// the file and where it returns. Go's register ABI and movable goroutine stacks rule out uretprobes (the kernel would
// rewrite a return address on a stack the runtime may copy), so a function's exit is probed at each of its return
// instructions instead.
//
// Symbols come from the ELF symbol table when there is one, and otherwise from .gopclntab, which every Go executable
// keeps (the runtime needs it for stack traces), so `go build -ldflags=-s -w` does not hide them.
package gobin

import (
	"debug/buildinfo"
	"debug/elf"
	"debug/gosym"
	"errors"
	"fmt"
	"go/version"
	"io"
	"os"

	"golang.org/x/arch/x86/x86asm"

	"github.com/mcpscope/mcpscope/internal/elfsym"
)

// ErrNotGo is returned by Open for a file that is not a Go executable.
var ErrNotGo = errors.New("not a Go executable")

// ErrNoFunc is returned by Func for a function the executable does not contain.
var ErrNoFunc = errors.New("function not found")

// maxFuncSize bounds the machine code read for one function. The largest function of a Go program is some tens of
// KiB; a damaged file can claim terabytes.
const maxFuncSize = 4 << 20

// Binary is an open Go executable.
type Binary struct {
	path      string
	file      io.Closer // nil when made from a reader
	elf       *elf.File
	GoVersion string       // the toolchain that built it, as "go1.26.8"
	pcln      *gosym.Table // loaded on first use when the symbol table lacks a function
	pclnErr   error
}

// Func is one function of a Binary.
type Func struct {
	Name string
	// Offset is the file offset of the function's entry: what a uprobe is attached at.
	Offset uint64
	// Returns are the offsets, from the entry, of the function's return instructions.
	Returns []uint64
}

// Open opens the Go executable at path.
func Open(path string) (*Binary, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	b, err := read(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	b.file = f
	return b, nil
}

// read reads the Go executable in r, called path in errors.
func read(r io.ReaderAt, path string) (b *Binary, err error) {
	defer malformed(path, &err)
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if f.Section(".gopclntab") == nil && f.Section(".go.buildinfo") == nil {
		return nil, fmt.Errorf("%s: %w", path, ErrNotGo)
	}
	b = &Binary{path: path, elf: f}
	if bi, err := buildinfo.Read(r); err == nil {
		b.GoVersion = bi.GoVersion
	}
	return b, nil
}

// malformed turns a panic while reading the executable at path into an error. The executables read here are those
// of any process on the host, and debug/elf, debug/gosym and debug/buildinfo are not hardened against damaged or
// hostile files (debug/elf says so): a bad index or a huge allocation there panics.
func malformed(path string, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%s: malformed executable: %v", path, r)
	}
}

// Close closes the file.
func (b *Binary) Close() error {
	if b.file == nil {
		return nil
	}
	return b.file.Close()
}

// Arch is the executable's architecture, in GOARCH spelling.
func (b *Binary) Arch() string {
	switch b.elf.Machine {
	case elf.EM_X86_64:
		return "amd64"
	case elf.EM_AARCH64:
		return "arm64"
	}
	return b.elf.Machine.String()
}

// RegisterABI reports whether functions of the executable take their arguments in registers (Go's ABIInternal: Go
// 1.17 on amd64, 1.18 on arm64), and if not, why.
func (b *Binary) RegisterABI() error {
	min := map[string]string{"amd64": "go1.17", "arm64": "go1.18"}[b.Arch()]
	if min == "" {
		return fmt.Errorf("%s: architecture %s is not supported", b.path, b.Arch())
	}
	if b.GoVersion == "" {
		return fmt.Errorf("%s: no Go build information: the Go version is unknown", b.path)
	}
	if version.Compare(version.Lang(b.GoVersion), version.Lang(min)) < 0 {
		return fmt.Errorf("%s: built by %s, before the register ABI (%s on %s)", b.path, b.GoVersion, min, b.Arch())
	}
	return nil
}

// Func finds the function name ("crypto/tls.(*Conn).Write"), its entry and its return instructions.
func (b *Binary) Func(name string) (fn Func, err error) {
	defer malformed(b.path, &err)
	return b.function(name, elfsym.Funcs(b.elf, []string{name}))
}

// Funcs finds several functions as Func does, with one pass over the symbol table for all of them. A function the
// executable does not have is left out; any other failure is an error.
func (b *Binary) Funcs(names ...string) (_ map[string]Func, err error) {
	defer malformed(b.path, &err)
	syms := elfsym.Funcs(b.elf, names)
	out := make(map[string]Func, len(names))
	for _, name := range names {
		fn, err := b.function(name, syms)
		if errors.Is(err, ErrNoFunc) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[name] = fn
	}
	return out, nil
}

// function is Func of name, given what the symbol table defines of the names looked for (syms).
func (b *Binary) function(name string, syms map[string]elfsym.Func) (Func, error) {
	entry, end, err := b.lookup(name, syms)
	if err != nil {
		return Func{}, err
	}
	text := b.textSegment(entry)
	if text == nil || end > text.Vaddr+text.Filesz || end <= entry {
		return Func{}, fmt.Errorf("%s: %s at %#x is outside the executable's code", b.path, name, entry)
	}
	if end-entry > maxFuncSize {
		return Func{}, fmt.Errorf("%s: %s claims %d bytes of code, more than any function has", b.path, name, end-entry)
	}
	code := make([]byte, end-entry)
	if _, err := text.ReadAt(code, int64(entry-text.Vaddr)); err != nil {
		return Func{}, fmt.Errorf("%s: read %s: %w", b.path, name, err)
	}
	rets, err := returns(b.elf.Machine, code)
	if err != nil {
		return Func{}, fmt.Errorf("%s: %s: %w", b.path, name, err)
	}
	if len(rets) == 0 {
		return Func{}, fmt.Errorf("%s: %s has no return instruction", b.path, name)
	}
	return Func{Name: name, Offset: entry - text.Vaddr + text.Off, Returns: rets}, nil
}

// lookup returns the address range of a function: from the symbol table (syms: what it defines of the names looked
// for, streamed by elfsym; none in a stripped executable), or from .gopclntab. Read whole, a Go program's tens of
// thousands of symbols were built in memory at each look.
func (b *Binary) lookup(name string, syms map[string]elfsym.Func) (entry, end uint64, err error) {
	if fn, ok := syms[name]; ok && fn.Size > 0 {
		return fn.Value, fn.Value + fn.Size, nil
	}
	if b.pcln == nil && b.pclnErr == nil {
		b.pcln, b.pclnErr = b.loadPclntab()
	}
	if b.pclnErr != nil {
		return 0, 0, b.pclnErr
	}
	fn := b.pcln.LookupFunc(name)
	if fn == nil {
		return 0, 0, fmt.Errorf("%s: %s: %w", b.path, name, ErrNoFunc)
	}
	return fn.Entry, fn.End, nil
}

func (b *Binary) loadPclntab() (*gosym.Table, error) {
	sec, text := b.elf.Section(".gopclntab"), b.elf.Section(".text")
	if sec == nil || text == nil {
		return nil, fmt.Errorf("%s: no symbol table and no .gopclntab", b.path)
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("%s: read .gopclntab: %w", b.path, err)
	}
	tab, err := gosym.NewTable(nil, gosym.NewLineTable(data, text.Addr))
	if err != nil {
		return nil, fmt.Errorf("%s: parse .gopclntab: %w", b.path, err)
	}
	return tab, nil
}

// textSegment returns the executable PT_LOAD segment holding addr.
func (b *Binary) textSegment(addr uint64) *elf.Prog {
	for _, p := range b.elf.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 && p.Vaddr <= addr && addr < p.Vaddr+p.Filesz {
			return p
		}
	}
	return nil
}

// arm64Ret is RET (to x30), the only return Go's arm64 compiler emits.
const arm64Ret = 0xd65f03c0

// returns lists the offsets of the return instructions in code, one function's machine code.
func returns(machine elf.Machine, code []byte) ([]uint64, error) {
	var out []uint64
	switch machine {
	case elf.EM_X86_64:
		for off := 0; off < len(code); {
			inst, err := x86asm.Decode(code[off:], 64)
			if err == nil && inst.Op == 0 { // a lone prefix, cut short
				err = errors.New("truncated instruction")
			}
			if err != nil {
				// Go's compiler puts no data among instructions (its padding is INT3), so this is not code
				// from Go's compiler. A probe placed past a misdecoded byte could land inside an instruction
				// and corrupt the program: refuse instead.
				return nil, fmt.Errorf("undecodable instruction at offset %#x: %w", off, err)
			}
			if inst.Op == x86asm.RET {
				out = append(out, uint64(off))
			}
			off += inst.Len
		}
	case elf.EM_AARCH64:
		for off := 0; off+4 <= len(code); off += 4 {
			if uint32(code[off])|uint32(code[off+1])<<8|uint32(code[off+2])<<16|uint32(code[off+3])<<24 == arm64Ret {
				out = append(out, uint64(off))
			}
		}
	default:
		return nil, fmt.Errorf("architecture %s is not supported", machine)
	}
	return out, nil
}
