package store

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// crashEnv names the database the crash child writes; TestCrashChild does nothing without it.
const crashEnv = "MCPSCOPE_STORE_CRASH_DB"

// TestCrashSafety runs a writer under load in a child process (this test binary, re-executed), kills it with
// SIGKILL in the middle of its writes, and reopens the database: it must pass PRAGMA integrity_check, hold every
// row a reader saw committed before the kill, and hold whole batches only.
func TestCrashSafety(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crash.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || lines.Text() != "writing" {
		t.Fatalf("child did not start writing: %q", lines.Text())
	}
	// Let it run until a reader sees a good number of committed rows, then kill it mid-flood.
	db := openRO(t, path)
	var seen int
	deadline := time.Now().Add(30 * time.Second)
	for seen < 20000 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		seen, _ = strconv.Atoi(strings.TrimSpace(query(t, db, "SELECT count(*) FROM messages")))
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	db.Close()
	if seen < 20000 {
		t.Fatalf("the child committed only %d messages in 30 s", seen)
	}

	// A reader comes first, as `mcpscope query` after a crashed watch would: it must see every committed row.
	db = openRO(t, path)
	if got, _ := strconv.Atoi(strings.TrimSpace(query(t, db, "SELECT count(*) FROM messages"))); got < seen {
		t.Errorf("a reader after the crash sees %d messages, %d were committed", got, seen)
	}
	db.Close()
	// Reopening for writing recovers the log; then check.
	closeStore(t, openStore(t, path, Options{}))
	db = openRO(t, path)
	if got := query(t, db, "PRAGMA integrity_check"); got != "ok\n" {
		t.Fatalf("integrity_check: %s", got)
	}
	if got := query(t, db, "PRAGMA foreign_key_check"); got != "" {
		t.Errorf("foreign_key_check: %s", got)
	}
	after, _ := strconv.Atoi(strings.TrimSpace(query(t, db, "SELECT count(*) FROM messages")))
	if after < seen {
		t.Errorf("%d messages after the crash, but a reader saw %d committed before it", after, seen)
	}
	if got := query(t, db, "SELECT count(*) FROM (SELECT session_id FROM messages GROUP BY session_id HAVING count(*) != 100)"); got != "0\n" {
		t.Errorf("sessions with part of their batch: %s", got)
	}
	if got := query(t, db, "SELECT count(*) FROM tool_calls c WHERE NOT EXISTS (SELECT 1 FROM messages WHERE id = c.response_message_id)"); got != "0\n" {
		t.Errorf("calls without their response: %s", got)
	}
	t.Logf("killed with %d messages seen committed; %d after reopening", seen, after)
}

// TestCrashChild is the writer TestCrashSafety kills: it floods the store until it is killed.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("the child of TestCrashSafety")
	}
	st, err := Open(context.Background(), path, Options{QueueBatches: 64})
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	capID := st.NextID(IDCapture)
	fmt.Println("writing")
	for i := 0; ; i++ {
		for !st.Submit(floodBatch(st, capID, i, 100)) {
			i++ // dropped whole (counted): the next batch has a session of its own again
			time.Sleep(time.Millisecond)
		}
	}
}
