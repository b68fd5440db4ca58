package capture

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"

	"github.com/mcpscope/mcpscope/internal/bpf"
	"github.com/mcpscope/mcpscope/internal/procfs"
)

// cudaFuncs are the CUDA driver API functions whose calls footprints count (c/footprint.c, fp_cuda_call): launches,
// memory, copies, contexts, modules and synchronisation, under the names libcuda exports (the _v2 and later ABI
// versions included). A counter's function is its index here, carried as the probe's cookie.
var cudaFuncs = []string{
	"cuInit",
	"cuCtxCreate", "cuCtxCreate_v2", "cuCtxCreate_v3", "cuCtxCreate_v4", "cuCtxSynchronize",
	"cuDevicePrimaryCtxRetain",
	"cuModuleLoad", "cuModuleLoadData", "cuModuleLoadDataEx", "cuModuleGetFunction", "cuLibraryLoadData",
	"cuLaunchKernel", "cuLaunchKernel_ptsz", "cuLaunchKernelEx", "cuLaunchKernelEx_ptsz", "cuLaunchCooperativeKernel",
	"cuMemAlloc", "cuMemAlloc_v2", "cuMemAllocManaged", "cuMemAllocHost", "cuMemAllocHost_v2", "cuMemAllocAsync",
	"cuMemFree", "cuMemFree_v2", "cuMemFreeAsync",
	"cuMemcpy", "cuMemcpyAsync", "cuMemcpy_ptds", "cuMemcpyAsync_ptsz",
	"cuMemcpyHtoD", "cuMemcpyHtoD_v2", "cuMemcpyHtoDAsync", "cuMemcpyHtoDAsync_v2",
	"cuMemcpyDtoH", "cuMemcpyDtoH_v2", "cuMemcpyDtoHAsync", "cuMemcpyDtoHAsync_v2",
	"cuMemcpyDtoD", "cuMemcpyDtoD_v2", "cuMemcpyDtoDAsync", "cuMemcpyDtoDAsync_v2",
	"cuStreamCreate", "cuStreamSynchronize", "cuStreamSynchronize_ptsz", "cuEventSynchronize",
	"cuGraphLaunch",
}

const (
	cudaProg      = "mcps_fp_cuda"
	cudaMultiProg = "mcps_fp_cuda_m"
)

// CUDAFunc returns the name of the CUDA driver function a footprint counter stands for, when its number is one
// (bpf.FPNrCUDA and up).
func CUDAFunc(nr int) (string, bool) {
	i := nr - bpf.FPNrCUDA
	if i < 0 || i >= len(cudaFuncs) {
		return "", false
	}
	return cudaFuncs[i], true
}

// keepCUDAProbeKind keeps the CUDA program this kernel can load: the uprobe_multi one with multi (one link per
// library), else the perf-event one where uprobes have attach cookies (Linux 5.15), else neither.
func keepCUDAProbeKind(spec *ebpf.CollectionSpec, multi bool) {
	if multi {
		delete(spec.Programs, cudaProg)
		return
	}
	delete(spec.Programs, cudaMultiProg)
	if features.HaveProgramHelper(ebpf.Kprobe, asm.FnGetAttachCookie) != nil {
		delete(spec.Programs, cudaProg)
	}
}

// CUDACounting says why this capture cannot count CUDA driver calls, or nil when it can: its kernel kept a CUDA
// program (uprobe_multi, or perf-event uprobes with attach cookies) and footprints are on.
func (c *Capture) CUDACounting() error {
	if c.fp == nil || c.coll.Programs[cudaMultiProg] == nil && c.coll.Programs[cudaProg] == nil {
		return errors.New("counting CUDA driver calls needs uprobes with attach cookies (Linux 5.15) and footprints on")
	}
	return nil
}

// AttachCUDA probes the CUDA driver API functions that the library at path (a libcuda) defines, so that the calls of
// processes in footprint trees are counted; once per file. It returns the functions probed.
func (c *Capture) AttachCUDA(path string) ([]string, error) {
	if err := c.CUDACounting(); err != nil {
		return nil, err
	}
	multi := c.coll.Programs[cudaMultiProg]
	single := c.coll.Programs[cudaProg]
	id, err := fileID(path)
	if err != nil {
		return nil, err
	}
	offsets := funcOffsets(path, cudaFuncs)
	var names []string
	var addrs, cookies []uint64
	for i, name := range cudaFuncs {
		if off, ok := offsets[name]; ok {
			names, addrs = append(names, name), append(addrs, off)
			cookies = append(cookies, uint64(i))
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s defines none of the CUDA driver functions counted (%s, ...)", path, strings.Join(cudaFuncs[:3], ", "))
	}
	c.tlsMu.Lock()
	defer c.tlsMu.Unlock()
	if c.tlsDetached != nil {
		return nil, errors.New("capture has stopped")
	}
	if c.cudaFiles[id] {
		return names, nil
	}
	ex, err := link.OpenExecutable(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	var links []link.Link
	if multi != nil {
		l, err := ex.UprobeMulti(names, multi, &link.UprobeMultiOptions{Addresses: addrs, Cookies: cookies})
		if err != nil {
			return nil, fmt.Errorf("probe the CUDA driver functions of %s: %w", path, err)
		}
		links = append(links, l)
	} else {
		for i, name := range names {
			l, err := ex.Uprobe(name, single, &link.UprobeOptions{Address: addrs[i], Cookie: cookies[i]})
			if err != nil {
				closeLinks(links)
				return nil, fmt.Errorf("probe %s in %s: %w", name, path, err)
			}
			links = append(links, l)
		}
	}
	if c.cudaFiles == nil {
		c.cudaFiles = map[[2]uint64]bool{}
	}
	c.cudaFiles[id] = true
	c.tlsLinks = append(c.tlsLinks, links...) // detached with the TLS probes, after the syscall hooks
	return names, nil
}

// IsCUDADriver tells whether path names the CUDA driver library (libcuda.so and its versions).
func IsCUDADriver(path string) bool {
	base := path[strings.LastIndexByte(path, '/')+1:]
	return base == "libcuda.so" || strings.HasPrefix(base, "libcuda.so.")
}

// CUDAProber attaches the CUDA driver probes to each libcuda that a process of a footprint tree opens, or maps
// already when its tree is made, once per file.
type CUDAProber struct {
	capt *Capture
	proc procfs.FS
	done map[string]bool // host paths already probed, or refused
}

// NewCUDAProber returns a prober for c, which resolves processes' paths through proc.
func NewCUDAProber(c *Capture, proc procfs.FS) *CUDAProber {
	return &CUDAProber{capt: c, proc: proc, done: map[string]bool{}}
}

// Opened looks at a footprint record: an open of a libcuda that succeeded gets the library probed. It returns the
// library's path and the functions probed when it did, and nothing for any other record.
func (p *CUDAProber) Opened(e *Event) (string, []string, error) {
	// Every open of every tree comes here: the common case leaves before allocating.
	if e.Kind != KindFPFile || e.FP.Result < 0 || !bytes.Contains(e.FP.Data, []byte("libcuda.so")) {
		return "", nil, nil
	}
	path := string(e.FP.Data)
	if !strings.HasPrefix(path, "/") {
		path = filepath.Join(e.FP.Dir, path)
	}
	if !IsCUDADriver(path) {
		return "", nil, nil
	}
	return p.probe(e.Pid, path)
}

// Mapped probes the libcuda files the processes pids map (a server and its children, made a tree now).
func (p *CUDAProber) Mapped(pids ...int) ([]string, error) {
	var probed []string
	var errs []error
	for _, pid := range pids {
		for _, path := range mappedFiles(p.proc, pid, func(base string) bool { return IsCUDADriver(base) }) {
			host, _, err := p.probe(pid, path)
			if err != nil {
				errs = append(errs, err)
			} else if host != "" {
				probed = append(probed, host)
			}
		}
	}
	return probed, errors.Join(errs...)
}

func (p *CUDAProber) probe(pid int, path string) (string, []string, error) {
	host := hostView(filepath.Join(p.proc.Root, fmt.Sprint(pid), "root"))(path)
	if p.done[host] {
		return "", nil, nil
	}
	p.done[host] = true
	funcs, err := p.capt.AttachCUDA(host)
	if err != nil {
		return "", nil, err
	}
	return host, funcs, nil
}

// cudaDirs are where drivers install libcuda beside the linker's cache: distribution packages, NVIDIA's runfile and
// CUDA toolkit (compat), the NVIDIA container toolkit, WSL.
var cudaDirs = []string{
	"/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib", "/lib64",
	"/usr/local/cuda/lib64", "/usr/local/cuda/compat", "/usr/local/nvidia/lib64", "/usr/lib/wsl/lib",
}

// InstalledCUDADrivers returns the libcuda files of this host (its mount namespace): those the dynamic linker's
// cache names (`ldconfig -p`) and those in the usual directories (cudaDirs).
func InstalledCUDADrivers() []string {
	var paths []string
	if out, err := exec.Command("ldconfig", "-p").Output(); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			_, path, ok := strings.Cut(sc.Text(), " => ")
			if ok && IsCUDADriver(path) {
				paths = append(paths, path)
			}
		}
	}
	for _, dir := range cudaDirs {
		found, _ := filepath.Glob(filepath.Join(dir, "libcuda.so*"))
		paths = append(paths, found...)
	}
	return paths
}

// Preload probes, before any process opens them, the CUDA driver libraries at paths (the user's) and those
// installed on the host (InstalledCUDADrivers), so that a program's first calls (cuInit right after loading the
// library) are counted too, not only those after the monitor saw the library opened. Each file is probed once,
// whatever its names. It returns the files probed; err names the user's paths that could not be (a path that is no
// CUDA driver), skipped the installed libraries that could not be (tried again when a traced process opens them).
func (p *CUDAProber) Preload(paths ...string) (probed []string, skipped, err error) {
	var errs, skips []error
	try := func(path string, users bool) {
		resolved, err := filepath.EvalSymlinks(path)
		if err != nil {
			if users {
				errs = append(errs, fmt.Errorf("CUDA driver library %s: %w", path, err))
			}
			return // an installed name whose file is gone: nothing to probe
		}
		if abs, err := filepath.Abs(resolved); err == nil {
			resolved = abs
		}
		if p.done[resolved] {
			p.done[path] = true
			return
		}
		if _, err := p.capt.AttachCUDA(resolved); err != nil {
			if users {
				errs = append(errs, err)
			} else {
				skips = append(skips, err)
			}
			return
		}
		p.done[resolved], p.done[path] = true, true
		probed = append(probed, resolved)
	}
	for _, path := range paths {
		if abs, err := filepath.Abs(path); err == nil {
			path = abs
		}
		try(path, true)
	}
	for _, path := range InstalledCUDADrivers() {
		try(path, false)
	}
	return probed, oneLine(skips), errors.Join(errs...)
}

// oneLine joins errs as one error on one line ("; " between them, not errors.Join's newlines): skipped libraries are
// logged as one line and shown in a cell of check's table. Each stays reachable with errors.Is and errors.As.
func oneLine(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	format := strings.Repeat("%w; ", len(errs))
	args := make([]any, len(errs))
	for i, err := range errs {
		args[i] = err
	}
	return fmt.Errorf(format[:len(format)-2], args...)
}
