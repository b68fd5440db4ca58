package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// varying are the fields of a message record that differ from run to run of the same session: when it happened,
// how long the answer took, and the processes' ids (the session name is made of them).
var varying = []string{"ts", "latency_ms", "session"}

// lossCounters must be zero in the final stats record of every session.
var lossCounters = []string{"kernel_undelivered_bytes", "kernel_lost_records", "truncated", "junk_lines"}

// sessionRecords are the records of one session, normalised: per direction, in the order the writer wrote them
// (the order across directions depends on timing).
type sessionRecords struct {
	byDirection map[string][]normRecord
	counters    map[string]uint64
	total       int
	// footprints counts the footprint records, which are compared by number only: the syscalls a program makes
	// differ from kernel to kernel.
	footprints int
}

// normRecord is a message record without its varying fields.
type normRecord struct {
	canon   string // the record as canonical JSON (sorted keys)
	summary string // type, method, id and size, for messages
	fields  map[string]any
}

// readSession reads a JSONL file written by `mcpscope watch -o`.
func readSession(path string) (sessionRecords, error) {
	s := sessionRecords{byDirection: map[string][]normRecord{}}
	f, err := os.Open(path)
	if err != nil {
		return s, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	for n := 1; sc.Scan(); n++ {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return s, fmt.Errorf("%s line %d: %w", filepath.Base(path), n, err)
		}
		if rec["kind"] == "stats" {
			s.counters = map[string]uint64{}
			if c, ok := rec["counters"].(map[string]any); ok {
				for k, v := range c {
					f, _ := v.(float64)
					s.counters[k] = uint64(f)
				}
			}
			continue
		}
		if rec["kind"] == "footprint" {
			s.footprints++
			continue
		}
		s.total++
		for _, k := range varying {
			delete(rec, k)
		}
		for _, end := range []string{"from", "to"} {
			if e, ok := rec[end].(map[string]any); ok {
				delete(e, "pid")
			}
		}
		canon, _ := json.Marshal(rec) // maps marshal with sorted keys
		dir, _ := rec["direction"].(string)
		s.byDirection[dir] = append(s.byDirection[dir], normRecord{canon: string(canon), summary: summarize(rec), fields: rec})
	}
	return s, sc.Err()
}

func summarize(rec map[string]any) string {
	id, _ := json.Marshal(rec["id"])
	return fmt.Sprintf("%v %v id=%s size=%v", rec["type"], rec["method"], id, rec["size"])
}

// diffSessions lists how got differs from want (the host's); at most max differences.
func diffSessions(want, got sessionRecords, max int) []string {
	var diffs []string
	add := func(format string, args ...any) {
		if len(diffs) < max {
			diffs = append(diffs, fmt.Sprintf(format, args...))
		}
	}
	dirs := map[string]bool{}
	for d := range want.byDirection {
		dirs[d] = true
	}
	for d := range got.byDirection {
		dirs[d] = true
	}
	for _, d := range slices.Sorted(maps.Keys(dirs)) {
		w, g := want.byDirection[d], got.byDirection[d]
		name := d
		if name == "" {
			name = "no direction"
		}
		if len(w) != len(g) {
			add("%s: %d records, host %d", name, len(g), len(w))
		}
		for i := 0; i < min(len(w), len(g)); i++ {
			if w[i].canon == g[i].canon {
				continue
			}
			var fields []string
			for k := range union(w[i].fields, g[i].fields) {
				a, _ := json.Marshal(w[i].fields[k])
				b, _ := json.Marshal(g[i].fields[k])
				if string(a) != string(b) {
					fields = append(fields, k)
				}
			}
			add("%s record %d: %s, host %s (differs in %s)", name, i, g[i].summary, w[i].summary, strings.Join(slices.Sorted(slices.Values(fields)), ", "))
		}
	}
	if got.footprints != want.footprints {
		add("%d footprint records, host %d", got.footprints, want.footprints)
	}
	for _, k := range lossCounters {
		if got.counters[k] != 0 {
			add("counter %s = %d, want 0", k, got.counters[k])
		}
	}
	if got.counters == nil {
		add("no final stats record")
	}
	return diffs
}

// compareSession compares the session recorded in path with the host's recording of the same step.
func compareSession(path string, host *kernelResult, step string) (records int, diffs []string, errText string) {
	got, err := readSession(path)
	if err != nil {
		return 0, nil, err.Error()
	}
	if got.total == 0 {
		return 0, nil, "no message records"
	}
	if host == nil { // this is the host
		return got.total, diffSessions(got, got, 10), ""
	}
	want, err := readSession(filepath.Join(host.Dir, step+".jsonl"))
	if err != nil {
		return got.total, nil, fmt.Sprintf("no host records to compare with: %v", err)
	}
	return got.total, diffSessions(want, got, 10), ""
}

func union(a, b map[string]any) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}
