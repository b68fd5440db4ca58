package capture

import (
	"bufio"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/mcpscope/mcpscope/internal/procfs"
)

// tlsSuffix ends the names of the TLS programs' prog array, scratch map and copy continuation (c/tls.c).
const tlsSuffix = "_tls"

// tlsProbes are the functions probed in a TLS library, with the program run at their entry; one uretprobe program
// serves them all.
var tlsProbes = []struct{ symbol, prog string }{
	{"SSL_write", "mcps_tls_ssl_write"},
	{"SSL_write_ex", "mcps_tls_ssl_write_ex"},
	{"SSL_read", "mcps_tls_ssl_read"},
	{"SSL_read_ex", "mcps_tls_ssl_read_ex"},
}

const tlsReturnProg = "mcps_tls_ssl_ret"

// dropTLS removes the TLS programs and their maps from spec.
func dropTLS(spec *ebpf.CollectionSpec) {
	for name := range spec.Programs {
		if strings.HasPrefix(name, "mcps_tls_") {
			delete(spec.Programs, name)
		}
	}
	delete(spec.Programs, copyMorePrefix+tlsSuffix)
	delete(spec.Maps, "mcps_copy_progs"+tlsSuffix)
	delete(spec.Maps, "mcps_scratch"+tlsSuffix)
}

// TLSTarget is a file whose OpenSSL functions AttachTLS probed.
type TLSTarget struct {
	Path    string
	Symbols []string // the functions probed
}

// AttachTLS probes the OpenSSL read and write functions that the library or program at path defines (libssl, or a
// program such as node that links OpenSSL in). Every process that maps the file, now or later, is covered. It
// returns an error when the TLS programs are not loaded (Config.TLS) or the file defines none of the functions.
// Call it before Run.
//
// It is safe to call while Run runs (watch calls it for libraries that appear later); after capture stopped it
// returns an error.
func (c *Capture) AttachTLS(path string) (TLSTarget, error) {
	target := TLSTarget{Path: path}
	ret := c.coll.Programs[tlsReturnProg]
	if ret == nil {
		return target, errors.New("the TLS programs are not loaded")
	}
	ex, err := link.OpenExecutable(path)
	if err != nil {
		return target, fmt.Errorf("open %s: %w", path, err)
	}
	var links []link.Link
	for _, p := range tlsProbes {
		entry, err := ex.Uprobe(p.symbol, c.coll.Programs[p.prog], nil)
		if errors.Is(err, link.ErrNoSymbol) {
			continue
		}
		if err != nil {
			closeLinks(links)
			return target, fmt.Errorf("uprobe %s in %s: %w", p.symbol, path, err)
		}
		exit, err := ex.Uretprobe(p.symbol, ret, nil)
		if err != nil {
			entry.Close()
			closeLinks(links)
			return target, fmt.Errorf("uretprobe %s in %s: %w", p.symbol, path, err)
		}
		links = append(links, entry, exit)
		target.Symbols = append(target.Symbols, p.symbol)
	}
	if len(links) == 0 {
		return target, fmt.Errorf("%s defines none of %s", path, tlsSymbolList())
	}
	c.tlsMu.Lock()
	defer c.tlsMu.Unlock()
	if c.tlsDetached != nil {
		closeLinks(links)
		return target, errors.New("capture has stopped")
	}
	c.tlsLinks = append(c.tlsLinks, links...)
	return target, nil
}

func closeLinks(links []link.Link) {
	for _, l := range links {
		l.Close()
	}
}

func tlsSymbolList() string {
	names := make([]string, len(tlsProbes))
	for i, p := range tlsProbes {
		names[i] = p.symbol
	}
	return strings.Join(names, ", ")
}

// FindTLSTargets lists the files to probe for TLS plaintext: the OpenSSL libraries (libssl.so.*) mapped by running
// processes or known to the dynamic linker, and programs that define SSL_write themselves (Node.js links OpenSSL
// in): the executables of running processes named node, and node on PATH. Files are named once each, by the
// path under proc's root (/proc/PID/root/... for a process in another mount namespace).
func FindTLSTargets(proc procfs.FS) []string {
	seen := map[string]bool{}
	files := map[[2]uint64]bool{} // one path per file: a uprobe twice on one file would copy its bytes twice
	var out []string
	add := func(path string) {
		if path == "" || seen[path] {
			return
		}
		seen[path] = true
		if st, err := os.Stat(path); err != nil || !st.Mode().IsRegular() {
			return
		}
		if id, ok := fileID(path); ok {
			if files[id] {
				return
			}
			files[id] = true
		}
		if strings.Contains(filepath.Base(path), "libssl") || definesSSLWrite(path) {
			out = append(out, path)
		}
	}
	for _, lib := range ldconfigLibssl() {
		add(lib)
	}
	procs, _ := proc.Processes()
	for _, p := range procs {
		root := filepath.Join(proc.Root, fmt.Sprint(p.Pid), "root")
		for _, lib := range mappedLibssl(proc, p.Pid) {
			add(hostPath(root, lib))
		}
		if p.Comm == "node" || p.Comm == "nodejs" {
			if exe, err := os.Readlink(filepath.Join(proc.Root, fmt.Sprint(p.Pid), "exe")); err == nil {
				add(hostPath(root, exe))
			}
		}
	}
	if node, err := exec.LookPath("node"); err == nil {
		if real, err := filepath.EvalSymlinks(node); err == nil {
			add(real)
		}
	}
	slices.Sort(out)
	return out
}

// hostPath names path, as a process sees it, from this process: through /proc/PID/root when that is not our root.
func hostPath(root, path string) string {
	if target, err := os.Readlink(root); err == nil && target == "/" {
		return path
	}
	return filepath.Join(root, path)
}

// mappedLibssl lists the libssl files a process maps.
func mappedLibssl(proc procfs.FS, pid int) []string {
	f, err := os.Open(filepath.Join(proc.Root, fmt.Sprint(pid), "maps"))
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 {
			continue
		}
		path := fields[5]
		if strings.Contains(filepath.Base(path), "libssl.so") && !slices.Contains(out, path) {
			out = append(out, path)
		}
	}
	return out
}

// ldconfigLibssl lists the libssl files the dynamic linker's cache knows.
func ldconfigLibssl() []string {
	out, err := exec.Command("ldconfig", "-p").Output()
	if err != nil {
		return nil
	}
	var libs []string
	for _, line := range strings.Split(string(out), "\n") {
		name, path, ok := strings.Cut(line, "=>")
		if !ok || !strings.Contains(name, "libssl.so") {
			continue
		}
		if real, err := filepath.EvalSymlinks(strings.TrimSpace(path)); err == nil {
			libs = append(libs, real)
		}
	}
	return libs
}

// definesSSLWrite reports whether an ELF file defines SSL_write in its dynamic or static symbol table.
func definesSSLWrite(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, table := range []func() ([]elf.Symbol, error){f.DynamicSymbols, f.Symbols} {
		syms, err := table()
		if err != nil {
			continue
		}
		for _, s := range syms {
			if s.Name == "SSL_write" && s.Section != elf.SHN_UNDEF && elf.ST_TYPE(s.Info) == elf.STT_FUNC {
				return true
			}
		}
	}
	return false
}

// TLSProber attaches the TLS uprobes to every target FindTLSTargets names, once per file, and again later for files
// that appeared since (a program started after the monitor with a libssl of its own, in a container).
type TLSProber struct {
	capt     *Capture
	proc     procfs.FS
	attached map[[2]uint64]bool // by device and inode
	failed   map[string]bool    // paths that could not be probed, reported once
}

// NewTLSProber returns a prober for c, finding targets through proc.
func NewTLSProber(c *Capture, proc procfs.FS) *TLSProber {
	return &TLSProber{capt: c, proc: proc, attached: map[[2]uint64]bool{}, failed: map[string]bool{}}
}

// Scan probes the targets not yet probed. It returns those it probed, and an error for each it could not probe
// (each path is reported once).
func (p *TLSProber) Scan() ([]TLSTarget, []error) {
	var probed []TLSTarget
	var errs []error
	for _, path := range FindTLSTargets(p.proc) {
		id, ok := fileID(path)
		if !ok || p.attached[id] || p.failed[path] {
			continue
		}
		target, err := p.capt.AttachTLS(path)
		if err != nil {
			p.failed[path] = true
			errs = append(errs, err)
			continue
		}
		p.attached[id] = true
		probed = append(probed, target)
	}
	return probed, errs
}

func fileID(path string) ([2]uint64, bool) {
	st, err := os.Stat(path)
	if err != nil {
		return [2]uint64{}, false
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return [2]uint64{}, false
	}
	return [2]uint64{uint64(sys.Dev), sys.Ino}, true
}
