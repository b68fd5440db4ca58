package capture

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/mcpscope/mcpscope/internal/bpf"
)

// BenchmarkHookCost measures what the programs cost a process that is not MCP at all: `dd bs=1` writing one byte
// per syscall to /dev/null (a read and a write per byte), with nothing attached, with the syscall-tracepoint set
// and, where the kernel attaches it, with the fentry/fexit set. The variants run alternately, five times each, in
// one run; the medians and their ratios are reported (this is what docs/kernels.md shows per kernel).
//
//	go test -run '^$' -bench HookCost -benchtime 1x ./internal/capture
//	MCPSCOPE_BENCH_DD_COUNT=200000 shrinks the dd run (the kernel-matrix runner does, under emulation).
func BenchmarkHookCost(b *testing.B) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			b.Fatal("needs root to load BPF programs")
		}
		b.Skip("needs root to load BPF programs")
	}
	count := 1_000_000
	if s := os.Getenv("MCPSCOPE_BENCH_DD_COUNT"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("MCPSCOPE_BENCH_DD_COUNT=%q: want a positive count", s)
		}
		count = n
	}
	dd := func() float64 {
		start := time.Now()
		cmd := exec.Command("dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count="+strconv.Itoa(count), "status=none")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("dd: %v\n%s", err, out)
		}
		return time.Since(start).Seconds()
	}

	variants := []struct {
		name  string
		hooks Hooks
	}{{"none", -1}, {"tracepoint", HooksTracepoint}, {"fentry", HooksFentry}}
	// Probe once: the fentry variant is left out where the kernel refuses it.
	if c, err := Open(Config{Hooks: HooksFentry, RingBufferBytes: 1 << 20}); err != nil {
		b.Logf("fentry: not on this kernel: %v", err)
		variants = variants[:2]
	} else {
		c.Close()
	}

	times := make(map[string][]float64)
	dd() // warm-up
	for range 5 {
		for _, v := range variants {
			if v.hooks < 0 {
				times[v.name] = append(times[v.name], dd())
				continue
			}
			c, err := Open(Config{Hooks: v.hooks, RingBufferBytes: 1 << 20})
			if err != nil {
				b.Fatalf("%s: %v", v.name, err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- c.Run(ctx) }()
			go func() {
				for e := range c.Events() {
					c.Release(e)
				}
			}()
			times[v.name] = append(times[v.name], dd())
			cancel()
			<-done
			c.Close()
		}
	}
	median := func(xs []float64) float64 {
		s := append([]float64(nil), xs...)
		sort.Float64s(s)
		return s[len(s)/2]
	}
	none := median(times["none"])
	for _, v := range variants {
		m := median(times[v.name])
		b.Logf("%-10s median %.3f s, runs %v", v.name, m, fmt.Sprint(times[v.name]))
		b.ReportMetric(m, v.name+"_s")
		if v.name != "none" {
			b.ReportMetric(m/none, v.name+"/none")
		}
	}
	if len(variants) == 3 {
		b.ReportMetric(median(times["fentry"])/median(times["tracepoint"]), "fentry/tracepoint")
	}
}

// BenchmarkDrainFootprint measures DrainFootprint taking 20,000 ended syscall counters out of the kernel's map (a
// busy server's threads over a second of epochs): read and deleted in batches, and key by key (the fallback for a
// kernel that refuses batch operations). Reported per counter. "empty" is the fixed cost of a drain, paid every
// 50 ms under a flood of calls: the walk of the maps' buckets, none of them holding a counter.
//
//	go test -run '^$' -bench DrainFootprint ./internal/capture
func BenchmarkDrainFootprint(b *testing.B) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			b.Fatal("needs root to load BPF programs")
		}
		b.Skip("needs root to load BPF programs")
	}
	c, err := Open(Config{Footprint: true, RingBufferBytes: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	const entries = 20000
	keys := make([]bpf.FPSysKey, entries)
	vals := make([]bpf.FPCount, entries)
	for i := range keys {
		// A root that is no root: every epoch has ended.
		keys[i] = bpf.FPSysKey{Root: 1 << 30, Tgid: uint32(1000 + i%50), Owner: uint32(i % 20), Epoch: uint64(i / 1000), Nr: uint32(i % 37)}
		vals[i] = bpf.FPCount{Count: 1, Ns: 100}
	}
	b.Run("empty", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if sys, cpu, err := c.DrainFootprint(); err != nil || len(sys)+len(cpu) != 0 {
				b.Fatalf("drained %d and %d counters, %v; want none", len(sys), len(cpu), err)
			}
		}
	})
	for _, mode := range []struct {
		name     string
		keyByKey bool
	}{{"batch", false}, {"key-by-key", true}} {
		b.Run(mode.name, func(b *testing.B) {
			c.fp.keyByKey = mode.keyByKey
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				if _, err := c.fp.Syscalls.BatchUpdate(keys, vals, nil); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				sys, _, err := c.DrainFootprint()
				if err != nil || len(sys) != entries {
					b.Fatalf("drained %d counters, %v; want %d", len(sys), err, entries)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*entries), "ns/counter")
		})
	}
}
