package bpf

import (
	"errors"
	"os"
	"testing"

	"github.com/cilium/ebpf"
)

// TestLoad checks that the kernel's verifier accepts every program.
func TestLoad(t *testing.T) {
	if os.Geteuid() != 0 && os.Getenv("CI") != "true" {
		t.Skip("loading BPF programs needs root (set CI=true to make this a failure)")
	}
	spec, err := Spec()
	if err != nil {
		t.Fatal(err)
	}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		var verr *ebpf.VerifierError
		if errors.As(err, &verr) {
			t.Fatalf("verifier: %+v", verr)
		}
		t.Fatal(err)
	}
	defer coll.Close()
	for name, p := range coll.Programs {
		info, err := p.Info()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if n, ok := info.VerifiedInstructions(); ok {
			t.Logf("%-22s verified instructions: %d", name, n)
		}
	}
}
