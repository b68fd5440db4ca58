package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"strings"
)

// guestModules are what the guest needs that Debian builds as modules: virtio-pci (the 9p and rng devices),
// virtio-rng (entropy, so nothing blocks on getrandom), 9p over virtio (the host's files) and overlayfs.
var guestModules = []string{"virtio_pci", "virtio_rng", "9pnet_virtio", "9p", "overlay"}

// buildInitrd writes a gzip'd newc cpio archive: init as /init, the guest modules (decompressed, in dependency
// order) and /etc/modules.list naming them. modprobe resolves the dependencies against the unpacked kernel's
// modules.dep, as it would on the guest.
func buildInitrd(ctx context.Context, k unpacked, init []byte, out string) error {
	var list []string
	seen := map[string]bool{}
	files := map[string][]byte{}
	for _, m := range guestModules {
		cmd := exec.CommandContext(ctx, "modprobe", "-d", k.root, "-S", k.release, "--show-depends", m)
		b, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("modprobe --show-depends %s for %s: %w", m, k.release, err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) < 2 || f[0] != "insmod" || seen[f[1]] { // "builtin NAME" needs nothing
				continue
			}
			seen[f[1]] = true
			data, err := readModule(ctx, f[1])
			if err != nil {
				return err
			}
			rel := strings.TrimPrefix(strings.TrimPrefix(f[1], k.root), "/usr")
			rel = strings.TrimSuffix(strings.TrimSuffix(rel, ".xz"), ".zst")
			files[rel] = data
			list = append(list, rel)
		}
	}
	files["/etc/modules.list"] = []byte(strings.Join(list, "\n") + "\n")

	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	w := &cpioWriter{w: zw}
	dirs := map[string]bool{}
	addDirs := func(p string) {
		var parents []string
		for d := path.Dir(p); d != "/" && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
			parents = append([]string{d}, parents...)
		}
		for _, d := range parents {
			w.add(d, 0o40755, nil)
		}
	}
	for _, d := range []string{"/proc", "/sys", "/dev", "/tmp", "/mnt", "/newroot"} {
		addDirs(d + "/x")
	}
	w.add("/init", 0o100755, init)
	for _, rel := range append(list, "/etc/modules.list") {
		addDirs(rel)
		w.add(rel, 0o100644, files[rel])
	}
	w.trailer()
	if w.err != nil {
		return w.err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(out, buf.Bytes(), 0o644)
}

// readModule returns a module file, decompressed (Debian 12 ships .ko, 13 .ko.xz, sid .ko.xz or .ko.zst).
func readModule(ctx context.Context, p string) ([]byte, error) {
	var tool string
	switch {
	case strings.HasSuffix(p, ".xz"):
		tool = "xz"
	case strings.HasSuffix(p, ".zst"):
		tool = "zstd"
	default:
		return os.ReadFile(p)
	}
	out, err := exec.CommandContext(ctx, tool, "-dc", p).Output()
	if err != nil {
		return nil, fmt.Errorf("decompress %s: %w", p, err)
	}
	return out, nil
}

// cpioWriter writes the "newc" format the kernel unpacks as an initramfs.
type cpioWriter struct {
	w   io.Writer
	n   int64
	ino int
	err error
}

func (c *cpioWriter) add(name string, mode uint32, data []byte) {
	c.ino++
	name = strings.TrimPrefix(name, "/")
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name)+1, 0)
	c.write([]byte(hdr))
	c.write(append([]byte(name), 0))
	c.pad()
	c.write(data)
	c.pad()
}

func (c *cpioWriter) trailer() { c.add("TRAILER!!!", 0, nil) }

func (c *cpioWriter) pad() {
	if r := c.n % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

func (c *cpioWriter) write(b []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(b)
	c.n += int64(n)
	c.err = err
}
