package capture

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mcpscope/mcpscope/internal/procfs"
)

// TestTLSFinderJudgesEachFileOnce: a rescan returns only files not returned before, so watch's periodic rescan
// neither re-reads old processes' maps nor re-parses a program's symbols; a file found under two paths counts once.
func TestTLSFinderJudgesEachFileOnce(t *testing.T) {
	dir := t.TempDir()
	lib := filepath.Join(dir, "libssl.so.3")
	if err := os.WriteFile(lib, []byte("not an ELF file, but named like libssl"), 0o644); err != nil {
		t.Fatal(err)
	}
	alias := filepath.Join(dir, "libssl.so")
	if err := os.Link(lib, alias); err != nil {
		t.Fatal(err)
	}
	f := newTLSFinder(procfs.FS{Root: "/nonexistent"}, nil)
	f.scanned = true // leave ldconfig and PATH out: only the paths given below
	var got []string
	for _, p := range []string{lib, alias, lib} {
		got = append(got, f.judge(p)...)
	}
	if len(got) != 1 || got[0] != lib {
		t.Errorf("targets %v, want %s once", got, lib)
	}
	if again := f.find(); len(again) != 0 {
		t.Errorf("a rescan found %v again", again)
	}
}
