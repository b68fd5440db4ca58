package bench

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// fpWrites is the number of one-byte writes of BenchmarkFootprintTree's dd.
const fpWrites = 500000

// timedDD is a shell script that runs dd with one-byte writes to /dev/null and prints, on stderr, the nanoseconds
// dd took (so that mcpscope's start-up and exit are not counted).
var timedDD = fmt.Sprintf(`s=$(date +%%s%%N); dd if=/dev/zero of=/dev/null bs=1 count=%d status=none; e=$(date +%%s%%N); echo "dd-ns $((e-s))" >&2`, fpWrites)

// runTimedDD runs timedDD, under `mcpscope trace --no-db --` when traced, and returns dd's nanoseconds per syscall
// (each one-byte copy is a read and a write).
func runTimedDD(b *testing.B, traced bool) float64 {
	b.Helper()
	args := []string{"sh", "-c", timedDD}
	if traced {
		args = append([]string{bin("mcpscope"), "trace", "--no-db", "--"}, args...)
	}
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		b.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "dd-ns "); ok {
			ns, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				b.Fatalf("dd timing %q: %v", line, err)
			}
			return ns / (2 * fpWrites)
		}
	}
	b.Fatalf("no dd timing in:\n%s", out)
	return 0
}

// BenchmarkFootprintTree: what a process inside a footprint tree pays per syscall. dd copies one byte at a time
// (a read and a write per byte) to /dev/null, alone and as the tree of `mcpscope trace` (every syscall counted in the
// kernel per process, syscall and errno, with its time and the tree's CPU), alternately. BenchmarkSyscallFloor
// measures what processes outside every tree pay.
func BenchmarkFootprintTree(b *testing.B) {
	setup(b, false)
	runTimedDD(b, false) // warm-up
	var plain, traced []float64
	for i := 0; i < reps; i++ {
		plain = append(plain, runTimedDD(b, false))
		traced = append(traced, runTimedDD(b, true))
	}
	mp, mt := median(plain), median(traced)
	b.Logf("ns per syscall alone:   %s", fmtRuns(plain))
	b.Logf("ns per syscall traced:  %s", fmtRuns(traced))
	b.Logf("median ns per syscall: alone %.0f, in a footprint tree %.0f (+%.0f ns, ratio %.2f)", mp, mt, mt-mp, mt/mp)
	b.ReportMetric(mp, "alone_ns/syscall")
	b.ReportMetric(mt, "traced_ns/syscall")
	b.ReportMetric(mt/mp, "traced/alone")
}
