package capture

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mcpscope/mcpscope/internal/bpf"
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

// TestSweepTLSCalls: the saved calls of processes that are gone are deleted, a live process's stay. The maps are plain
// hashes (an LRU map evicted calls in flight), so nothing else would ever free them.
func TestSweepTLSCalls(t *testing.T) {
	requireRoot(t)
	c, err := Open(Config{TCP: true, TLS: true, RingBufferBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const live, gone = 100, 200
	byThread, byGoroutine := c.coll.Maps["mcps_tls_calls"], c.coll.Maps["mcps_tls_go_calls"]
	for tid, tgid := range map[uint32]uint32{1001: live, 1002: gone, 1003: gone} {
		if err := byThread.Put(tid, bpf.TLSCall{Tgid: tgid}); err != nil {
			t.Fatal(err)
		}
	}
	for g, tgid := range map[uint64]uint32{0xc000001000: live, 0xc000002000: gone} {
		if err := byGoroutine.Put(bpf.GoCallKey{G: g, Tgid: tgid}, bpf.TLSCall{Tgid: tgid}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := c.SweepTLSCalls(func(pid int) bool { return pid == live })
	if err != nil || n != 3 {
		t.Fatalf("swept %d (%v), want 3", n, err)
	}
	var call bpf.TLSCall
	if err := byThread.Lookup(uint32(1001), &call); err != nil {
		t.Errorf("the live process's call by thread was swept: %v", err)
	}
	if err := byGoroutine.Lookup(bpf.GoCallKey{G: 0xc000001000, Tgid: live}, &call); err != nil {
		t.Errorf("the live process's call by goroutine was swept: %v", err)
	}
	if err := byThread.Lookup(uint32(1002), &call); err == nil {
		t.Error("a gone process's call is still there")
	}
}

func TestIsTLSLib(t *testing.T) {
	for name, want := range map[string]bool{
		"libssl.so.3": true, "libssl.so.1.1": true, "libgnutls.so.30": true, "libgnutls.so.30.34.3": true,
		// GnuTLS's OpenSSL API copies through gnutls_record_send: probing both would copy the bytes twice.
		"libgnutls-openssl.so.27": false, "libgnutls-dane.so.0": false, "libcrypto.so.3": false, "libc.so.6": false,
	} {
		if got := isTLSLib(name); got != want {
			t.Errorf("isTLSLib(%q) = %v", name, got)
		}
	}
}
