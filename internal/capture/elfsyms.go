package capture

import (
	"bufio"
	"debug/elf"
	"fmt"
	"io"
	"os"
)

// funcOffsets returns the file offsets of the functions among wanted that the ELF file at path defines in its
// dynamic or static symbol table (the dynamic one first), ready for link.UprobeOptions.Address and
// link.UprobeMultiOptions.Addresses. A file that cannot be read, or is not a 64-bit ELF file, defines none.
//
// It streams the symbol tables instead of using elf.File.Symbols, or letting link.Executable resolve names: both
// build every symbol of the file in memory, and Node.js's executable has 185,000 of them (13 MB of tables), which
// cost the monitor a 60 MB heap at each probe of it. Here the peak is one string table, read whole.
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
	names, err := strtab.Data()
	if err != nil {
		return err
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
		name := f.ByteOrder.Uint32(entry[0:4])
		if int(name) >= len(names) {
			continue
		}
		rest := names[name:]
		for _, w := range wanted {
			if _, done := found[w]; done || len(rest) <= len(w) || rest[len(w)] != 0 || string(rest[:len(w)]) != w {
				continue
			}
			found[w] = fileOffset(f, f.ByteOrder.Uint64(entry[8:16]))
		}
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
