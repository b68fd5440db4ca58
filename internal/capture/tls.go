package capture

import (
	"bufio"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/mcpscope/mcpscope/internal/bpf"
	"github.com/mcpscope/mcpscope/internal/gobin"
	"github.com/mcpscope/mcpscope/internal/procfs"
)

// tlsSuffix ends the names of the TLS programs' prog array, scratch map and copy continuation (c/tls.c);
// tlsMultiSuffix those of their uprobe_multi versions.
const (
	tlsSuffix      = "_tls"
	tlsMultiSuffix = "_tlsm"
	// tlsMultiPrefix starts the names of the uprobe_multi programs.
	tlsMultiPrefix = "mcps_tls_m_"
)

// The uprobe_multi programs: one entry program for every probed function (the probe's cookie says which, enum
// mcps_tls_fn in c/tls.c), OpenSSL's return and Go's returns.
const (
	tlsMultiEnterProg  = "mcps_tls_m_enter"
	tlsMultiSSLRetProg = "mcps_tls_m_ssl_ret"
	tlsMultiGoRetProg  = "mcps_tls_m_go_ret"
	tlsFnSSLWrite      = 1
	tlsFnSSLWriteEx    = 2
	tlsFnSSLRead       = 3
	tlsFnSSLReadEx     = 4
	tlsFnGoWrite       = 5
	tlsFnGoRead        = 6
	tlsFnGnuTLSSend    = 7
	tlsFnGnuTLSRecv    = 8
)

// tlsProbe is a function probed for TLS plaintext: the program run at its entry (perf-event uprobes), and the cookie
// that names it to the uprobe_multi entry program.
type tlsProbe struct {
	symbol, prog string
	fn           uint64
}

// tlsProbes are the functions probed in a TLS library (OpenSSL's, or GnuTLS's record layer); one uretprobe program
// serves them all. A library is probed for those it defines.
var tlsProbes = []tlsProbe{
	{"SSL_write", "mcps_tls_ssl_write", tlsFnSSLWrite},
	{"SSL_write_ex", "mcps_tls_ssl_write_ex", tlsFnSSLWriteEx},
	{"SSL_read", "mcps_tls_ssl_read", tlsFnSSLRead},
	{"SSL_read_ex", "mcps_tls_ssl_read_ex", tlsFnSSLReadEx},
	{"gnutls_record_send", "mcps_tls_gnutls_send", tlsFnGnuTLSSend},
	{"gnutls_record_recv", "mcps_tls_gnutls_recv", tlsFnGnuTLSRecv},
}

const tlsReturnProg = "mcps_tls_ssl_ret"

// goTLSProbes are the functions probed in a Go program; mcps_tls_go_ret runs at each of their return instructions.
var goTLSProbes = []tlsProbe{
	{"crypto/tls.(*Conn).Write", "mcps_tls_go_write", tlsFnGoWrite},
	{"crypto/tls.(*Conn).Read", "mcps_tls_go_read", tlsFnGoRead},
}

const goTLSReturnProg = "mcps_tls_go_ret"

// dropTLS removes the TLS programs and their maps from spec.
func dropTLS(spec *ebpf.CollectionSpec) {
	for name := range spec.Programs {
		if strings.HasPrefix(name, "mcps_tls_") {
			delete(spec.Programs, name)
		}
	}
	for _, suffix := range []string{tlsSuffix, tlsMultiSuffix} {
		delete(spec.Programs, copyMorePrefix+suffix)
		delete(spec.Maps, "mcps_copy_progs"+suffix)
		delete(spec.Maps, "mcps_scratch"+suffix)
	}
}

// keepTLSProbeKind keeps one of the two sets of TLS programs: the uprobe_multi ones where the kernel has uprobe_multi
// links (Linux 6.6+), which attach every probe of a file in one link and detach it with one wait instead of one per
// probe; the perf-event uprobe ones otherwise. (The multi programs need bpf_get_attach_cookie, which kernels before
// 5.15 refuse, so they cannot simply be loaded everywhere.)
func keepTLSProbeKind(spec *ebpf.CollectionSpec, multi bool) {
	suffix := tlsMultiSuffix
	if multi {
		suffix = tlsSuffix
	}
	for name, ps := range spec.Programs {
		if strings.HasPrefix(name, "mcps_tls_") && isUprobe(ps) && strings.HasPrefix(name, tlsMultiPrefix) != multi {
			delete(spec.Programs, name)
		}
	}
	delete(spec.Programs, copyMorePrefix+suffix)
	delete(spec.Maps, "mcps_copy_progs"+suffix)
	delete(spec.Maps, "mcps_scratch"+suffix)
}

// TLSTarget is a file whose TLS functions AttachTLS probed.
type TLSTarget struct {
	Path    string
	Symbols []string // the functions probed
	Go      string   // for a Go program, the Go release that built it
}

// AttachTLS probes the TLS read and write functions that the library or program at path defines: OpenSSL's (libssl,
// or a program such as node that links OpenSSL in), or Go's crypto/tls in a Go program. Every process that maps the
// file, now or later, is covered. It returns an error when the TLS programs are not loaded (Config.TLS) or the file
// defines none of the functions.
//
// It is safe to call while Run runs (watch calls it for libraries that appear later); after capture stopped it
// returns an error.
func (c *Capture) AttachTLS(path string) (TLSTarget, error) {
	target := TLSTarget{Path: path}
	multi := c.coll.Programs[tlsMultiEnterProg] != nil
	if c.coll.Programs[tlsReturnProg] == nil && !multi {
		return target, errors.New("the TLS programs are not loaded")
	}
	ex, err := link.OpenExecutable(path)
	if err != nil {
		return target, fmt.Errorf("open %s: %w", path, err)
	}
	var links []link.Link
	if bin, err := gobin.Open(path); err == nil {
		links, err = c.goTLSLinks(ex, bin, &target, multi)
		bin.Close()
		if err != nil {
			return target, err
		}
	} else {
		links, err = c.opensslLinks(ex, &target, multi)
		if err != nil {
			return target, err
		}
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

// opensslLinks probes the OpenSSL functions the file defines: with multi, one uprobe_multi link for their entries and
// one uretprobe_multi link for their returns; otherwise a uprobe and a uretprobe each.
func (c *Capture) opensslLinks(ex *link.Executable, target *TLSTarget, multi bool) ([]link.Link, error) {
	offsets := funcOffsets(target.Path, probeSymbols(tlsProbes))
	var probes []tlsProbe
	var addrs []uint64
	for _, p := range tlsProbes {
		if off, ok := offsets[p.symbol]; ok {
			probes, addrs = append(probes, p), append(addrs, off)
			target.Symbols = append(target.Symbols, p.symbol)
		}
	}
	if len(probes) == 0 {
		return nil, fmt.Errorf("%s defines none of %s", target.Path, tlsSymbolList())
	}
	if multi {
		cookies := make([]uint64, len(probes))
		for i, p := range probes {
			cookies[i] = p.fn
		}
		return linkPair(target.Path, "SSL functions",
			func() (link.Link, error) {
				return ex.UprobeMulti(target.Symbols, c.coll.Programs[tlsMultiEnterProg], &link.UprobeMultiOptions{Addresses: addrs, Cookies: cookies})
			},
			func() (link.Link, error) {
				return ex.UretprobeMulti(target.Symbols, c.coll.Programs[tlsMultiSSLRetProg], &link.UprobeMultiOptions{Addresses: addrs})
			})
	}
	var links []link.Link
	for i, p := range probes {
		at := &link.UprobeOptions{Address: addrs[i]}
		pair, err := linkPair(target.Path, p.symbol,
			func() (link.Link, error) { return ex.Uprobe(p.symbol, c.coll.Programs[p.prog], at) },
			func() (link.Link, error) { return ex.Uretprobe(p.symbol, c.coll.Programs[tlsReturnProg], at) })
		if err != nil {
			closeLinks(links)
			return nil, err
		}
		links = append(links, pair...)
	}
	return links, nil
}

// goTLSLinks probes crypto/tls's (*Conn).Write and Read in a Go program at their entries and at each of their return
// instructions (c/tls.c says why not a uretprobe): with multi, one uprobe_multi link for the entries and one for the
// returns; otherwise a perf-event uprobe each.
func (c *Capture) goTLSLinks(ex *link.Executable, bin *gobin.Binary, target *TLSTarget, multi bool) ([]link.Link, error) {
	target.Go = bin.GoVersion
	if err := bin.RegisterABI(); err != nil {
		return nil, err
	}
	found, err := bin.Funcs(probeSymbols(goTLSProbes)...)
	if err != nil {
		return nil, err
	}
	var probes []tlsProbe
	var funcs []gobin.Func
	for _, p := range goTLSProbes {
		fn, ok := found[p.symbol]
		if !ok {
			continue
		}
		probes, funcs = append(probes, p), append(funcs, fn)
		target.Symbols = append(target.Symbols, p.symbol)
	}
	if len(probes) == 0 {
		return nil, fmt.Errorf("%s does not use crypto/tls", target.Path)
	}
	if multi {
		var entries, cookies, rets []uint64
		for i, fn := range funcs {
			entries, cookies = append(entries, fn.Offset), append(cookies, probes[i].fn)
			for _, off := range fn.Returns {
				rets = append(rets, fn.Offset+off)
			}
		}
		return linkPair(target.Path, "crypto/tls",
			func() (link.Link, error) {
				return ex.UprobeMulti(nil, c.coll.Programs[tlsMultiEnterProg], &link.UprobeMultiOptions{Addresses: entries, Cookies: cookies})
			},
			func() (link.Link, error) {
				return ex.UprobeMulti(nil, c.coll.Programs[tlsMultiGoRetProg], &link.UprobeMultiOptions{Addresses: rets})
			})
	}
	var links []link.Link
	attach := func(symbol string, prog *ebpf.Program, addr, off uint64) error {
		l, err := ex.Uprobe(symbol, prog, &link.UprobeOptions{Address: addr, Offset: off})
		if err != nil {
			return fmt.Errorf("uprobe %s+%#x in %s: %w", symbol, off, target.Path, err)
		}
		links = append(links, l)
		return nil
	}
	for i, fn := range funcs {
		p := probes[i]
		if err := attach(p.symbol, c.coll.Programs[p.prog], fn.Offset, 0); err != nil {
			closeLinks(links)
			return nil, err
		}
		for _, off := range fn.Returns {
			if err := attach(p.symbol, c.coll.Programs[goTLSReturnProg], fn.Offset, off); err != nil {
				closeLinks(links)
				return nil, err
			}
		}
	}
	return links, nil
}

// linkPair attaches a function's (or a file's) entry probes, then its return probes, closing the first if the second
// fails; what names them in errors.
func linkPair(path, what string, entry, exit func() (link.Link, error)) ([]link.Link, error) {
	in, err := entry()
	if err != nil {
		return nil, fmt.Errorf("probe the entry of %s in %s: %w", what, path, err)
	}
	out, err := exit()
	if err != nil {
		in.Close()
		return nil, fmt.Errorf("probe the returns of %s in %s: %w", what, path, err)
	}
	return []link.Link{in, out}, nil
}

func closeLinks(links []link.Link) {
	for _, l := range links {
		l.Close()
	}
}

func tlsSymbolList() string { return strings.Join(probeSymbols(tlsProbes), ", ") }

// FindTLSTargets lists the files to probe for TLS plaintext: the OpenSSL and GnuTLS libraries (libssl.so.*,
// libgnutls.so.*) mapped by running processes or known to the dynamic linker, node on PATH, and the executables of running processes that define
// SSL_write themselves (Node.js links OpenSSL in) or are Go programs using crypto/tls. Files are named once each, by
// the path under proc's root (/proc/PID/root/... for a process in another mount namespace); the monitor's own
// executable is never named.
func FindTLSTargets(proc procfs.FS) []string {
	return newTLSFinder(proc, nil).find()
}

// tlsFinder remembers what it has looked at, so that watch's periodic rescan reads the maps of new processes only and
// judges each file (an ELF symbol table: node's is large) once.
type tlsFinder struct {
	proc    procfs.FS
	traced  func(pid int) bool   // nil: every process is of interest
	scanned bool                 // ldconfig and PATH were looked at
	pids    map[int]procSeen     // processes already looked at, as they were then
	judged  map[[2]uint64]bool   // files already judged, by device and inode: a file is a target at most once
	paths   map[string][2]uint64 // path -> file, to skip a path's stat and judgement
	// runpaths caches, by executable file and the directory its processes see it in ($ORIGIN), where the dynamic
	// linker would look for its TLS libraries (runpathCandidates): every process of a program shares one read of
	// its ELF header.
	runpaths map[runpathKey][][]string
}

type runpathKey struct {
	file   [2]uint64
	origin string
}

// procSeen is what the finder saw of a process: a process that execs, or that becomes traced, is looked at again.
type procSeen struct {
	exe    string
	traced bool
}

func newTLSFinder(proc procfs.FS, traced func(int) bool) *tlsFinder {
	f := &tlsFinder{proc: proc, traced: traced, pids: map[int]procSeen{}, judged: map[[2]uint64]bool{},
		paths: map[string][2]uint64{}, runpaths: map[runpathKey][][]string{}}
	if self, err := fileID("/proc/self/exe"); err == nil {
		f.judged[self] = true // the monitor's TLS is its own business (the programs skip it anyway)
	}
	return f
}

// fileID names a file by device and inode.
func fileID(path string) ([2]uint64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return [2]uint64{}, err
	}
	if !st.Mode().IsRegular() {
		return [2]uint64{}, fmt.Errorf("%s is not a regular file", path)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return [2]uint64{}, fmt.Errorf("%s: no inode", path)
	}
	return [2]uint64{uint64(sys.Dev), sys.Ino}, nil
}

// executable adds a program about to be started (watch's COMMAND): it returns the path once, if the program is a
// target, and the TLS libraries it loads from its own run path, so they can be probed before its first TLS call.
func (f *tlsFinder) executable(path string) []string {
	out := f.judge(path)
	for _, lib := range f.runpathTLSLibs(path, hostView("/proc/self/root")) {
		out = append(out, f.judge(lib)...)
	}
	return out
}

// find returns the targets not returned before. Shared libraries and Node.js are probed for every process; a
// process's own executable (a Go program) only when the process is traced: each Go program costs uprobes of its own
// (at its functions' returns), and detaching uprobes is slow.
func (f *tlsFinder) find() []string {
	var out []string
	add := func(path string) { out = append(out, f.judge(path)...) }
	if !f.scanned {
		f.scanned = true
		for _, lib := range ldconfigTLSLibs() {
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
		out = append(out, f.process(p)...)
	}
	for pid := range f.pids { // a reused pid is a new process
		if !alive[pid] {
			delete(f.pids, pid)
		}
	}
	slices.Sort(out)
	return out
}

// process returns the targets of one process not returned before: the TLS libraries it maps, and its executable if
// the process is traced or is Node.js.
func (f *tlsFinder) process(p procfs.Proc) []string {
	dir := filepath.Join(f.proc.Root, fmt.Sprint(p.Pid))
	exe, _ := os.Readlink(filepath.Join(dir, "exe"))
	seen := procSeen{exe: exe, traced: f.traced == nil || f.traced(p.Pid)}
	if old, ok := f.pids[p.Pid]; ok && old == seen {
		return nil
	}
	f.pids[p.Pid] = seen
	var out []string
	host := hostView(filepath.Join(dir, "root"))
	for _, lib := range mappedTLSLibs(f.proc, p.Pid) {
		out = append(out, f.judge(host(lib))...)
	}
	if exe != "" {
		// A process that just exec'd maps its libraries only once the dynamic linker runs; those it finds through
		// its run path (not the linker's cache, probed at start) are named from its ELF header now, before its
		// first TLS call rather than at the next rescan.
		for _, lib := range f.runpathTLSLibs(exe, host) {
			out = append(out, f.judge(lib)...)
		}
	}
	if exe != "" && (seen.traced || p.Comm == "node" || p.Comm == "nodejs") {
		out = append(out, f.judge(host(exe))...)
	}
	return out
}

// judge returns path when it is a target not seen before under any path.
func (f *tlsFinder) judge(path string) []string {
	if _, ok := f.paths[path]; ok || path == "" {
		return nil
	}
	id, err := fileID(path)
	if err != nil {
		return nil
	}
	f.paths[path] = id
	if f.judged[id] { // one path per file: a uprobe twice on one file would copy its bytes twice
		return nil
	}
	f.judged[id] = true
	if isTLSLib(filepath.Base(path)) || hasTLSFuncs(path) {
		return []string{path}
	}
	return nil
}

// hasTLSFuncs reports whether an executable has functions to probe: crypto/tls's (*Conn).Write in a Go program,
// SSL_write in anything else (Node.js links OpenSSL in). A Go program's symbol table is read once, not also for
// OpenSSL's names.
func hasTLSFuncs(path string) bool {
	bin, err := gobin.Open(path)
	if err != nil {
		_, ok := funcOffsets(path, []string{"SSL_write"})["SSL_write"]
		return ok
	}
	defer bin.Close()
	_, err = bin.Func(goTLSProbes[0].symbol)
	return err == nil
}

// hostView returns the function that names a path, as the process whose root link is root (/proc/PID/root) sees
// it, from this process: through root unless the process shares this one's mount namespace and root directory. The
// link's target alone does not tell: a process in another mount namespace (a container, `unshare -m`) has a root
// that reads "/" too, over files this process cannot see. The links are read once, here.
func hostView(root string) func(path string) string {
	if target, err := os.Readlink(root); err == nil && target == "/" && sameMountNamespace(filepath.Dir(root)) {
		return func(path string) string { return path }
	}
	return func(path string) string { return filepath.Join(root, path) }
}

// sameMountNamespace tells whether the process whose /proc directory is dir is in this process's mount namespace;
// true when either namespace cannot be read (a /proc without ns links, as in tests).
func sameMountNamespace(dir string) bool {
	theirs, err1 := os.Readlink(filepath.Join(dir, "ns", "mnt"))
	ours, err2 := os.Readlink("/proc/self/ns/mnt")
	return err1 != nil || err2 != nil || theirs == ours
}

// isTLSLib tells whether a file's base name is that of a TLS library probed: OpenSSL's libssl.so.*, GnuTLS's
// libgnutls.so.* (not libgnutls-openssl.so, GnuTLS's OpenSSL API over the same record functions: its SSL_write
// would be a second copy of the bytes gnutls_record_send moves).
func isTLSLib(base string) bool {
	return strings.Contains(base, "libssl.so") || strings.HasPrefix(base, "libgnutls.so")
}

// mappedTLSLibs lists the TLS libraries a process maps.
func mappedTLSLibs(proc procfs.FS, pid int) []string {
	return mappedFiles(proc, pid, isTLSLib)
}

// mappedFiles lists the files a process maps whose base name match accepts, as its maps name them.
func mappedFiles(proc procfs.FS, pid int, match func(base string) bool) []string {
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
		if match(filepath.Base(path)) && !slices.Contains(out, path) {
			out = append(out, path)
		}
	}
	return out
}

// runpathTLSLibs lists the TLS libraries (isTLSLib) the executable exe needs that its DT_RUNPATH or DT_RPATH names a
// directory for, as the dynamic linker would find them: in the first directory holding the library. exe is as its
// process sees it, and host maps such a path to one this process can open (hostView); the libraries are returned so
// mapped. Libraries found through the linker's cache are not listed (ldconfigTLSLibs has them).
func (f *tlsFinder) runpathTLSLibs(exe string, host func(string) string) []string {
	id, err := fileID(host(exe))
	if err != nil {
		return nil
	}
	key := runpathKey{file: id, origin: filepath.Dir(exe)}
	libs, ok := f.runpaths[key]
	if !ok {
		libs = runpathCandidates(host(exe), key.origin)
		f.runpaths[key] = libs
	}
	var out []string
	for _, candidates := range libs {
		for _, path := range candidates {
			if st, err := os.Stat(host(path)); err == nil && st.Mode().IsRegular() {
				out = append(out, host(path))
				break
			}
		}
	}
	return out
}

// runpathCandidates reads the ELF file at path and returns, for each TLS library it needs, where its DT_RUNPATH and
// DT_RPATH say to look, in order ($ORIGIN, the executable's directory as its process sees it, is origin); nil when
// it needs none.
func runpathCandidates(path, origin string) [][]string {
	file, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer file.Close()
	return runpathCandidatesIn(file, origin)
}

// runpathCandidatesIn is runpathCandidates of the ELF file r.
func runpathCandidatesIn(r io.ReaderAt, origin string) (libs [][]string) {
	// As in funcOffsetsIn: the files are any process's, and a panic in debug/elf while reading one finds nothing.
	defer func() {
		if recover() != nil {
			libs = nil
		}
	}()
	f, err := elf.NewFile(r)
	if err != nil {
		return nil
	}
	needed, _ := dynStrings(f, elf.DT_NEEDED)
	if !slices.ContainsFunc(needed, isTLSLib) {
		return nil // most programs: no search path to read
	}
	var dirs []string
	for _, tag := range []elf.DynTag{elf.DT_RUNPATH, elf.DT_RPATH} {
		paths, _ := dynStrings(f, tag)
		for _, p := range paths {
			for _, d := range strings.Split(p, ":") {
				if d = strings.ReplaceAll(strings.ReplaceAll(d, "${ORIGIN}", "$ORIGIN"), "$ORIGIN", origin); d != "" {
					dirs = append(dirs, d)
				}
			}
		}
	}
	for _, name := range needed {
		if !isTLSLib(name) || len(dirs) == 0 {
			continue
		}
		candidates := make([]string, len(dirs))
		for i, d := range dirs {
			candidates[i] = filepath.Join(d, name)
		}
		libs = append(libs, candidates)
	}
	return libs
}

// ldconfigTLSLibs lists the TLS libraries the dynamic linker's cache knows.
func ldconfigTLSLibs() []string {
	out, err := exec.Command("ldconfig", "-p").Output()
	if err != nil {
		return nil
	}
	var libs []string
	for _, line := range strings.Split(string(out), "\n") {
		name, path, ok := strings.Cut(line, "=>")
		if !ok || !isTLSLib(strings.TrimSpace(name)) {
			continue
		}
		if real, err := filepath.EvalSymlinks(strings.TrimSpace(path)); err == nil {
			libs = append(libs, real)
		}
	}
	return libs
}

// probeSymbols returns the functions the probes are attached to.
func probeSymbols(probes []tlsProbe) []string {
	names := make([]string, len(probes))
	for i, p := range probes {
		names[i] = p.symbol
	}
	return names
}

// SweepTLSCalls deletes the saved TLS calls (mcps_tls_calls, mcps_tls_go_calls) of processes that no longer exist,
// as alive tells, and returns how many it deleted. The maps are plain hashes (c/tls.h says why not LRU ones), so a
// thread killed inside a call would keep its entry for good; watch sweeps at each rescan.
func (c *Capture) SweepTLSCalls(alive func(pid int) bool) (int, error) {
	byThread, err1 := sweepCalls(c.coll.Maps["mcps_tls_calls"], func(_ uint32, call *bpf.TLSCall) bool { return !alive(int(call.Tgid)) })
	byGoroutine, err2 := sweepCalls(c.coll.Maps["mcps_tls_go_calls"], func(k bpf.GoCallKey, _ *bpf.TLSCall) bool { return !alive(int(k.Tgid)) })
	if err := errors.Join(err1, err2); err != nil {
		return byThread + byGoroutine, fmt.Errorf("sweep the TLS calls of exited processes: %w", err)
	}
	return byThread + byGoroutine, nil
}

// sweepCalls deletes the entries of a map of saved calls (nil: not loaded) that dead picks.
func sweepCalls[K any](m *ebpf.Map, dead func(K, *bpf.TLSCall) bool) (int, error) {
	if m == nil {
		return 0, nil
	}
	var (
		key  K
		call bpf.TLSCall
		gone []K
	)
	it := m.Iterate()
	for it.Next(&key, &call) {
		if dead(key, &call) {
			gone = append(gone, key)
		}
	}
	deleted := 0
	for _, k := range gone {
		if m.Delete(k) == nil { // a call may have returned meanwhile
			deleted++
		}
	}
	return deleted, it.Err()
}

// TLSProber attaches the TLS uprobes to every target the finder names, once per file, and again later for files
// that appeared since (a program started after the monitor with a libssl of its own, in a container).
type TLSProber struct {
	capt   *Capture
	finder *tlsFinder
}

// NewTLSProber returns a prober for c, finding targets through proc: in filter mode, the executables of traced
// processes only.
func NewTLSProber(c *Capture, proc procfs.FS) *TLSProber {
	return &TLSProber{capt: c, finder: newTLSFinder(proc, c.Traces)}
}

// Scan probes the targets found since the last scan. It returns those it probed, and an error for each it could not
// probe.
func (p *TLSProber) Scan() ([]TLSTarget, []error) { return p.attach(p.finder.find()) }

// ScanExecutable probes the program at path, if it is a target not probed yet: watch calls it for its COMMAND
// before starting it, so that a short-lived program's first TLS calls are seen.
func (p *TLSProber) ScanExecutable(path string) ([]TLSTarget, []error) {
	return p.attach(p.finder.executable(path))
}

// ScanProcess probes what a process that just exec'd brings (Capture.Execs), if not probed yet.
func (p *TLSProber) ScanProcess(pid int) ([]TLSTarget, []error) {
	comm := p.finder.proc.Comm(pid)
	if comm == "" {
		return nil, nil // gone already
	}
	return p.attach(p.finder.process(procfs.Proc{Pid: pid, Comm: comm}))
}

func (p *TLSProber) attach(paths []string) ([]TLSTarget, []error) {
	var probed []TLSTarget
	var errs []error
	for _, path := range paths {
		target, err := p.capt.AttachTLS(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		probed = append(probed, target)
	}
	return probed, errs
}
