package capture

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/mcpscope/mcpscope/internal/elfsym"
)

// funcOffsets returns the file offsets of the functions among wanted that the ELF file at path defines in its
// dynamic or static symbol table (the dynamic one first), ready for link.UprobeOptions.Address and
// link.UprobeMultiOptions.Addresses. A file that cannot be read, or is not a 64-bit ELF file, defines none. The
// tables are streamed (elfsym), not read whole as elf.File.Symbols or link.Executable would.
func funcOffsets(path string, wanted []string) map[string]uint64 {
	file, err := os.Open(path)
	if err != nil {
		return map[string]uint64{}
	}
	defer file.Close()
	return funcOffsetsIn(file, wanted)
}

// funcOffsetsIn is funcOffsets of the ELF file r.
func funcOffsetsIn(r io.ReaderAt, wanted []string) (found map[string]uint64) {
	found = map[string]uint64{}
	// The files are the executables and libraries of any process on the host, and debug/elf is not hardened against
	// damaged or hostile files (it says so): a panic while reading one finds nothing in it.
	defer func() {
		if recover() != nil {
			found = map[string]uint64{}
		}
	}()
	f, err := elf.NewFile(r)
	if err != nil {
		return found
	}
	for name, fn := range elfsym.Funcs(f, wanted) {
		found[name] = fileOffset(f, fn.Value)
	}
	return found
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
	if ds := f.SectionByType(elf.SHT_DYNAMIC); ds != nil && ds.Size > maxDynamic {
		return nil, fmt.Errorf("a dynamic section of %d bytes", ds.Size) // DynValue would read it whole
	}
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

// maxDynamic bounds the dynamic section dynStrings reads: 16 bytes an entry, a few dozen entries (Node.js: 32).
const maxDynamic = 64 << 10

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
