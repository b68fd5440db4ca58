// Package elfsym finds named functions in the symbol tables of an ELF file without reading the tables into memory.
//
// elf.File.Symbols, and link.Executable, which resolves names through it, build every symbol of a file in memory:
// Node.js's executable has 185,000 of them (13 MB of tables), which cost the monitor a 60 MB heap at each probe of it,
// and a Go program tens of thousands. Here both the symbol table and its string table are streamed: nothing is kept of
// a table but the offsets at which wanted names begin.
package elfsym

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"math"
)

// Func is a function a symbol table defines: its address and its size in bytes (0 when the table does not say).
type Func struct {
	Value, Size uint64
}

// Funcs returns the functions among wanted that f defines in its dynamic or static symbol table (the dynamic one
// first; a name both define is taken from the first). A 32-bit file, or a damaged table, defines none (or those found
// before the damage).
func Funcs(f *elf.File, wanted []string) map[string]Func {
	found := map[string]Func{}
	if f.Class != elf.ELFCLASS64 {
		return found
	}
	for _, typ := range []elf.SectionType{elf.SHT_DYNSYM, elf.SHT_SYMTAB} {
		if len(found) == len(wanted) {
			break
		}
		syms := f.SectionByType(typ)
		if syms == nil || syms.Link == 0 || int(syms.Link) >= len(f.Sections) {
			continue
		}
		strtab := f.Sections[syms.Link]
		// Any file a process maps is read here. debug/elf bounds what a section header claims (an SHT_NOBITS table
		// cannot be read, one past the end of the file reads to its end) except for compressed sections, whose
		// declared size is what they inflate to: symbol tables are never compressed, so such a file is skipped.
		if syms.Flags&elf.SHF_COMPRESSED != 0 || strtab.Flags&elf.SHF_COMPRESSED != 0 {
			continue
		}
		_ = scan(f, syms, strtab, wanted, found) // a damaged table defines nothing more
	}
	return found
}

// scan adds to found the functions among wanted that the symbol table syms (names in strtab) defines.
func scan(f *elf.File, syms, strtab *elf.Section, wanted []string, found map[string]Func) error {
	names, err := nameOffsets(strtab.Open(), wanted)
	if err != nil || len(names) == 0 {
		return err // no symbol can have a wanted name
	}
	r := bufio.NewReaderSize(syms.Open(), 64<<10)
	var entry [elf.Sym64Size]byte
	for {
		if _, err := io.ReadFull(r, entry[:]); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("read the symbols of %s: %w", syms.Name, err)
		}
		info, shndx := entry[4], elf.SectionIndex(f.ByteOrder.Uint16(entry[6:8]))
		if elf.ST_TYPE(info) != elf.STT_FUNC || shndx == elf.SHN_UNDEF {
			continue
		}
		w, ok := names[f.ByteOrder.Uint32(entry[0:4])]
		if _, done := found[w]; ok && !done {
			found[w] = Func{Value: f.ByteOrder.Uint64(entry[8:16]), Size: f.ByteOrder.Uint64(entry[16:24])}
		}
	}
}

// maxNameHits bounds the offsets nameOffsets keeps: a real string table holds each name once or a few times (a
// linker may share a name with the tail of a longer one), a crafted one could repeat it millions of times.
const maxNameHits = 1024

// nameOffsets streams the string table r and returns the offsets at which a name of wanted begins, each with its
// name: the bytes of the name then NUL, anywhere (a symbol's name may be the tail of a longer string).
func nameOffsets(r io.Reader, wanted []string) (map[uint32]string, error) {
	hits := map[uint32]string{}
	var needles [][]byte
	var names []string
	longest := 0
	for _, w := range wanted {
		if w != "" { // no function is probed by an empty name
			needles, names = append(needles, append([]byte(w), 0)), append(names, w)
			longest = max(longest, len(w)+1)
		}
	}
	if len(needles) == 0 {
		return hits, nil
	}
	// buf[:n] holds the table from offset at; each round keeps the last longest-1 bytes, so that a name crossing
	// the end of a read is found whole in the next round (one found twice is the same map entry).
	buf := make([]byte, 64<<10+longest)
	var at int64
	n := 0
	for {
		m, err := io.ReadFull(r, buf[n:])
		n += m
		for i, needle := range needles {
			for from := 0; ; {
				j := bytes.Index(buf[from:n], needle)
				if j < 0 {
					break
				}
				off := at + int64(from+j)
				if off > math.MaxUint32 {
					return hits, nil // past what a symbol can name
				}
				hits[uint32(off)] = names[i]
				if len(hits) > maxNameHits {
					return nil, fmt.Errorf("the string table holds more than %d of the names looked for", maxNameHits)
				}
				from += j + 1
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return hits, nil
		} else if err != nil {
			return nil, fmt.Errorf("read the string table: %w", err)
		}
		keep := min(n, longest-1)
		copy(buf, buf[n-keep:n])
		at += int64(n - keep)
		n = keep
	}
}
