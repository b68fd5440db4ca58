package demo

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// serverEnv makes the test binary act as the demo server (see TestMain).
const serverEnv = "MCPSCOPE_DEMO_TEST_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(serverEnv) == "1" {
		if err := RunServer(context.Background(), os.Stdin, os.Stdout); err != nil {
			fmt.Fprintf(os.Stderr, "demo server: %v\n", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// wantLog lists what a successful run narrates, in order.
var wantLog = []string{
	"✓ connected to " + ServerName + " " + ServerVersion,
	"→ tools/list",
	"✓ 4 tools: add, countdown, divide, weather", // the go-sdk lists tools sorted by name
	`→ tools/call weather {"city":"Lisbon"}`,
	"[demo data, not a real forecast] Lisbon:",
	"✓ 2 + 3 = 5",
	"✓ tool error (isError: true), as expected: cannot divide 1 by zero",
	"notifications/progress 1/3 2...",
	"notifications/progress 3/3 0...",
	"✓ Liftoff!",
	"→ close",
	"Demo session finished.",
}

func checkLog(t *testing.T, log string) {
	t.Helper()
	rest := log
	for _, w := range wantLog {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Fatalf("log lacks %q (in order); log:\n%s", w, log)
		}
		rest = rest[i+len(w):]
	}
}

// tap is an io.Writer that records the newline-delimited messages written
// through it.
type tap struct {
	w    io.Writer
	mu   sync.Mutex
	buf  bytes.Buffer
	msgs []map[string]any
	bad  []string
}

func (t *tap) Write(p []byte) (int, error) {
	t.mu.Lock()
	t.buf.Write(p)
	for {
		line, err := t.buf.ReadBytes('\n')
		if err != nil {
			t.buf.Write(line) // incomplete: keep it
			break
		}
		var m map[string]any
		if json.Unmarshal(line, &m) != nil || m["jsonrpc"] != "2.0" {
			t.bad = append(t.bad, string(line))
		} else {
			t.msgs = append(t.msgs, m)
		}
	}
	t.mu.Unlock()
	return t.w.Write(p)
}

func (t *tap) methods() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, m := range t.msgs {
		switch {
		case m["method"] != nil:
			out = append(out, m["method"].(string))
		case m["error"] != nil:
			out = append(out, "error")
		default:
			out = append(out, "result")
		}
	}
	return out
}

// TestInProcess runs client and server in this process over two pipes, the
// way the stdio transport connects them, and checks the wire messages.
func TestInProcess(t *testing.T) {
	for _, version := range []string{"", "2026-07-28"} {
		t.Run("version="+version, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c2sR, c2sW := io.Pipe() // client to server: the server's stdin
			s2cR, s2cW := io.Pipe() // server to client: the server's stdout
			toServer := &tap{w: c2sW}
			toClient := &tap{w: s2cW}

			serverDone := make(chan error, 1)
			go func() {
				err := RunServer(ctx, c2sR, toClient)
				s2cW.Close()
				serverDone <- err
			}()

			var log bytes.Buffer
			tr := &mcp.IOTransport{Reader: s2cR, Writer: writeCloser{toServer, c2sW}}
			if err := runClient(ctx, tr, &log, &ClientOptions{ProtocolVersion: version, Pause: -1}); err != nil {
				t.Fatalf("client: %v\nlog:\n%s", err, log.String())
			}
			select {
			case err := <-serverDone:
				if err != nil {
					t.Fatalf("server: %v", err)
				}
			case <-ctx.Done():
				t.Fatal("server did not return after the client closed its stdin")
			}
			checkLog(t, log.String())
			if len(toServer.bad)+len(toClient.bad) > 0 {
				t.Errorf("non JSON-RPC lines on the wire: %q %q", toServer.bad, toClient.bad)
			}

			wantC2S := []string{"initialize", "notifications/initialized", "tools/list", "tools/call", "tools/call", "tools/call", "tools/call"}
			wantS2C := []string{"result", "result", "result", "result", "result",
				"notifications/progress", "notifications/progress", "notifications/progress", "result"}
			if version == "2026-07-28" {
				wantC2S = []string{"server/discover", "tools/list", "tools/call", "tools/call", "tools/call", "tools/call"}
			}
			if got := toServer.methods(); !equal(got, wantC2S) {
				t.Errorf("client to server: got %v, want %v", got, wantC2S)
			}
			if got := toClient.methods(); !equal(got, wantS2C) {
				t.Errorf("server to client: got %v, want %v", got, wantS2C)
			}
			// The divide result is a tool error, not a JSON-RPC error.
			for _, m := range toClient.msgs {
				if m["id"] == 5.0 {
					res, _ := m["result"].(map[string]any)
					if res["isError"] != true {
						t.Errorf("divide result: want isError true, got %v", m)
					}
				}
			}
		})
	}
}

type writeCloser struct {
	io.Writer
	io.Closer
}

func equal(a, b []string) bool {
	return strings.Join(a, ",") == strings.Join(b, ",")
}

// TestOverStdio runs the server as a child process (this test binary, re-executed)
// through RunClient, exactly as `mcpscope demo` does.
func TestOverStdio(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), serverEnv+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	var log bytes.Buffer
	start := time.Now()
	if err := RunClient(ctx, cmd, &log); err != nil {
		t.Fatalf("RunClient: %v\nlog:\n%s\nserver stderr:\n%s", err, log.String(), stderr.String())
	}
	elapsed := time.Since(start)
	checkLog(t, log.String())
	if !cmd.ProcessState.Success() {
		t.Errorf("server exit: %v", cmd.ProcessState)
	}
	// 6 pauses of 200 ms and a 600 ms countdown: a couple of seconds in all.
	if elapsed < 6*DefaultPause || elapsed > 10*time.Second {
		t.Errorf("demo took %v", elapsed)
	}
	t.Logf("demo over stdio took %v; log:\n%s", elapsed, log.String())
}

// TestServerStdoutIsOnlyMCP drives the server with raw lines and checks that
// every line it writes is a JSON-RPC message.
func TestServerStdoutIsOnlyMCP(t *testing.T) {
	in := strings.Join([]string{
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"weather","arguments":{"city":""}}}`,
		`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"nope","arguments":{}}}`,
		`{"jsonrpc":"2.0","id":4,"method":"ping"}`,
	}, "\n") + "\n"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := RunServer(ctx, inR, outW)
		outW.Close()
		done <- err
	}()
	go inW.Write([]byte(in))
	// Read until every request is answered, then close the server's stdin.
	byID := map[float64]map[string]any{}
	var out strings.Builder
	sc := bufio.NewScanner(outR)
	for len(byID) < 4 && sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil || m["jsonrpc"] != "2.0" {
			t.Fatalf("not a JSON-RPC line: %q", sc.Text())
		}
		if id, ok := m["id"].(float64); ok {
			byID[id] = m
		}
	}
	inW.Close()
	for sc.Scan() {
		t.Errorf("unexpected output after the last response: %q", sc.Text())
	}
	if err := <-done; err != nil {
		t.Fatalf("RunServer: %v", err)
	}
	for id := 1.0; id <= 4; id++ {
		if byID[id] == nil {
			t.Fatalf("no response to id %v; output:\n%s", id, out.String())
		}
	}
	if res, _ := byID[2]["result"].(map[string]any); res["isError"] != true {
		t.Errorf("weather with an empty city: want a tool error, got %v", byID[2])
	}
	if byID[3]["error"] == nil {
		t.Errorf("unknown tool: want a JSON-RPC error from the go-sdk, got %v", byID[3])
	}
}
