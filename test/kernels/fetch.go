package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// kernel is one Debian kernel of the matrix.
type kernel struct {
	name    string // what -kernels and docs/kernels.md call it
	suite   string // Debian suite the package comes from
	pkg     string // package (meta packages are followed to the current ABI)
	comment string
}

// catalogue is every kernel the runner knows, oldest first. The first and last are what `make test-kernels-ci` runs.
var catalogue = []kernel{
	{"5.10", "bullseye", "linux-image-amd64", "Debian 11 (bullseye)"},
	{"6.1", "bookworm", "linux-image-amd64", "Debian 12 (bookworm)"},
	{"6.12", "bookworm", "linux-image-6.12-amd64", "Debian 12 (bookworm), 6.12 package"},
	{"sid", "sid", "linux-image-amd64", "Debian unstable (sid): the newest Debian kernel"},
}

// unpacked is a kernel ready to boot: its release and the root of the unpacked packages.
type unpacked struct {
	kernel
	release string // e.g. 6.1.0-41-amd64
	root    string // $cache/kernels/RELEASE
}

func (u unpacked) vmlinuz() string { return filepath.Join(u.root, "boot", "vmlinuz-"+u.release) }

// fetcher downloads Debian kernel packages with a private apt configuration per suite: the host's own sources,
// lists and archives are never touched.
type fetcher struct {
	cache   string
	refresh bool // resolve meta packages again (apt update) even when a kernel is cached
	log     func(format string, args ...any)
}

// fetch returns k unpacked, downloading it unless the cache has it. The release a name resolves to is remembered
// ($cache/NAME.release), so a warm cache needs no network; -refresh resolves it again.
func (f *fetcher) fetch(ctx context.Context, k kernel) (unpacked, error) {
	u := unpacked{kernel: k}
	pin := filepath.Join(f.cache, k.name+".release")
	if b, err := os.ReadFile(pin); err == nil && !f.refresh {
		u.release = strings.TrimSpace(string(b))
		u.root = filepath.Join(f.cache, "kernels", u.release)
		if _, err := os.Stat(u.vmlinuz()); err == nil {
			return u, nil
		}
	}
	a, err := f.apt(ctx, k.suite)
	if err != nil {
		return u, err
	}
	// Follow meta packages: linux-image-amd64 -> linux-image-6.1.0-NN-amd64.
	img := k.pkg
	for {
		deps, err := a.depends(ctx, img)
		if err != nil {
			return u, err
		}
		next := ""
		for _, d := range deps {
			if strings.HasPrefix(d, "linux-image-") {
				next = d
				break
			}
		}
		if next == "" {
			break
		}
		img = next
	}
	u.release = strings.TrimSuffix(strings.TrimPrefix(img, "linux-image-"), "-unsigned")
	u.root = filepath.Join(f.cache, "kernels", u.release)
	if _, err := os.Stat(u.vmlinuz()); err == nil {
		return u, os.WriteFile(pin, []byte(u.release+"\n"), 0o644)
	}
	// Debian 13 and later split the kernel into linux-binary-, linux-modules- and linux-base- packages.
	pkgs := []string{img}
	deps, err := a.depends(ctx, img)
	if err != nil {
		return u, err
	}
	for _, d := range deps {
		switch d {
		case "linux-binary-" + u.release, "linux-modules-" + u.release, "linux-base-" + u.release:
			pkgs = append(pkgs, d)
		}
	}
	f.log("%s: downloading %s from %s", k.name, strings.Join(pkgs, " "), k.suite)
	debs := filepath.Join(f.cache, "debs", u.release)
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return u, err
	}
	if err := a.run(ctx, debs, "apt-get", append([]string{"download", "-qq"}, pkgs...)...); err != nil {
		return u, fmt.Errorf("download %s: %w", strings.Join(pkgs, " "), err)
	}
	tmp := u.root + ".partial"
	_ = os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return u, err
	}
	files, _ := filepath.Glob(filepath.Join(debs, "*.deb"))
	for _, deb := range files {
		if out, err := exec.CommandContext(ctx, "dpkg", "-x", deb, tmp).CombinedOutput(); err != nil {
			return u, fmt.Errorf("unpack %s: %v: %s", deb, err, out)
		}
	}
	// Usr-merged packages (Debian 13 and later) put the modules and the image under usr/lib/modules.
	if _, err := os.Stat(filepath.Join(tmp, "lib", "modules")); errors.Is(err, os.ErrNotExist) {
		if err := os.Symlink("usr/lib", filepath.Join(tmp, "lib")); err != nil {
			return u, err
		}
	}
	vmlinuz := filepath.Join(tmp, "boot", "vmlinuz-"+u.release)
	if _, err := os.Stat(vmlinuz); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(vmlinuz), 0o755); err != nil {
			return u, err
		}
		if err := os.Symlink("../usr/lib/modules/"+u.release+"/vmlinuz", vmlinuz); err != nil {
			return u, err
		}
	}
	// Debian generates modules.dep at install time; the host's depmod does it for the unpacked tree.
	if out, err := exec.CommandContext(ctx, "depmod", "-b", tmp, u.release).CombinedOutput(); err != nil {
		return u, fmt.Errorf("depmod for %s: %v: %s", u.release, err, out)
	}
	if _, err := os.Stat(vmlinuz); err != nil {
		return u, fmt.Errorf("package %s has no kernel image: %w", img, err)
	}
	if err := os.Rename(tmp, u.root); err != nil {
		return u, err
	}
	_ = os.RemoveAll(debs)
	return u, os.WriteFile(pin, []byte(u.release+"\n"), 0o644)
}

// aptSuite is apt with a private configuration for one suite.
type aptSuite struct {
	dir  string
	opts []string
}

// apt returns the private apt configuration for suite, running apt-get update once per fetcher run (or when the
// cache has no lists yet).
func (f *fetcher) apt(ctx context.Context, suite string) (*aptSuite, error) {
	dir := filepath.Join(f.cache, "apt", suite)
	a := &aptSuite{dir: dir, opts: []string{
		"-o", "Dir::Etc::sourcelist=" + filepath.Join(dir, "sources.list"),
		"-o", "Dir::Etc::sourceparts=-",
		"-o", "Dir::State::lists=" + filepath.Join(dir, "lists"),
		"-o", "Dir::State::status=" + filepath.Join(dir, "status"),
		"-o", "Dir::Cache=" + filepath.Join(dir, "cache"),
		"-o", "APT::Sandbox::User=root",
	}}
	stamp := filepath.Join(dir, "updated")
	if _, err := os.Stat(stamp); err == nil && !f.refresh {
		return a, nil
	}
	main, security, err := hostMirrors()
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"lists/partial", "cache/archives/partial"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	sources := fmt.Sprintf("deb %s %s main\n", main, suite)
	if suite != "sid" && suite != "unstable" && security != "" {
		sources += fmt.Sprintf("deb %s %s-security main\n", security, suite)
	}
	if err := os.WriteFile(filepath.Join(dir, "sources.list"), []byte(sources), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "status"), nil, 0o644); err != nil {
		return nil, err
	}
	f.log("apt: updating the package lists of %s (private to %s)", suite, dir)
	if err := a.run(ctx, "", "apt-get", "update", "-qq"); err != nil {
		return nil, fmt.Errorf("apt-get update for %s: %w", suite, err)
	}
	return a, os.WriteFile(stamp, nil, 0o644)
}

func (a *aptSuite) run(ctx context.Context, dir, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, append(append([]string{}, a.opts...), args...)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// depends lists the packages pkg depends on (first alternative of each).
func (a *aptSuite) depends(ctx context.Context, pkg string) ([]string, error) {
	out, err := exec.CommandContext(ctx, "apt-cache", append(append([]string{}, a.opts...), "depends", pkg)...).Output()
	if err != nil {
		return nil, fmt.Errorf("apt-cache depends %s: %w (is the package in this suite?)", pkg, err)
	}
	var deps []string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 2 && (fields[0] == "Depends:" || fields[0] == "|Depends:") {
			deps = append(deps, fields[1])
		}
	}
	return deps, nil
}

// hostMirrors returns the Debian mirror and security mirror this host's apt uses (deb822 or one-line sources).
func hostMirrors() (main, security string, err error) {
	var uris []string
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	lists, _ := filepath.Glob("/etc/apt/sources.list.d/*.list")
	for _, f := range append(append(files, "/etc/apt/sources.list"), lists...) {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			fields := strings.Fields(line)
			switch {
			case len(fields) > 1 && fields[0] == "URIs:":
				uris = append(uris, fields[1:]...)
			case len(fields) > 1 && fields[0] == "deb":
				for _, f := range fields[1:] {
					if strings.HasPrefix(f, "http:") || strings.HasPrefix(f, "https:") {
						uris = append(uris, f)
						break
					}
				}
			}
		}
	}
	for _, u := range uris {
		if !strings.Contains(strings.ToLower(u), "debian") {
			continue
		}
		if strings.Contains(u, "-security") {
			if security == "" {
				security = u
			}
		} else if main == "" {
			main = u
		}
	}
	if main == "" {
		return "", "", errors.New("no Debian mirror in this host's apt sources (/etc/apt/sources.list*): the kernels are Debian packages")
	}
	return main, security, nil
}
