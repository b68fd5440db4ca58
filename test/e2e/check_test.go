package e2e

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// TestCheck runs `mcpscope check --json` as a user would before the first watch: every required capability works on
// this machine, and the optional ones say what they do here (the CUDA row probes the installed driver libraries as
// watch does, so it may work only where uprobes do).
func TestCheck(t *testing.T) {
	requireBPF(t)
	out, err := exec.Command(testEnv.mcpscope, "check", "--json").Output()
	if err != nil {
		t.Fatalf("mcpscope check: %v\n%s", err, out)
	}
	var rows []struct {
		Capability string `json:"capability"`
		Works      bool   `json:"works"`
		Required   bool   `json:"required"`
		Detail     string `json:"detail"`
	}
	if err := json.Unmarshal(out, &rows); err != nil {
		t.Fatalf("not a JSON array: %v\n%s", err, out)
	}
	works := map[string]bool{}
	for _, r := range rows {
		works[r.Capability] = r.Works
		if r.Required && !r.Works {
			t.Errorf("%s: does not work: %s", r.Capability, r.Detail)
		}
		if !r.Works && r.Detail == "" {
			t.Errorf("%s: does not work, and says not why", r.Capability)
		}
	}
	const cuda, uprobes = "CUDA driver calls (footprints)", "uprobes (for TLS capture)"
	if _, ok := works[cuda]; !ok {
		t.Fatalf("no %q row:\n%s", cuda, out)
	}
	if works[cuda] && !works[uprobes] {
		t.Errorf("%s works, but not uprobes, which it needs", cuda)
	}
	// Every kernel the tests run on (the host, the matrix's guests) loads the TCP and TLS programs: the HTTPS tests
	// need them.
	const web = "HTTP and HTTPS programs (optional)"
	if !works[web] {
		t.Errorf("%s: does not work here, where the HTTPS tests pass:\n%s", web, out)
	}
}

// TestCUDALibNeedsFootprints: --cuda-lib without footprints is refused with the reason, before anything runs.
func TestCUDALibNeedsFootprints(t *testing.T) {
	requireBPF(t)
	out, err := exec.Command(testEnv.mcpscope, "watch", "--no-db", "--no-footprint", "--cuda-lib", "/nonexistent/libcuda.so.1", "--", "true").CombinedOutput()
	if err == nil {
		t.Fatalf("watch --no-footprint --cuda-lib succeeded:\n%s", out)
	}
	if !strings.Contains(string(out), "drop --no-footprint") {
		t.Errorf("the error does not say how to have footprints:\n%s", out)
	}
}
