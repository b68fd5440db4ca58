package capture

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/mcpscope/mcpscope/internal/testutil"
)

// referenceOffsets is funcOffsets the way link.Executable resolves names: every symbol through debug/elf.
func referenceOffsets(t *testing.T, path string, wanted []string) map[string]uint64 {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]bool{}
	for _, w := range wanted {
		want[w] = true
	}
	out := map[string]uint64{}
	for _, table := range []func() ([]elf.Symbol, error){f.DynamicSymbols, f.Symbols} {
		syms, _ := table()
		for _, s := range syms {
			if _, seen := out[s.Name]; want[s.Name] && !seen && elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Section != elf.SHN_UNDEF {
				out[s.Name] = fileOffset(f, s.Value)
			}
		}
	}
	return out
}

// TestFuncOffsets compares funcOffsets with debug/elf's full symbol tables on real files: OpenSSL (dynamic symbols),
// and Node.js (OpenSSL linked in, both tables, 185,000 symbols), with names that are defined, only imported, and
// absent.
func TestFuncOffsets(t *testing.T) {
	for _, c := range []struct {
		path   string
		wanted []string
		need   int // how many of wanted the file must define
	}{
		{"/usr/lib/x86_64-linux-gnu/libssl.so.3", append(probeSymbols(tlsProbes), "malloc", "no_such_function"), 4}, // SSL_{read,write}{,_ex}; malloc is imported
		{"/usr/lib/x86_64-linux-gnu/libdl.so.2", []string{"__libdl_version_placeholder", "dlopen"}, 1},              // the fuzz seed
		{"/usr/bin/node", append(probeSymbols(tlsProbes), "uv_run", "no_such_function"), 5},
	} {
		if _, err := os.Stat(c.path); err != nil {
			t.Logf("skip %s: %v", c.path, err) // node is installed by make test-deps; libssl3 by Debian
			continue
		}
		got, want := funcOffsets(c.path, c.wanted), referenceOffsets(t, c.path, c.wanted)
		if len(want) < c.need {
			t.Fatalf("%s: the reference finds %d of %q, want at least %d", c.path, len(want), c.wanted, c.need)
		}
		if len(got) != len(want) {
			t.Errorf("%s: found %v, want %v", c.path, got, want)
		}
		for name, off := range want {
			if got[name] != off {
				t.Errorf("%s: %s at %#x, want %#x", c.path, name, got[name], off)
			}
		}
	}
	if got := funcOffsets("/nonexistent", []string{"SSL_write"}); len(got) != 0 {
		t.Errorf("a missing file defines %v", got)
	}
}

// FuzzFuncOffsets: any file a process maps can be read for its symbols; damaged or hostile ELF files must not crash
// the monitor, and what is found must be among what was asked.
func FuzzFuncOffsets(f *testing.F) {
	// Seeds in testdata/fuzz/FuzzFuncOffsets: Debian's libdl.so.2 (glibc's stub, which defines
	// __libdl_version_placeholder) and damaged files the fuzzer kept.
	f.Fuzz(func(t *testing.T, data []byte) {
		wanted := []string{"__libdl_version_placeholder", "SSL_write", ""}
		for name := range funcOffsetsIn(bytes.NewReader(data), wanted) {
			if name != "__libdl_version_placeholder" && name != "SSL_write" {
				t.Errorf("found %q, which was not asked for", name)
			}
		}
	})
}

// FuzzRunpathCandidates: the dynamic section of any executable is read for where it finds its TLS libraries; a
// damaged or hostile one must not crash the monitor, and every candidate is a TLS library's name under a directory
// of the run path. Seeds in testdata/fuzz/FuzzRunpathCandidates: rpath-elf, 2 KB, which needs libssl.so.3 with the
// run path /opt/mcps-a:$ORIGIN/../lib (gcc -nostdlib -Wl,-e,0 -Wl,-z,max-page-size=16 -Wl,-z,noseparate-code
// -Wl,--no-as-needed -lssl -Wl,--enable-new-dtags,-rpath,...), and damaged files the fuzzer kept.
func FuzzRunpathCandidates(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, candidates := range runpathCandidatesIn(bytes.NewReader(data), "/srv/app/bin") {
			for _, c := range candidates {
				if !isTLSLib(filepath.Base(c)) {
					t.Errorf("candidate %q is not a TLS library", c)
				}
			}
		}
	})
}

// TestRunpathCandidatesOfSeed: the candidates of FuzzRunpathCandidates's seed rpath-elf, in the run path's order.
func TestRunpathCandidatesOfSeed(t *testing.T) {
	data := testutil.FuzzSeed(t, "FuzzRunpathCandidates", "rpath-elf")
	got := runpathCandidatesIn(bytes.NewReader(data), "/srv/app/bin")
	want := [][]string{{"/opt/mcps-a/libssl.so.3", "/srv/app/lib/libssl.so.3"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("runpathCandidatesIn = %q, want %q", got, want)
	}
}

// TestDynStrings compares dynStrings with debug/elf's DynString, which reads the whole string table: on real files
// (Node.js, whose table is 5 MB, OpenSSL, ls) and on a C program linked here with a run path, whose TLS library
// candidates runpathCandidates then finds.
func TestDynStrings(t *testing.T) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no C compiler (make test-deps installs gcc): %v", err)
		}
		t.Skipf("no C compiler: %v", err)
	}
	dir := t.TempDir()
	src, prog := filepath.Join(dir, "p.c"), filepath.Join(dir, "p")
	if err := os.WriteFile(src, []byte("#include <openssl/ssl.h>\nint main(void) { return SSL_library_init() == 0; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(cc, "-o", prog, src, "-Wl,--enable-new-dtags,-rpath,/opt/mcps-a:$ORIGIN/../lib", "-lssl").CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, out)
	}
	for _, path := range []string{prog, "/usr/bin/node", "/usr/lib/x86_64-linux-gnu/libssl.so.3", "/bin/ls"} {
		f, err := elf.Open(path)
		if err != nil {
			t.Logf("skip %s: %v", path, err) // node is installed by make test-deps
			continue
		}
		for _, tag := range []elf.DynTag{elf.DT_NEEDED, elf.DT_RUNPATH, elf.DT_RPATH, elf.DT_SONAME} {
			got, err := dynStrings(f, tag)
			if err != nil {
				t.Errorf("%s %v: %v", path, tag, err)
			}
			want, _ := f.DynString(tag)
			if !slices.Equal(got, want) {
				t.Errorf("%s %v: %q, want %q", path, tag, got, want)
			}
		}
		f.Close()
	}
	got := runpathCandidates(prog, "/srv/app/bin")
	want := [][]string{{"/opt/mcps-a/libssl.so.3", "/srv/app/lib/libssl.so.3"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("runpathCandidates = %q, want %q", got, want)
	}
	if _, err := cString(bytes.NewReader([]byte("no end")), 0); err == nil {
		t.Error("cString read a string without its NUL")
	}
}
