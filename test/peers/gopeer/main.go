// Command gopeer is a set of real MCP peers built on the official Go SDK
// (github.com/modelcontextprotocol/go-sdk). mcpscope's end-to-end tests and
// benchmarks drive them to put known, deterministic MCP traffic on stdio pipes.
//
// Usage:
//
//	gopeer client [flags] -- CMD ARGS...       legacy-era scenario against CMD (server-everything)
//	gopeer server-modern [flags]               2026-07-28 (stateless) server on stdin/stdout
//	gopeer client-modern [flags] -- CMD ARGS...  2026-07-28 client against CMD (gopeer server-modern)
//	gopeer server-http [flags]                 the same server over Streamable HTTP or HTTP+SSE on 127.0.0.1
//	gopeer client-http [flags] URL             go-sdk client over Streamable HTTP or HTTP+SSE (either era)
//	gopeer http-badinput [flags] URL           broken HTTP on raw connections around a valid go-sdk session
//	gopeer http-badserver [flags]              a raw HTTP server that cuts its event streams mid-event
//	gopeer http-load [flags] URL               N go-sdk clients calling echo over Streamable HTTP, as fast as they can
//	gopeer junk -bytes N -seconds S            non-MCP junk on stdout
//	gopeer pingpong -n N [-size B] -- CMD ARGS...  sequential ping (or echo) benchmark
//
// Every subcommand logs to stderr. Subcommands whose stdout is not an MCP
// channel (client, client-modern, client-http, pingpong) print one JSON summary to stdout; server-http prints
// the URL it serves.
// The exit status is 0 on success and 1 (with a message on stderr) otherwise;
// 2 means a usage error. test/peers/README.md documents the exact wire
// messages of each scenario.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const (
	legacyVersion = "2025-11-25"
	modernVersion = "2026-07-28"
	peerVersion   = "0.1.0"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	var err error
	args := os.Args[2:]
	switch os.Args[1] {
	case "client":
		err = runClient(args)
	case "server-modern":
		err = runServerModern(args)
	case "client-modern":
		err = runClientModern(args)
	case "server-http":
		err = runServerHTTP(args)
	case "client-http":
		err = runClientHTTP(args)
	case "client-h2-midframe":
		err = runClientH2Midframe(args)
	case "http-badinput":
		err = runHTTPBadInput(args)
	case "http-badserver":
		err = runHTTPBadServer(args)
	case "http-load":
		err = runHTTPLoad(args)
	case "junk":
		err = runJunk(args)
	case "pingpong":
		err = runPingPong(args)
	case "-h", "-help", "--help", "help":
		usage()
		return
	default:
		fmt.Fprintf(os.Stderr, "gopeer: unknown subcommand %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(os.Stderr, "gopeer %s: %v\n", os.Args[1], err)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "gopeer %s: FAILED: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage:
  gopeer client [-steps a,b,c,d,e,f,g] [-big N] [-version V] [-roots] [-cancel-after D] [-v] -- CMD ARGS...
  gopeer server-modern [-legacy] [-work] [-v]
  gopeer client-modern [-steps list,add,slow,cancel] [-listen] [-v] -- CMD ARGS...
  gopeer server-http [-addr 127.0.0.1:0] [-transport streamable|sse] [-era legacy|modern] [-lifetime D] [-v]
  gopeer client-http [-transport streamable|sse] [-era legacy|modern] [-big N] [-progress] [-wait-signal] [-v] URL
  gopeer client-h2-midframe [-timeout D] HTTPS-URL
  gopeer http-badinput [-cases a,b,...] [-sse URL] [-report FILE] [-timeout D] URL
  gopeer http-badserver [-addr 127.0.0.1:0] [-lifetime D]
  gopeer http-load [-clients N] [-calls N] [-size B] [-timeout D] URL
  gopeer junk [-bytes N] [-seconds S] [-seed N]
  gopeer pingpong [-n N] [-size B] [-version V] -- CMD ARGS...
Run "gopeer SUBCOMMAND -h" for the flags of a subcommand.
`)
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// logf logs one line to stderr; stdout is reserved for MCP or the summary.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gopeer: "+format+"\n", args...)
}

// ---------------------------------------------------------------------------
// Wire recording.
//
// The go-sdk API does not expose JSON-RPC request ids. recTransport wraps the
// SDK transport's Connection and records every message the SDK reads or
// writes: direction, kind, method, id and size. For messages the SDK writes,
// the size is exact (the SDK encodes with the same function and appends "\n").
// For messages it reads, the size is that of the re-encoded message; for a
// peer that writes compact JSON (the TypeScript SDK, the go-sdk) this equals
// the wire size, because re-encoding only reorders the envelope keys.

type wireMsg struct {
	Seq    int     `json:"seq"`
	Millis float64 `json:"t_ms"`
	Dir    string  `json:"dir"`  // "c>s" (client to server) or "s>c"
	Kind   string  `json:"kind"` // request, notification, result, error
	Method string  `json:"method,omitempty"`
	// ReqMethod is, for a response, the method of the request it answers
	// (looked up by id in the opposite direction); it is not on the wire.
	ReqMethod string `json:"req_method,omitempty"`
	ID        any    `json:"id,omitempty"`
	Bytes     int    `json:"bytes"` // including the trailing newline
	ErrCode   int64  `json:"error_code,omitempty"`
	ErrMsg    string `json:"error_message,omitempty"`
	IsError   bool   `json:"is_error,omitempty"` // result.isError (tool error)
	// RefID is params.requestId of notifications/cancelled.
	RefID any `json:"ref_id,omitempty"`
	// Token is params.progressToken of notifications/progress.
	Token any    `json:"progress_token,omitempty"`
	Step  string `json:"-"`
	// Written is set once the message is on the wire: at once for one
	// read, when the transport's Write returns for one sent (recorded
	// before it, to keep the order of a request and its response).
	Written bool `json:"-"`
}

type recorder struct {
	mu      sync.Mutex
	start   time.Time
	msgs    []wireMsg
	step    string
	changed chan struct{} // closed and replaced on every add
	reqs    map[string]string
	verbose bool
}

func newRecorder(verbose bool) *recorder {
	return &recorder{start: time.Now(), changed: make(chan struct{}), reqs: map[string]string{}, verbose: verbose}
}

func (r *recorder) setStep(s string) {
	r.mu.Lock()
	r.step = s
	r.mu.Unlock()
}

func idKey(dir string, id any) string { return fmt.Sprintf("%s/%T/%v", dir, id, id) }

// add records msg, sent in direction dir, and returns its sequence number.
func (r *recorder) add(dir string, msg jsonrpc.Message, written bool) int {
	data, err := jsonrpc.EncodeMessage(msg)
	w := wireMsg{Dir: dir, Bytes: len(data) + 1, Written: written}
	if err != nil {
		w.Bytes = -1
	}
	switch m := msg.(type) {
	case *jsonrpc.Request:
		w.Method = m.Method
		if m.IsCall() {
			w.Kind = "request"
			w.ID = m.ID.Raw()
		} else {
			w.Kind = "notification"
		}
		var p struct {
			RequestID     any `json:"requestId"`
			ProgressToken any `json:"progressToken"`
		}
		if len(m.Params) > 0 && json.Unmarshal(m.Params, &p) == nil {
			switch m.Method {
			case "notifications/cancelled":
				w.RefID = p.RequestID
			case "notifications/progress":
				w.Token = p.ProgressToken
			}
		}
	case *jsonrpc.Response:
		w.ID = m.ID.Raw()
		if m.Error != nil {
			w.Kind = "error"
			var we *jsonrpc.Error
			if errors.As(m.Error, &we) {
				w.ErrCode, w.ErrMsg = we.Code, we.Message
			} else {
				w.ErrMsg = m.Error.Error()
			}
		} else {
			w.Kind = "result"
			var res struct {
				IsError bool `json:"isError"`
			}
			if json.Unmarshal(m.Result, &res) == nil {
				w.IsError = res.IsError
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	w.Seq = len(r.msgs) + 1
	w.Millis = float64(time.Since(r.start).Microseconds()) / 1000
	w.Step = r.step
	if w.Kind == "request" {
		r.reqs[idKey(dir, w.ID)] = w.Method
	} else if w.Kind == "result" || w.Kind == "error" {
		other := "c>s"
		if dir == "c>s" {
			other = "s>c"
		}
		w.ReqMethod = r.reqs[idKey(other, w.ID)]
	}
	r.msgs = append(r.msgs, w)
	r.notify()
	if r.verbose {
		b, _ := json.Marshal(w)
		fmt.Fprintf(os.Stderr, "gopeer: wire %s\n", b)
	}
	return w.Seq
}

// written marks message seq as on the wire.
func (r *recorder) written(seq int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs[seq-1].Written = true
	r.notify()
}

// notify wakes the waiters of waitFor; r.mu is held.
func (r *recorder) notify() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// snapshot returns a copy of all messages recorded so far.
func (r *recorder) snapshot() []wireMsg {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

// forStep returns the messages recorded while step s was current.
func (r *recorder) forStep(s string) []wireMsg {
	var out []wireMsg
	for _, m := range r.snapshot() {
		if m.Step == s {
			out = append(out, m)
		}
	}
	return out
}

// waitFor waits until a recorded message satisfies pred, and returns it.
func (r *recorder) waitFor(timeout time.Duration, pred func(wireMsg) bool) (wireMsg, bool) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		for _, m := range r.msgs {
			if pred(m) {
				r.mu.Unlock()
				return m, true
			}
		}
		ch := r.changed
		r.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			return wireMsg{}, false
		}
	}
}

type recTransport struct {
	inner mcp.Transport
	rec   *recorder
	// closeDelay delays closing the underlying connection (the server's
	// stdin), so that messages the peer sends in reaction to the last ones
	// written (e.g. the response to a cancelled subscriptions/listen) are
	// still read and recorded.
	closeDelay time.Duration
}

func (t *recTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	c, err := t.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &recConn{Connection: c, rec: t.rec, closeDelay: t.closeDelay}, nil
}

type recConn struct {
	mcp.Connection
	rec        *recorder
	closeDelay time.Duration
	closeOnce  sync.Once
}

func (c *recConn) Close() error {
	c.closeOnce.Do(func() { time.Sleep(c.closeDelay) })
	return c.Connection.Close()
}

func (c *recConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	msg, err := c.Connection.Read(ctx)
	if err == nil {
		c.rec.add("s>c", msg, true)
	}
	return msg, err
}

func (c *recConn) Write(ctx context.Context, msg jsonrpc.Message) error {
	seq := c.rec.add("c>s", msg, false)
	err := c.Connection.Write(ctx, msg)
	if err == nil {
		c.rec.written(seq)
	}
	return err
}

// ---------------------------------------------------------------------------
// Helpers shared by the client subcommands.

// prefixWriter forwards the spawned server's stderr to ours, line by line,
// with a prefix.
type prefixWriter struct {
	mu     sync.Mutex
	prefix string
	buf    []byte
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := slices.Index(w.buf, '\n')
		if i < 0 {
			break
		}
		fmt.Fprintf(os.Stderr, "%s%s\n", w.prefix, w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

func serverCommand(args []string) (*exec.Cmd, error) {
	if len(args) == 0 {
		return nil, usageError{"missing server command after --"}
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stderr = &prefixWriter{prefix: "gopeer: [server stderr] "}
	return cmd, nil
}

func parseSteps(s string, known []string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, st := range strings.Split(s, ",") {
		st = strings.TrimSpace(st)
		if st == "" {
			continue
		}
		if !slices.Contains(known, st) {
			return nil, usageError{fmt.Sprintf("unknown step %q (known: %s)", st, strings.Join(known, ","))}
		}
		out[st] = true
	}
	return out, nil
}

func textOf(res *mcp.CallToolResult) string {
	var sb strings.Builder
	for _, c := range res.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			sb.WriteString(t.Text)
		}
	}
	return sb.String()
}

func rpcCode(err error) (int64, string, bool) {
	var we *jsonrpc.Error
	if errors.As(err, &we) {
		return we.Code, we.Message, true
	}
	return 0, "", false
}

func writeJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

type stepReport struct {
	Step    string         `json:"step"`
	Name    string         `json:"name"`
	OK      bool           `json:"ok"`
	Outcome string         `json:"outcome"`
	Millis  int64          `json:"ms"`
	Details map[string]any `json:"details,omitempty"`
	Wire    []wireMsg      `json:"wire"`
}

type summary struct {
	Peer            string       `json:"peer"`
	Server          []string     `json:"server_command"`
	ProtocolVersion string       `json:"protocol_version"`
	IDsNote         string       `json:"ids_note"`
	OK              bool         `json:"ok"`
	Seconds         float64      `json:"seconds"`
	Steps           []stepReport `json:"steps"`
}

const idsNote = "The go-sdk API does not expose JSON-RPC ids; they are read from a wrapper around the SDK's mcp.Connection. " +
	"The go-sdk client numbers its requests 1, 2, 3, ... in send order. bytes include the trailing newline."

// scenario runs named steps, recording their outcome and wire messages.
type scenario struct {
	rec   *recorder
	steps []stepReport
}

func (s *scenario) run(step, name string, f func(d map[string]any) (string, error)) error {
	s.rec.setStep(step)
	logf("step %s (%s): start", step, name)
	t0 := time.Now()
	d := map[string]any{}
	outcome, err := f(d)
	rep := stepReport{Step: step, Name: name, OK: err == nil, Outcome: outcome, Millis: time.Since(t0).Milliseconds(), Details: d}
	if err != nil {
		rep.Outcome = err.Error()
		logf("step %s (%s): FAILED after %d ms: %v", step, name, rep.Millis, err)
	} else {
		logf("step %s (%s): ok in %d ms: %s", step, name, rep.Millis, outcome)
	}
	s.steps = append(s.steps, rep)
	if err != nil {
		return fmt.Errorf("step %s (%s): %w", step, name, err)
	}
	return nil
}

// finish attaches the recorded wire messages to their steps.
func (s *scenario) finish() {
	for i := range s.steps {
		s.steps[i].Wire = s.rec.forStep(s.steps[i].Step)
		if s.steps[i].Wire == nil {
			s.steps[i].Wire = []wireMsg{}
		}
	}
}

// bigMessage returns n bytes of deterministic printable ASCII that needs no
// JSON escaping.
func bigMessage(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[i%len(alphabet)]
	}
	return string(b)
}

// ---------------------------------------------------------------------------
// gopeer client: the legacy-era scenario against server-everything.

// The names of server-everything's tools used by the scenario.
const (
	toolEcho = "echo"
	toolLong = "trigger-long-running-operation"
)

type noSuchParams struct {
	mcp.ParamsBase
	Why string `json:"why"`
}

type noSuchResult struct {
	mcp.ResultBase
}

const noSuchMethod = "mcpscope/no-such-method"

func runClient(args []string) (err error) {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	stepsFlag := fs.String("steps", "a,b,c,d,e,f,g", "steps to run; a (initialize, tools/list) and g (close) always run")
	big := fs.Int("big", 1<<20, "size in bytes of the echo message of step b")
	version := fs.String("version", legacyVersion, `protocol version to request; "" lets the SDK probe server/discover first (SDK default)`)
	roots := fs.Bool("roots", true, "advertise the roots capability; server-everything then sends roots/list 350 ms after initialized, which step a waits for")
	cancelAfter := fs.Duration("cancel-after", 300*time.Millisecond, "when step d cancels its call")
	longSeconds := fs.Float64("cancel-duration", 3, "duration (s) of the long-running operation that step d cancels")
	verbose := fs.Bool("v", false, "log every wire message to stderr")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	steps, err := parseSteps(*stepsFlag, []string{"a", "b", "c", "d", "e", "f", "g"})
	if err != nil {
		return err
	}
	cmd, err := serverCommand(fs.Args())
	if err != nil {
		return err
	}
	if *big < 0 || *big > mcp.DefaultMaxLineLength/2 {
		// The SDK's CommandTransport reads lines of at most 16 MiB, and server-everything refuses echoes much above
		// 8 MiB anyway; larger single messages are tested with plain pipes (test/e2e TestSixteenMiBSingleWrite).
		return usageError{fmt.Sprintf("-big must be between 0 and %d", mcp.DefaultMaxLineLength/2)}
	}

	t0 := time.Now()
	rec := newRecorder(*verbose)
	sc := &scenario{rec: rec}
	sum := summary{Peer: "gopeer client", Server: fs.Args(), IDsNote: idsNote}
	defer func() {
		sc.finish()
		sum.Steps = sc.steps
		sum.OK = err == nil
		sum.Seconds = time.Since(t0).Seconds()
		if werr := writeJSON(sum); werr != nil && err == nil {
			err = werr
		}
	}()

	ctx := context.Background()
	var caps *mcp.ClientCapabilities // nil: the SDK default {"roots":{"listChanged":true}}
	if !*roots {
		caps = &mcp.ClientCapabilities{}
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "mcpscope-gopeer", Version: peerVersion}, &mcp.ClientOptions{
		Capabilities: caps,
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			p := req.Params
			logf("  progress token=%v %v/%v %s", p.ProgressToken, p.Progress, p.Total, p.Message)
		},
		LoggingMessageHandler: func(_ context.Context, req *mcp.LoggingMessageRequest) {
			logf("  server log [%s] %v", req.Params.Level, req.Params.Data)
		},
	})
	if err := mcp.AddSendingCustomMethod[*noSuchParams, *noSuchResult](client, noSuchMethod); err != nil {
		return err
	}
	transport := &recTransport{inner: &mcp.CommandTransport{Command: cmd, TerminateDuration: 2 * time.Second}, rec: rec}

	var cs *mcp.ClientSession
	defer func() {
		if cs != nil && err != nil {
			_ = cs.Close()
		}
	}()

	// a. initialize + tools/list
	if err := sc.run("a", "initialize, tools/list", func(d map[string]any) (string, error) {
		var err error
		cs, err = client.Connect(ctx, transport, &mcp.ClientSessionOptions{ProtocolVersion: *version})
		if err != nil {
			return "", fmt.Errorf("connect: %w", err)
		}
		ir := cs.InitializeResult()
		sum.ProtocolVersion = ir.ProtocolVersion
		d["protocol_version"] = ir.ProtocolVersion
		if ir.ServerInfo != nil {
			d["server_info"] = ir.ServerInfo.Name + " " + ir.ServerInfo.Version
		}
		res, err := cs.ListTools(ctx, nil)
		if err != nil {
			return "", fmt.Errorf("tools/list: %w", err)
		}
		var names []string
		for _, t := range res.Tools {
			names = append(names, t.Name)
		}
		d["tools"] = names
		for _, want := range []string{toolEcho, toolLong} {
			if !slices.Contains(names, want) {
				return "", fmt.Errorf("tools/list has no %q tool: %v", want, names)
			}
		}
		if *roots {
			// server-everything asks for roots 350 ms after initialized, then logs
			// the outcome. Wait for both so that they do not interleave with
			// later steps.
			req, ok := rec.waitFor(3*time.Second, func(m wireMsg) bool {
				return m.Dir == "s>c" && m.Kind == "request" && m.Method == "roots/list"
			})
			if !ok {
				return "", errors.New("server did not send roots/list within 3s")
			}
			if _, ok := rec.waitFor(3*time.Second, func(m wireMsg) bool {
				return m.Dir == "c>s" && m.Kind == "result" && fmt.Sprint(m.ID) == fmt.Sprint(req.ID) && m.Written
			}); !ok {
				return "", errors.New("client did not answer roots/list")
			}
			if _, ok := rec.waitFor(3*time.Second, func(m wireMsg) bool {
				return m.Dir == "s>c" && m.Method == "notifications/message"
			}); !ok {
				return "", errors.New("server did not log the roots outcome (notifications/message)")
			}
			d["roots_list_request_id"] = req.ID
		}
		return fmt.Sprintf("initialized %s, %d tools", ir.ProtocolVersion, len(names)), nil
	}); err != nil {
		return err
	}

	// b. big echo
	if steps["b"] {
		if err := sc.run("b", "tools/call echo big", func(d map[string]any) (string, error) {
			msg := bigMessage(*big)
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: toolEcho, Arguments: map[string]any{"message": msg}})
			if err != nil {
				return "", err
			}
			got := textOf(res)
			d["message_bytes"] = len(msg)
			d["result_text_bytes"] = len(got)
			if res.IsError || got != "Echo: "+msg {
				return "", fmt.Errorf("unexpected echo result (isError=%v, %d bytes)", res.IsError, len(got))
			}
			return fmt.Sprintf("echoed %d bytes", len(msg)), nil
		}); err != nil {
			return err
		}
	}

	// c. progress
	if steps["c"] {
		if err := sc.run("c", "tools/call "+toolLong+" with progress", func(d map[string]any) (string, error) {
			const token = "gopeer-progress-c"
			p := &mcp.CallToolParams{Name: toolLong, Arguments: map[string]any{"duration": 1, "steps": 4}}
			p.SetProgressToken(token)
			res, err := cs.CallTool(ctx, p)
			if err != nil {
				return "", err
			}
			n := 0
			for _, m := range rec.forStep("c") {
				if m.Method == "notifications/progress" && m.Token == token {
					n++
				}
			}
			d["progress_token"] = token
			d["progress_notifications"] = n
			d["result_text"] = textOf(res)
			if res.IsError || n != 4 {
				return "", fmt.Errorf("want 4 progress notifications and a result, got %d (isError=%v)", n, res.IsError)
			}
			return "4 progress notifications, then the result", nil
		}); err != nil {
			return err
		}
	}

	// d. cancellation
	var dStart time.Time
	var cancelledID any
	if steps["d"] {
		if err := sc.run("d", "tools/call "+toolLong+" cancelled", func(d map[string]any) (string, error) {
			dStart = time.Now()
			cctx, cancel := context.WithCancel(ctx)
			timer := time.AfterFunc(*cancelAfter, cancel)
			defer timer.Stop()
			defer cancel()
			_, err := cs.CallTool(cctx, &mcp.CallToolParams{Name: toolLong, Arguments: map[string]any{"duration": *longSeconds, "steps": 3}})
			if !errors.Is(err, context.Canceled) {
				return "", fmt.Errorf("want context.Canceled, got %v", err)
			}
			// The SDK sends notifications/cancelled from a goroutine: wait
			// until it is written, or the next step's request may be
			// written first (the monitor then rightly reports that order).
			n, ok := rec.waitFor(2*time.Second, func(m wireMsg) bool {
				return m.Dir == "c>s" && m.Method == "notifications/cancelled" && m.Written
			})
			if !ok {
				return "", errors.New("SDK did not send notifications/cancelled")
			}
			cancelledID = n.RefID
			d["cancelled_request_id"] = n.RefID
			d["cancel_after_ms"] = cancelAfter.Milliseconds()
			return fmt.Sprintf("CallTool returned %v; notifications/cancelled sent for id %v", err, n.RefID), nil
		}); err != nil {
			return err
		}
	}

	// e. errors
	if steps["e"] {
		if err := sc.run("e", "JSON-RPC errors and a tool error", func(d map[string]any) (string, error) {
			_, err := mcp.CallCustomMethod[*noSuchParams, *noSuchResult](ctx, cs, noSuchMethod, &noSuchParams{Why: "mcpscope e2e: unknown method"})
			code1, msg1, ok := rpcCode(err)
			if !ok || code1 != jsonrpc.CodeMethodNotFound {
				return "", fmt.Errorf("%s: want JSON-RPC error -32601, got %v", noSuchMethod, err)
			}
			d["unknown_method"] = map[string]any{"method": noSuchMethod, "code": code1, "message": msg1}

			const uri = "mcpscope://does-not-exist"
			_, err = cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri})
			code2, msg2, ok := rpcCode(err)
			if !ok {
				return "", fmt.Errorf("resources/read %s: want a JSON-RPC error, got %v", uri, err)
			}
			d["unknown_resource"] = map[string]any{"uri": uri, "code": code2, "message": msg2}

			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "no-such-tool", Arguments: map[string]any{}})
			if err != nil {
				return "", fmt.Errorf("tools/call no-such-tool: want an isError result, got error %v", err)
			}
			if !res.IsError {
				return "", errors.New("tools/call no-such-tool: result has no isError")
			}
			d["unknown_tool"] = map[string]any{"name": "no-such-tool", "isError": true, "text": textOf(res)}
			return fmt.Sprintf("%d (unknown method), %d (unknown resource), isError result (unknown tool)", code1, code2), nil
		}); err != nil {
			return err
		}
	}

	// f. out-of-order responses
	if steps["f"] {
		if err := sc.run("f", "two calls in flight, answered out of order", func(d map[string]any) (string, error) {
			type out struct {
				res *mcp.CallToolResult
				err error
			}
			slowDone := make(chan out, 1)
			before := len(rec.snapshot())
			go func() {
				res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: toolLong, Arguments: map[string]any{"duration": 1, "steps": 1}})
				slowDone <- out{res, err}
			}()
			slowReq, ok := rec.waitFor(2*time.Second, func(m wireMsg) bool {
				return m.Seq > before && m.Dir == "c>s" && m.Kind == "request" && m.Method == "tools/call" && m.Written
			})
			if !ok {
				return "", errors.New("slow call was not sent")
			}
			fast, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: toolEcho, Arguments: map[string]any{"message": "fast"}})
			if err != nil {
				return "", fmt.Errorf("fast echo: %w", err)
			}
			if textOf(fast) != "Echo: fast" {
				return "", fmt.Errorf("fast echo returned %q", textOf(fast))
			}
			slow := <-slowDone
			if slow.err != nil {
				return "", fmt.Errorf("slow call: %w", slow.err)
			}
			var order []any
			var fastID any
			for _, m := range rec.forStep("f") {
				if m.Dir == "c>s" && m.Kind == "request" && m.ID != slowReq.ID {
					fastID = m.ID
				}
				if m.Dir == "s>c" && (m.Kind == "result" || m.Kind == "error") {
					order = append(order, m.ID)
				}
			}
			d["slow_request_id"] = slowReq.ID
			d["fast_request_id"] = fastID
			d["response_order"] = order
			if len(order) != 2 || fmt.Sprint(order[0]) != fmt.Sprint(fastID) {
				return "", fmt.Errorf("responses not out of order: %v", order)
			}
			return fmt.Sprintf("requests %v (slow) then %v (fast); responses %v", slowReq.ID, fastID, order), nil
		}); err != nil {
			return err
		}
	}

	// g. close
	return sc.run("g", "close", func(d map[string]any) (string, error) {
		if steps["d"] {
			// Stay connected until the cancelled operation would have finished,
			// so that a late response (if the server sent one) is seen, and the
			// server has no timer left that would delay its exit.
			wait := time.Until(dStart.Add(time.Duration(*longSeconds*float64(time.Second)) + 300*time.Millisecond))
			if wait > 0 {
				logf("  waiting %v for a possible late response to cancelled id %v", wait.Round(time.Millisecond), cancelledID)
				time.Sleep(wait)
			}
			late := false
			for _, m := range rec.snapshot() {
				if m.Dir == "s>c" && (m.Kind == "result" || m.Kind == "error") && fmt.Sprint(m.ID) == fmt.Sprint(cancelledID) {
					late = true
				}
			}
			d["late_response_to_cancelled_id"] = late
		}
		t := time.Now()
		err := cs.Close()
		cs = nil
		d["close_ms"] = time.Since(t).Milliseconds()
		if err != nil {
			return "", fmt.Errorf("close (server exit status): %w", err)
		}
		return "stdin closed, server exited 0", nil
	})
}

// ---------------------------------------------------------------------------
// gopeer server-modern: a 2026-07-28 server on stdio.

type echoIn struct {
	Message string `json:"message" jsonschema:"the message to echo"`
}

type addIn struct {
	A float64 `json:"a" jsonschema:"first addend"`
	B float64 `json:"b" jsonschema:"second addend"`
}

type addOut struct {
	Sum float64 `json:"sum" jsonschema:"a+b"`
}

type slowIn struct {
	MS    int `json:"ms" jsonschema:"how long to sleep, in milliseconds"`
	Steps int `json:"steps,omitempty" jsonschema:"number of progress notifications to send if the request has a progress token (default 4)"`
}

type slowOut struct {
	SleptMS int `json:"slept_ms"`
}

// newPeerServer returns gopeer's go-sdk server: tools echo, add and slow. Unless legacy, it advertises only
// 2026-07-28 and refuses initialize. server-modern serves it on stdio, server-http over HTTP.
func newPeerServer(legacy, verbose bool) *mcp.Server {
	var versions []string
	if !legacy {
		versions = []string{modernVersion}
	}
	server := mcp.NewServer(&mcp.Implementation{Name: "mcpscope-gopeer-modern", Version: peerVersion}, &mcp.ServerOptions{
		// No "logging" capability (deprecated in 2026-07-28); "tools" is inferred.
		Capabilities:              &mcp.ServerCapabilities{},
		SupportedProtocolVersions: versions,
	})
	if !legacy {
		// The SDK answers a legacy initialize even when SupportedProtocolVersions
		// holds only 2026-07-28 (with 2025-11-25), and then serves a legacy
		// session. Refuse it instead, so that a legacy client fails loudly.
		server.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
			return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
				if method == "initialize" {
					return nil, &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound,
						Message: "initialize is not supported: this server speaks only " + modernVersion + " (use server/discover); run with -legacy to allow it"}
				}
				return next(ctx, method, req)
			}
		})
	}
	// echo answers like server-everything's, so pingpong -size can drive this server at Go speed.
	mcp.AddTool(server, &mcp.Tool{Name: toolEcho, Description: "Echoes back the message."},
		func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "Echo: " + in.Message}}}, nil, nil
		})
	mcp.AddTool(server, &mcp.Tool{Name: "add", Description: "Adds two numbers."},
		func(_ context.Context, _ *mcp.CallToolRequest, in addIn) (*mcp.CallToolResult, addOut, error) {
			if verbose {
				logf("add %v + %v", in.A, in.B)
			}
			return nil, addOut{Sum: in.A + in.B}, nil
		})
	mcp.AddTool(server, &mcp.Tool{Name: "slow", Description: "Sleeps for ms milliseconds, reporting progress if asked."},
		func(ctx context.Context, req *mcp.CallToolRequest, in slowIn) (*mcp.CallToolResult, slowOut, error) {
			if verbose {
				logf("slow %d ms", in.MS)
			}
			steps := in.Steps
			if steps <= 0 {
				steps = 4
			}
			token := req.Params.GetProgressToken()
			step := time.Duration(in.MS) * time.Millisecond / time.Duration(steps)
			for i := 1; i <= steps; i++ {
				select {
				case <-ctx.Done():
					if verbose {
						logf("slow cancelled: %v", ctx.Err())
					}
					return nil, slowOut{}, ctx.Err()
				case <-time.After(step):
				}
				if token != nil {
					if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
						ProgressToken: token, Progress: float64(i), Total: float64(steps),
						Message: fmt.Sprintf("step %d/%d", i, steps),
					}); err != nil {
						return nil, slowOut{}, err
					}
				}
			}
			return nil, slowOut{SleptMS: in.MS}, nil
		})
	return server
}

func runServerModern(args []string) error {
	fs := flag.NewFlagSet("server-modern", flag.ContinueOnError)
	legacy := fs.Bool("legacy", false, "also serve legacy sessions (initialize) and advertise every version the SDK knows; default: 2026-07-28 only, initialize is refused with -32601")
	verbose := fs.Bool("v", false, "log tool calls to stderr")
	work := fs.Bool("work", false, "also serve the work tool (a known footprint: sh, a file, a connection, CPU), for the footprint tests")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	server := newPeerServer(*legacy, *verbose)
	if *work {
		addWorkTool(server)
	}
	if *legacy {
		logf("server-modern: serving %s and the legacy versions on stdio", modernVersion)
	} else {
		logf("server-modern: serving %s only on stdio", modernVersion)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := server.Run(ctx, &mcp.StdioTransport{}); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	logf("server-modern: stdin closed, exiting")
	return nil
}

// ---------------------------------------------------------------------------
// gopeer client-modern: a 2026-07-28 client.

func runClientModern(args []string) (err error) {
	fs := flag.NewFlagSet("client-modern", flag.ContinueOnError)
	stepsFlag := fs.String("steps", "list,add,slow,cancel", "steps to run after server/discover")
	listen := fs.Bool("listen", false, "register a tools list_changed handler, so the SDK opens subscriptions/listen after server/discover")
	slowMS := fs.Int("slow-ms", 400, "ms argument of the slow call")
	cancelAfter := fs.Duration("cancel-after", 300*time.Millisecond, "when the cancel step cancels its slow call (ms=5000)")
	verbose := fs.Bool("v", false, "log every wire message to stderr")
	workArgs := fs.String("work", `{"file":"/etc/hostname","user_ms":100,"sys_ms":100}`, "arguments of the work step's call (JSON)")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	steps, err := parseSteps(*stepsFlag, []string{"list", "add", "slow", "cancel", "work", "pair"})
	if err != nil {
		return err
	}
	cmd, err := serverCommand(fs.Args())
	if err != nil {
		return err
	}

	t0 := time.Now()
	rec := newRecorder(*verbose)
	sc := &scenario{rec: rec}
	sum := summary{Peer: "gopeer client-modern", Server: fs.Args(), IDsNote: idsNote}
	defer func() {
		sc.finish()
		sum.Steps = sc.steps
		sum.OK = err == nil
		sum.Seconds = time.Since(t0).Seconds()
		if werr := writeJSON(sum); werr != nil && err == nil {
			err = werr
		}
	}()

	ctx := context.Background()
	opts := &mcp.ClientOptions{
		Capabilities: &mcp.ClientCapabilities{},
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			p := req.Params
			logf("  progress token=%v %v/%v %s", p.ProgressToken, p.Progress, p.Total, p.Message)
		},
	}
	if *listen {
		opts.ToolListChangedHandler = func(context.Context, *mcp.ToolListChangedRequest) { logf("  tools list changed") }
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "mcpscope-gopeer-modern-client", Version: peerVersion}, opts)
	transport := &recTransport{inner: &mcp.CommandTransport{Command: cmd, TerminateDuration: 2 * time.Second}, rec: rec}
	if *listen {
		// ClientSession.Close cancels the listen (notifications/cancelled) and
		// closes stdin at once; give the server time to answer the listen.
		transport.closeDelay = 200 * time.Millisecond
	}
	var cs *mcp.ClientSession
	defer func() {
		if cs != nil && err != nil {
			_ = cs.Close()
		}
	}()

	if err := sc.run("discover", "server/discover", func(d map[string]any) (string, error) {
		var err error
		cs, err = client.Connect(ctx, transport, &mcp.ClientSessionOptions{ProtocolVersion: modernVersion})
		if err != nil {
			return "", fmt.Errorf("connect: %w", err)
		}
		ir := cs.InitializeResult()
		sum.ProtocolVersion = ir.ProtocolVersion
		d["protocol_version"] = ir.ProtocolVersion
		if ir.ServerInfo != nil {
			d["server_info"] = ir.ServerInfo.Name + " " + ir.ServerInfo.Version
		}
		if ir.ProtocolVersion != modernVersion {
			return "", fmt.Errorf("negotiated %q, want %s", ir.ProtocolVersion, modernVersion)
		}
		for _, m := range rec.forStep("discover") {
			if m.Method == "initialize" {
				return "", errors.New("SDK fell back to initialize")
			}
		}
		if *listen {
			if _, ok := rec.waitFor(2*time.Second, func(m wireMsg) bool {
				return m.Method == "notifications/subscriptions/acknowledged"
			}); !ok {
				return "", errors.New("no notifications/subscriptions/acknowledged")
			}
		}
		return "negotiated " + ir.ProtocolVersion + " via server/discover", nil
	}); err != nil {
		return err
	}

	if steps["list"] {
		if err := sc.run("list", "tools/list", func(d map[string]any) (string, error) {
			res, err := cs.ListTools(ctx, nil)
			if err != nil {
				return "", err
			}
			var names []string
			for _, t := range res.Tools {
				names = append(names, t.Name)
			}
			d["tools"] = names
			if !slices.Contains(names, "add") || !slices.Contains(names, "slow") {
				return "", fmt.Errorf("want tools add and slow, got %v", names)
			}
			return strings.Join(names, ","), nil
		}); err != nil {
			return err
		}
	}

	if steps["add"] {
		if err := sc.run("add", "tools/call add", func(d map[string]any) (string, error) {
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "add", Arguments: map[string]any{"a": 2, "b": 3}})
			if err != nil {
				return "", err
			}
			var out addOut
			b, _ := json.Marshal(res.StructuredContent)
			_ = json.Unmarshal(b, &out)
			d["structured_content"] = res.StructuredContent
			if res.IsError || out.Sum != 5 {
				return "", fmt.Errorf("add 2+3: got %s (isError=%v)", b, res.IsError)
			}
			return "2+3=5", nil
		}); err != nil {
			return err
		}
	}

	if steps["work"] {
		if err := sc.run("work", "tools/call work", func(d map[string]any) (string, error) {
			return callWork(ctx, cs, *workArgs, d)
		}); err != nil {
			return err
		}
	}

	if steps["pair"] {
		if err := sc.run("pair", "two tools/call slow at once", func(d map[string]any) (string, error) {
			// Two calls in flight together: the server runs them at the same time, so their footprints overlap.
			errs := make(chan error, 2)
			for range 2 {
				go func() {
					res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "slow", Arguments: map[string]any{"ms": 300}})
					if err == nil && res.IsError {
						err = fmt.Errorf("slow: %s", textOf(res))
					}
					errs <- err
				}()
			}
			if err := errors.Join(<-errs, <-errs); err != nil {
				return "", err
			}
			return "both answered", nil
		}); err != nil {
			return err
		}
	}

	if steps["slow"] {
		if err := sc.run("slow", "tools/call slow with progress", func(d map[string]any) (string, error) {
			const token = "gopeer-modern-slow"
			p := &mcp.CallToolParams{Name: "slow", Arguments: map[string]any{"ms": *slowMS, "steps": 4}}
			p.SetProgressToken(token)
			res, err := cs.CallTool(ctx, p)
			if err != nil {
				return "", err
			}
			n := 0
			for _, m := range rec.forStep("slow") {
				if m.Method == "notifications/progress" && m.Token == token {
					n++
				}
			}
			d["progress_notifications"] = n
			d["structured_content"] = res.StructuredContent
			if res.IsError || n != 4 {
				return "", fmt.Errorf("want 4 progress notifications and a result, got %d (isError=%v)", n, res.IsError)
			}
			return "4 progress notifications, then the result", nil
		}); err != nil {
			return err
		}
	}

	if steps["cancel"] {
		if err := sc.run("cancel", "tools/call slow cancelled", func(d map[string]any) (string, error) {
			cctx, cancel := context.WithCancel(ctx)
			timer := time.AfterFunc(*cancelAfter, cancel)
			defer timer.Stop()
			defer cancel()
			_, err := cs.CallTool(cctx, &mcp.CallToolParams{Name: "slow", Arguments: map[string]any{"ms": 5000}})
			if !errors.Is(err, context.Canceled) {
				return "", fmt.Errorf("want context.Canceled, got %v", err)
			}
			n, ok := rec.waitFor(2*time.Second, func(m wireMsg) bool {
				return m.Dir == "c>s" && m.Method == "notifications/cancelled" && m.Written
			})
			if !ok {
				return "", errors.New("SDK did not send notifications/cancelled")
			}
			d["cancelled_request_id"] = n.RefID
			// The go-sdk server does answer a cancelled request: wait for it (long enough for a kernel under emulation).
			resp, ok := rec.waitFor(15*time.Second, func(m wireMsg) bool {
				return m.Dir == "s>c" && (m.Kind == "result" || m.Kind == "error") && fmt.Sprint(m.ID) == fmt.Sprint(n.RefID)
			})
			d["late_response_to_cancelled_id"] = ok
			if ok {
				d["late_response_kind"] = resp.Kind
				d["late_response_is_error"] = resp.IsError
				return fmt.Sprintf("notifications/cancelled for id %v; server still answered (%s, isError=%v)", n.RefID, resp.Kind, resp.IsError), nil
			}
			return fmt.Sprintf("notifications/cancelled for id %v; no late response", n.RefID), nil
		}); err != nil {
			return err
		}
	}

	return sc.run("close", "close", func(d map[string]any) (string, error) {
		t := time.Now()
		err := cs.Close()
		cs = nil
		d["close_ms"] = time.Since(t).Milliseconds()
		if err != nil {
			return "", fmt.Errorf("close (server exit status): %w", err)
		}
		return "stdin closed, server exited 0", nil
	})
}

// ---------------------------------------------------------------------------
// gopeer junk: non-MCP bytes on stdout.

func runJunk(args []string) error {
	fs := flag.NewFlagSet("junk", flag.ContinueOnError)
	limit := fs.Int64("bytes", 1<<20, "stop after writing this many bytes")
	seconds := fs.Float64("seconds", 5, "stop after this many seconds")
	seed := fs.Uint64("seed", 1, "seed of the deterministic byte generator")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if *limit <= 0 || *seconds <= 0 {
		return usageError{"-bytes and -seconds must be positive"}
	}
	// A closed reader is the reader's business: report it, do not die of SIGPIPE.
	signal.Ignore(syscall.SIGPIPE)
	rng := rand.New(rand.NewPCG(*seed, 0x6d637073636f7065))
	deadline := time.Now().Add(time.Duration(*seconds * float64(time.Second)))

	// The last piece: one very long line with no newline, up to 256 KiB or a
	// quarter of the budget.
	longLen := min(*limit/4, 256<<10)
	budget := *limit - longLen

	var written int64
	var pieces int
	write := func(p []byte) error {
		if rem := *limit - written; int64(len(p)) > rem {
			p = p[:rem]
		}
		n, err := os.Stdout.Write(p)
		written += int64(n)
		return err
	}
	pieceKinds := []func(i int) []byte{
		func(i int) []byte {
			return fmt.Appendf(nil, "2026-11-22T07:00:%02d.000Z INFO junk[%d]: this is a log line, not MCP\n", i%60, i)
		},
		func(int) []byte { // binary, including NUL and newline bytes
			b := make([]byte, 64+rng.IntN(960))
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
			return b
		},
		func(int) []byte { return []byte(`{"hello":"world"}` + "\n") },
		func(int) []byte { return []byte(`{"id":` + "\x00\xff garbage ]]]}\n") },
		func(i int) []byte {
			return fmt.Appendf(nil, `{"jsonrpc":"1.0","id":%d,"method":"tools/call","params":{}}`+"\n", i)
		},
		func(int) []byte {
			return []byte(`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":` + "\n")
		},
		func(int) []byte { return []byte(`{"jsonrpc":"2.0","id":null,"result":` + "\n") },
		func(int) []byte { return []byte("[1,2,3]\n") },
		func(int) []byte { return []byte("Content-Length: 42\r\n\r\n") },
		func(int) []byte { return []byte(`{"jsonrpc":"2.0","result":{},"id":{"not":"an id"}}` + "\n") },
	}
	var werr error
	for written < budget && time.Now().Before(deadline) {
		p := pieceKinds[pieces%len(pieceKinds)](pieces)
		if rem := budget - written; int64(len(p)) > rem {
			p = p[:rem]
		}
		if werr = write(p); werr != nil {
			break
		}
		pieces++
	}
	if werr == nil {
		// Written even when time ran out: it is bounded by -bytes.
		long := make([]byte, min(longLen, *limit-written))
		for j := range long {
			long[j] = 'A' + byte(j%26)
		}
		if len(long) > 0 {
			copy(long, `{"jsonrpc":"2.0","method":"very/long/line","params":"`)
		}
		werr = write(long)
		pieces++
	}
	logf("junk: wrote %d bytes in %d pieces (limit %d bytes, %.1f s)", written, pieces, *limit, *seconds)
	if werr != nil {
		if errors.Is(werr, syscall.EPIPE) {
			logf("junk: reader closed the pipe")
			return nil
		}
		return werr
	}
	return nil
}

// ---------------------------------------------------------------------------
// gopeer pingpong: sequential request benchmark.

func runPingPong(args []string) error {
	fs := flag.NewFlagSet("pingpong", flag.ContinueOnError)
	n := fs.Int("n", 1000, "number of sequential requests")
	size := fs.Int("size", 0, "if > 0, send echo tools/calls with a message of this many bytes instead of ping")
	version := fs.String("version", legacyVersion, "protocol version to request")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if *n <= 0 {
		return usageError{"-n must be positive"}
	}
	cmd, err := serverCommand(fs.Args())
	if err != nil {
		return err
	}
	ctx := context.Background()
	client := mcp.NewClient(&mcp.Implementation{Name: "mcpscope-gopeer-pingpong", Version: peerVersion},
		&mcp.ClientOptions{Capabilities: &mcp.ClientCapabilities{}})
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 2 * time.Second},
		&mcp.ClientSessionOptions{ProtocolVersion: *version})
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer cs.Close()
	method := "ping"
	msg := ""
	if *size > 0 {
		method = "tools/call echo"
		msg = bigMessage(*size)
	}
	logf("pingpong: %d sequential %s requests (protocol %s)", *n, method, cs.InitializeResult().ProtocolVersion)
	t0 := time.Now()
	for i := 0; i < *n; i++ {
		if *size > 0 {
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: toolEcho, Arguments: map[string]any{"message": msg}})
			if err != nil {
				return fmt.Errorf("echo %d: %w", i, err)
			}
			if res.IsError {
				return fmt.Errorf("echo %d: tool error: %s", i, textOf(res))
			}
		} else if err := cs.Ping(ctx, nil); err != nil {
			return fmt.Errorf("ping %d: %w", i, err)
		}
	}
	secs := time.Since(t0).Seconds()
	if err := cs.Close(); err != nil {
		return fmt.Errorf("close (server exit status): %w", err)
	}
	out := struct {
		N           int     `json:"n"`
		Seconds     float64 `json:"seconds"`
		PerSec      float64 `json:"per_sec"`
		Method      string  `json:"method"`
		Size        int     `json:"size,omitempty"`
		BytesPerSec float64 `json:"bytes_per_sec,omitempty"`
	}{N: *n, Seconds: secs, PerSec: float64(*n) / secs, Method: method}
	if *size > 0 {
		out.Size = *size
		out.BytesPerSec = float64(*n) * float64(*size) / secs
	}
	b, _ := json.Marshal(out)
	_, err = fmt.Fprintf(os.Stdout, "%s\n", b)
	return err
}
