package capture

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"math"
	"os"
)

// funcOffsets returns the file offsets of the functions among wanted that the ELF file at path defines in its
// dynamic or static symbol table (the dynamic one first), ready for link.UprobeOptions.Address and
// link.UprobeMultiOptions.Addresses. A file that cannot be read, or is not a 64-bit ELF file, defines none.
//
// It streams the symbol tables instead of using elf.File.Symbols, or letting link.Executable resolve names: both
// build every symbol of the file in memory, and Node.js's executable has 185,000 of them (13 MB of tables), which
// cost the monitor a 60 MB heap at each probe of it. Here the string table is streamed too: nothing is kept of a
// table but the offsets at which wanted names begin.
func funcOffsets(path string, wanted []string) map[string]uint64 {
	file, err := os.Open(path)
	if err != nil {
		return map[string]uint64{}
	}
	defer file.Close()
	return funcOffsetsIn(file, wanted)
}

// funcOffsetsIn is funcOffsets of the ELF file r.
func funcOffsetsIn(r io.ReaderAt, wanted []string) map[string]uint64 {
	found := map[string]uint64{}
	f, err := elf.NewFile(r)
	if err != nil || f.Class != elf.ELFCLASS64 {
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
		_ = scanFuncs(f, syms, strtab, wanted, found) // a damaged table defines nothing more
	}
	return found
}

// scanFuncs adds to found the functions among wanted that the symbol table syms (names in strtab) defines.
func scanFuncs(f *elf.File, syms, strtab *elf.Section, wanted []string, found map[string]uint64) error {
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
			found[w] = fileOffset(f, f.ByteOrder.Uint64(entry[8:16]))
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

// fileOffset turns a function's address into its offset in the file, through the executable segment that holds it
// (an address outside every such segment is taken as an offset already, as link.Executable does).
func fileOffset(f *elf.File, addr uint64) uint64 {
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 && p.Vaddr <= addr && addr < p.Vaddr+p.Memsz {
			return addr - p.Vaddr + p.Off
		}
	}
	return addr
}

// dynStrings returns the strings of the dynamic section's entries tagged tag (DT_NEEDED, DT_RUNPATH, DT_RPATH), as
// elf.File.DynString does, reading only those strings: DynString reads the whole dynamic string table, which in an
// executable that exports its symbols is most of the file's tables (Node.js's: 5 MB, read once per tag).
func dynStrings(f *elf.File, tag elf.DynTag) ([]string, error) {
	offs, err := f.DynValue(tag)
	if err != nil || len(offs) == 0 {
		return nil, err
	}
	ds := f.SectionByType(elf.SHT_DYNAMIC)
	if ds == nil || int(ds.Link) >= len(f.Sections) {
		return nil, fmt.Errorf("the dynamic section links no string table")
	}
	strtab := f.Sections[ds.Link]
	out := make([]string, 0, len(offs))
	for _, off := range offs {
		s, err := cString(strtab, off)
		if err != nil {
			return out, fmt.Errorf("dynamic string at %d: %w", off, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// maxDynString bounds a string dynStrings reads: library names and search paths are short.
const maxDynString = 4096

// cString reads the NUL-terminated string at off in r.
func cString(r io.ReaderAt, off uint64) (string, error) {
	if off > math.MaxInt64-maxDynString {
		return "", fmt.Errorf("offset past the file")
	}
	var s []byte
	buf := make([]byte, 128)
	for len(s) < maxDynString {
		n, err := r.ReadAt(buf, int64(off)+int64(len(s)))
		if i := bytes.IndexByte(buf[:n], 0); i >= 0 {
			return string(append(s, buf[:i]...)), nil
		}
		s = append(s, buf[:n]...)
		if err != nil {
			return "", fmt.Errorf("no end: %w", err)
		}
	}
	return "", fmt.Errorf("longer than %d bytes", maxDynString)
}
