// Command gensysnames writes the syscall name tables of package footprint, sysnames_amd64.go and sysnames_arm64.go,
// from the SYS_* constants of golang.org/x/sys/unix (zsysnum_linux_<arch>.go) at the version go.mod pins, so the
// names are never typed by hand and follow x/sys when go.mod moves. It is run by go:generate in sysnames.go:
//
//	go run ./internal/gensysnames [-o dir]
//
// x/sys generates those constants from the kernel's uapi <asm/unistd.h>, whose __NR_ names are the names in the
// kernel's syscall tables (arch/x86/entry/syscalls/syscall_64.tbl, scripts/syscall.tbl for arm64), so SYS_OPENAT
// becomes "openat" by lower-casing the part after SYS_. The special cases are in skip; a number that still carries
// two names after skip stops the generator rather than guessing.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// arches are the GOARCHes mcpscope builds for; each gets a sysnames_<arch>.go.
var arches = []string{"amd64", "arm64"}

// skip lists the x/sys constants, per GOARCH, that are not syscalls of that architecture's kernel table, each with
// the reason. When x/sys gains an alias (two SYS_ names for one number), put here the one the kernel's table does
// not use (on amd64 the kernel's table calls 262 "newfstatat", so a SYS_FSTATAT = 262 would go here).
var skip = map[string]map[string]string{
	"arm64": {
		// asm-generic/unistd.h defines __NR_arch_specific_syscall (244) as the first of 16 numbers (244-259) left
		// to architectures; it names no syscall, arm64 uses none of them, and scripts/syscall.tbl has no 244.
		"SYS_ARCH_SPECIFIC_SYSCALL": "not a syscall: base of the arch-specific range, unused on arm64",
	},
}

// maxNr bounds the table, which is an array indexed by number: both architectures end below 500 today, and a
// number far beyond (an x32 or compat bit, say) means the input is not what this generator expects.
const maxNr = 2048

var validName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

func main() {
	out := flag.String("o", ".", "directory to write sysnames_<arch>.go into")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintf(os.Stderr, "gensysnames: %v\n", err)
		os.Exit(1)
	}
}

func run(outDir string) error {
	mod, err := xsysModule()
	if err != nil {
		return err
	}
	for _, arch := range arches {
		src := filepath.Join(mod.Dir, "unix", "zsysnum_linux_"+arch+".go")
		names, err := readTable(src, skip[arch])
		if err != nil {
			return fmt.Errorf("%s: %w", arch, err)
		}
		code, err := render(arch, mod.Path+"@"+mod.Version, names)
		if err != nil {
			return fmt.Errorf("%s: %w", arch, err)
		}
		if err := os.WriteFile(filepath.Join(outDir, "sysnames_"+arch+".go"), code, 0o644); err != nil {
			return err
		}
	}
	return nil
}

type module struct{ Path, Version, Dir string }

// xsysModule finds golang.org/x/sys at the version the main module's go.mod selects.
func xsysModule() (module, error) {
	var m module
	cmd := exec.Command("go", "list", "-m", "-json", "golang.org/x/sys")
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	if err != nil {
		return m, fmt.Errorf("go list -m golang.org/x/sys: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("go list -m golang.org/x/sys: %w", err)
	}
	if m.Dir == "" {
		return m, fmt.Errorf("golang.org/x/sys %s is not in the module cache; run go mod download golang.org/x/sys", m.Version)
	}
	return m, nil
}

// readTable parses a zsysnum file and returns its syscall names indexed by number ("" where none).
func readTable(path string, skip map[string]string) ([]string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	byNr := map[int][]string{}
	maxSeen := -1
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, id := range vs.Names {
				if !strings.HasPrefix(id.Name, "SYS_") {
					continue
				}
				if _, ok := skip[id.Name]; ok {
					continue
				}
				if i >= len(vs.Values) {
					return nil, fmt.Errorf("%s has no value", id.Name)
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.INT {
					return nil, fmt.Errorf("%s is not an integer literal", id.Name)
				}
				nr, err := strconv.ParseInt(lit.Value, 0, 64)
				if err != nil || nr < 0 || nr >= maxNr {
					return nil, fmt.Errorf("%s = %s: want a number in [0, %d)", id.Name, lit.Value, maxNr)
				}
				name := strings.ToLower(strings.TrimPrefix(id.Name, "SYS_"))
				if !validName.MatchString(name) {
					return nil, fmt.Errorf("%s: unexpected name %q", id.Name, name)
				}
				byNr[int(nr)] = append(byNr[int(nr)], name)
				maxSeen = max(maxSeen, int(nr))
			}
		}
	}
	if len(byNr) == 0 {
		return nil, fmt.Errorf("%s: no SYS_ constants", path)
	}
	names := make([]string, maxSeen+1)
	for nr, ns := range byNr {
		if len(ns) > 1 {
			slices.Sort(ns)
			return nil, fmt.Errorf("%d has several names %q; add the ones the kernel's table does not use to skip", nr, ns)
		}
		names[nr] = ns[0]
	}
	return names, nil
}

func render(arch, from string, names []string) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by gensysnames from %s unix/zsysnum_linux_%s.go. DO NOT EDIT.\n\n", from, arch)
	b.WriteString("package footprint\n\n")
	fmt.Fprintf(&b, "// sysNames holds the linux/%s syscall names indexed by number; \"\" marks a number with none.\n", arch)
	b.WriteString("var sysNames = [...]string{\n")
	for nr, name := range names {
		if name != "" {
			fmt.Fprintf(&b, "\t%d: %q,\n", nr, name)
		}
	}
	b.WriteString("}\n")
	return format.Source(b.Bytes())
}
