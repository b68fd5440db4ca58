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
	return newTLSFinder(proc).find()
}

// tlsFinder remembers what it has looked at, so that watch's periodic rescan reads the maps of new processes only and
// judges each file (an ELF symbol table: node's is large) once.
type tlsFinder struct {
	proc    procfs.FS
	scanned bool                 // ldconfig and PATH were looked at
	pids    map[int]bool         // processes whose maps were read
	judged  map[[2]uint64]bool   // files already judged, by device and inode: a file is a target at most once
	paths   map[string][2]uint64 // path -> file, to skip a path's stat and judgement
}

func newTLSFinder(proc procfs.FS) *tlsFinder {
	return &tlsFinder{proc: proc, pids: map[int]bool{}, judged: map[[2]uint64]bool{}, paths: map[string][2]uint64{}}
}

// find returns the targets not returned before.
func (f *tlsFinder) find() []string {
	var out []string
	add := func(path string) { out = append(out, f.judge(path)...) }
	if !f.scanned {
		f.scanned = true
		for _, lib := range ldconfigLibssl() {
			add(lib)
		}
		if node, err := exec.LookPath("node"); err == nil {
			if real, err := filepath.EvalSymlinks(node); err == nil {
				add(real)
			}
		}
	}
	procs, _ := f.proc.Processes()
	alive := make(map[int]bool, len(procs))
	for _, p := range procs {
		alive[p.Pid] = true
		if f.pids[p.Pid] {
			continue
		}
		f.pids[p.Pid] = true
		root := filepath.Join(f.proc.Root, fmt.Sprint(p.Pid), "root")
		for _, lib := range mappedLibssl(f.proc, p.Pid) {
			add(hostPath(root, lib))
		}
		if p.Comm == "node" || p.Comm == "nodejs" {
			if exe, err := os.Readlink(filepath.Join(f.proc.Root, fmt.Sprint(p.Pid), "exe")); err == nil {
				add(hostPath(root, exe))
			}
		}
	}
	for pid := range f.pids { // a reused pid is a new process
		if !alive[pid] {
			delete(f.pids, pid)
		}
	}
	slices.Sort(out)
	return out
}

// judge returns path when it is a target not seen before under any path.
func (f *tlsFinder) judge(path string) []string {
	if _, ok := f.paths[path]; ok || path == "" {
		return nil
	}
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() {
		return nil
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	id := [2]uint64{uint64(sys.Dev), sys.Ino}
	f.paths[path] = id
	if f.judged[id] { // one path per file: a uprobe twice on one file would copy its bytes twice
		return nil
	}
	f.judged[id] = true
	if strings.Contains(filepath.Base(path), "libssl") || definesSSLWrite(path) {
		return []string{path}
	}
	return nil
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

// TLSProber attaches the TLS uprobes to every target the finder names, once per file, and again later for files
// that appeared since (a program started after the monitor with a libssl of its own, in a container).
type TLSProber struct {
	capt   *Capture
	finder *tlsFinder
}

// NewTLSProber returns a prober for c, finding targets through proc.
func NewTLSProber(c *Capture, proc procfs.FS) *TLSProber {
	return &TLSProber{capt: c, finder: newTLSFinder(proc)}
}

// Scan probes the targets found since the last scan. It returns those it probed, and an error for each it could not
// probe.
func (p *TLSProber) Scan() ([]TLSTarget, []error) {
	var probed []TLSTarget
	var errs []error
	for _, path := range p.finder.find() {
		target, err := p.capt.AttachTLS(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		probed = append(probed, target)
	}
	return probed, errs
}
