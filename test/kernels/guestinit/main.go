// Command guestinit is PID 1 of the throw-away qemu guests of the kernel-matrix runner (test/kernels). It is built
// static and is the only program in the initramfs besides the kernel modules the guest needs.
//
// It mounts the kernel filesystems, loads the modules listed in /etc/modules.list (virtio-pci, virtio-rng, 9p,
// overlayfs), mounts the host's root filesystem (9p tag "hostroot", read-only) under an in-memory overlay, mounts
// the host directory shared writable (9p tag "share") at the path named by mcpscope.share= on the kernel command
// line, chroots into the host root and runs the steps of the plan it finds there (package plan). After every step
// it rewrites the result file; then it powers the guest off. Everything else written in the guest is discarded.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mcpscope/mcpscope/test/kernels/plan"
)

const (
	newRoot = "/newroot"
	opts9p  = "trans=virtio,version=9p2000.L,msize=512000"
	// modulesList lists the kernel modules to load, in dependency order (written by the runner).
	modulesList = "/etc/modules.list"
	basePath    = "/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

func main() {
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "guestinit is the init of the kernel-matrix guests; the runner starts it (go run ./test/kernels)")
		os.Exit(2)
	}
	defer poweroff()
	if err := run(); err != nil {
		logf("FAILED: %v", err)
	}
}

// logf writes to the serial console, which the runner keeps as console.log.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stdout, "guestinit: "+format+"\n", args...)
}

// guestEnv is the environment of every step, before the step's own variables.
var guestEnv = []string{"PATH=" + basePath, "HOME=/root", "TMPDIR=/tmp", "LANG=C.UTF-8"}

func run() error {
	if err := mount("proc", "/proc", "proc", 0, ""); err != nil {
		return err
	}
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return err
	}
	share := cmdlineValue(string(cmdline), "mcpscope.share")
	if share == "" {
		return errors.New("no mcpscope.share= on the kernel command line")
	}
	_ = mount("devtmpfs", "/dev", "devtmpfs", 0, "")
	_ = mount("sysfs", "/sys", "sysfs", 0, "")
	if err := loadModules(); err != nil {
		return err
	}
	loopbackUp()
	if err := hostRoot(share); err != nil {
		return err
	}
	if err := unix.Chroot(newRoot); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	if err := os.Chdir("/"); err != nil {
		return err
	}
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	res := plan.Result{Kernel: unix.ByteSliceToString(uts.Release[:])}
	logf("kernel %s up", res.Kernel)
	var p plan.Plan
	if err := plan.Read(share, plan.PlanFile, &p); err != nil {
		return fmt.Errorf("read the plan: %w", err)
	}
	if err := plan.Write(share, plan.ResultFile, res); err != nil {
		return fmt.Errorf("write the result: %w", err)
	}
	for _, s := range p.Steps {
		logf("step %s: %s", s.Name, strings.Join(s.Args, " "))
		r := plan.Run(context.Background(), share, guestEnv, s)
		logf("step %s: exit %d after %v %s", s.Name, r.ExitCode, r.Duration.Round(time.Millisecond), r.Error)
		res.Steps = append(res.Steps, r)
		if err := plan.Write(share, plan.ResultFile, res); err != nil {
			return fmt.Errorf("write the result: %w", err)
		}
	}
	res.Done = true
	return plan.Write(share, plan.ResultFile, res)
}

// hostRoot builds the guest's root at newRoot: the host's / read-only with a tmpfs on top, the kernel filesystems
// mcpscope needs, and the shared directory writable at its host path. /tmp stays the host's (under the overlay,
// so writable): the repository or the cache may be there.
func hostRoot(share string) error {
	const lower, upper = "/mnt/lower", "/mnt/rw"
	if err := mount("hostroot", lower, "9p", unix.MS_RDONLY, opts9p+",cache=loose"); err != nil {
		return err
	}
	if err := mount("tmpfs", upper, "tmpfs", 0, "mode=0755"); err != nil {
		return err
	}
	for _, d := range []string{upper + "/upper", upper + "/work"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := mount("overlay", newRoot, "overlay", 0,
		"lowerdir="+lower+",upperdir="+upper+"/upper,workdir="+upper+"/work"); err != nil {
		return err
	}
	mounts := []struct{ src, dst, typ, data string }{
		{"proc", "/proc", "proc", ""},
		{"sysfs", "/sys", "sysfs", ""},
		{"devtmpfs", "/dev", "devtmpfs", ""},
		{"devpts", "/dev/pts", "devpts", ""},
		{"tmpfs", "/dev/shm", "tmpfs", ""},
		{"tmpfs", "/run", "tmpfs", "mode=0755"},
		{"cgroup2", "/sys/fs/cgroup", "cgroup2", ""},
		{"bpf", "/sys/fs/bpf", "bpf", ""},
		{"tracefs", "/sys/kernel/tracing", "tracefs", ""},
		{"debugfs", "/sys/kernel/debug", "debugfs", ""},
		{"share", share, "9p", opts9p},
	}
	for _, m := range mounts {
		if err := mount(m.src, newRoot+m.dst, m.typ, 0, m.data); err != nil {
			return err
		}
	}
	return nil
}

func mount(src, dst, typ string, flags uintptr, data string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return fmt.Errorf("mount %s: %w", dst, err)
	}
	if err := unix.Mount(src, dst, typ, flags, data); err != nil && !errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("mount %s on %s: %w", typ, dst, err)
	}
	return nil
}

// loadModules loads each module of modulesList; a module built into this kernel is not listed, one already loaded
// is fine.
func loadModules() error {
	b, err := os.ReadFile(modulesList)
	if err != nil {
		return err
	}
	for _, path := range strings.Fields(string(b)) {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		err = unix.FinitModule(int(f.Fd()), "", 0)
		f.Close()
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("load module %s: %w", path, err)
		}
	}
	return nil
}

// loopbackUp brings lo up: the guest has no other network.
func loopbackUp() {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		logf("loopback: %v", err)
		return
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err == nil {
		err = unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr)
	}
	if err == nil {
		ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
		err = unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
	}
	if err != nil {
		logf("loopback: %v", err)
	}
}

func cmdlineValue(cmdline, key string) string {
	for _, f := range strings.Fields(cmdline) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

func poweroff() {
	unix.Sync()
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	for {
		time.Sleep(time.Hour)
	}
}
