package main

// The HTTP peers: gopeer's go-sdk server over Streamable HTTP or the legacy HTTP+SSE transport, and a go-sdk
// client that drives any MCP server (gopeer's, server-everything) over either. They listen on and connect to
// loopback addresses only.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const (
	transportStreamable = "streamable"
	transportSSE        = "sse"
	eraLegacy           = "legacy"
	eraModern           = "modern"
)

// checkHTTPModes validates the -transport and -era flags shared by server-http and client-http.
func checkHTTPModes(transport, era string) error {
	if transport != transportStreamable && transport != transportSSE {
		return usageError{fmt.Sprintf("-transport %q: want %s or %s", transport, transportStreamable, transportSSE)}
	}
	if era != eraLegacy && era != eraModern {
		return usageError{fmt.Sprintf("-era %q: want %s or %s", era, eraLegacy, eraModern)}
	}
	if transport == transportSSE && era == eraModern {
		return usageError{"the HTTP+SSE transport exists only in the legacy era (2024-11-05 … 2025-11-25)"}
	}
	return nil
}

// ---------------------------------------------------------------------------
// gopeer server-http: newPeerServer over HTTP on a loopback address.

func runServerHTTP(args []string) error {
	fs := flag.NewFlagSet("server-http", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "loopback `address` to listen on (port 0: any free port)")
	transport := fs.String("transport", transportStreamable, "streamable (Streamable HTTP at /mcp) or sse (legacy HTTP+SSE at /sse)")
	era := fs.String("era", eraLegacy, "legacy: stateful sessions (Mcp-Session-Id), every version the SDK knows; modern: stateless, 2026-07-28 only (initialize refused)")
	lifetime := fs.Duration("lifetime", 5*time.Minute, "exit after this long even if nobody stops the server")
	verbose := fs.Bool("v", false, "log tool calls and HTTP requests to stderr")
	useTLS := fs.Bool("tls", false, "serve HTTPS (HTTP/2 or HTTP/1.1, as the client offers) with a self-signed certificate for the loopback address, made at start")
	maxBody := fs.Int64("max-body", 0, "largest request body in bytes the SDK's handler reads (0: its default, 4 MiB)")
	work := fs.Bool("work", false, "also serve the work tool (a known footprint: sh, a file, a connection, CPU), for the footprint tests")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() != 0 {
		return usageError{fmt.Sprintf("unexpected arguments %q", fs.Args())}
	}
	if err := checkHTTPModes(*transport, *era); err != nil {
		return err
	}
	if *lifetime <= 0 {
		return usageError{"-lifetime must be positive"}
	}
	if *maxBody < 0 {
		return usageError{"-max-body must not be negative"}
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return usageError{fmt.Sprintf("-addr %q: %v", *addr, err)}
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return usageError{fmt.Sprintf("-addr %q: give a loopback IP address (127.0.0.1, ::1)", *addr)}
	}

	server := newPeerServer(*era == eraLegacy, *verbose)
	if *work {
		addWorkTool(server)
	}
	getServer := func(*http.Request) *mcp.Server { return server }
	var handler http.Handler
	path := "/mcp"
	switch *transport {
	case transportStreamable:
		// The SDK serves 2026-07-28 over HTTP only when stateless (no Mcp-Session-Id), and legacy sessions with
		// their Mcp-Session-Id only when stateful.
		handler = mcp.NewStreamableHTTPHandler(getServer, &mcp.StreamableHTTPOptions{Stateless: *era == eraModern, MaxRequestBodyBytes: *maxBody})
	case transportSSE:
		// GET /sse opens the session's event stream; its first event names the endpoint
		// (/sse?sessionid=...) that the client POSTs its messages to.
		handler = mcp.NewSSEHandler(getServer, &mcp.SSEOptions{MaxRequestBodyBytes: *maxBody})
		path = "/sse"
	}
	mux := http.NewServeMux()
	mux.Handle(path, handler)
	var root http.Handler = mux
	if *verbose {
		root = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			logf("server-http: %s %s from %s", r.Method, r.URL.RequestURI(), r.RemoteAddr)
			mux.ServeHTTP(w, r)
		})
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: root, ReadHeaderTimeout: 10 * time.Second}
	scheme := "http"
	if *useTLS {
		cert, err := selfSignedCert(net.ParseIP(host))
		if err != nil {
			return err
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
		ln = tls.NewListener(ln, srv.TLSConfig)
		scheme = "https"
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	endpoint := (&url.URL{Scheme: scheme, Host: ln.Addr().String(), Path: path}).String()
	logf("server-http: serving %s (%s era) at %s; exits on SIGINT/SIGTERM or after %v", *transport, *era, endpoint, *lifetime)
	// The one line on stdout: the URL clients connect to. It is printed once the socket listens.
	if _, err := fmt.Fprintln(os.Stdout, endpoint); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	timer := time.NewTimer(*lifetime)
	defer timer.Stop()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
		logf("server-http: signalled, shutting down")
	case <-timer.C:
		logf("server-http: lifetime of %v is over, shutting down", *lifetime)
	}
	// Hanging SSE streams never go idle: give in-flight requests a moment, then close whatever is left.
	sctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	return nil
}

// ---------------------------------------------------------------------------
// gopeer client-http: a go-sdk client over HTTP.

// The progress calls of client-http, by the tool the server lists.
type progressCall struct {
	tool string
	args map[string]any
}

var progressCalls = []progressCall{
	{toolLong, map[string]any{"duration": 1, "steps": 4}}, // server-everything
	{"slow", map[string]any{"ms": 400, "steps": 4}},       // gopeer server-http
}

func runClientHTTP(args []string) (err error) {
	fs := flag.NewFlagSet("client-http", flag.ContinueOnError)
	transport := fs.String("transport", transportStreamable, "streamable (Streamable HTTP) or sse (legacy HTTP+SSE)")
	era := fs.String("era", eraLegacy, "legacy: initialize with -version; modern: 2026-07-28 via server/discover")
	version := fs.String("version", legacyVersion, "protocol version to request in the legacy era")
	big := fs.Int("big", 1<<20, "size in bytes of the big echo message (0: no big echo)")
	progress := fs.Bool("progress", true, "call a tool with a progress token (trigger-long-running-operation or slow, whichever the server lists)")
	standalone := fs.Bool("standalone-sse", true, "Streamable HTTP, legacy era: open the standalone GET stream after initialize (the SDK default)")
	waitSignal := fs.Bool("wait-signal", false, "after connecting, log \"waiting for SIGUSR1\" and wait for it before the other calls")
	fresh := fs.Bool("fresh-conns", false, "with -wait-signal: close the idle connections on SIGUSR1, so the other calls open new ones")
	timeout := fs.Duration("timeout", time.Minute, "give up after this long")
	verbose := fs.Bool("v", false, "log every HTTP request to stderr")
	h1 := fs.Bool("http1", false, "HTTPS: offer HTTP/1.1 only (default: HTTP/2, as Go clients negotiate)")
	workArgs := fs.String("work", "", "call the work tool of gopeer server-http -work last, with these arguments (JSON); empty: no work call")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() != 1 {
		return usageError{"want exactly one argument: the server URL (http://127.0.0.1:PORT/mcp or .../sse)"}
	}
	if err := checkHTTPModes(*transport, *era); err != nil {
		return err
	}
	endpoint := fs.Arg(0)
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return usageError{fmt.Sprintf("server URL %q: want http[s]://HOST:PORT/PATH", endpoint)}
	}
	if err := checkLoopback(u); err != nil {
		return err
	}
	if *big < 0 || *big > 32<<20 {
		// Both SDKs refuse request bodies above 4 MiB by default (gopeer server-http -max-body raises the limit).
		return usageError{"-big must be between 0 and 32 MiB"}
	}
	// Set up before anything can be signalled.
	usr1 := make(chan os.Signal, 1)
	if *waitSignal {
		signal.Notify(usr1, syscall.SIGUSR1)
		defer signal.Stop(usr1)
	}

	t0 := time.Now()
	// The SDK's transports are used unwrapped: a wrapped mcp.Connection hides the session state from the
	// Streamable HTTP transport, which then sends no MCP-Protocol-Version header and opens no standalone stream.
	// So wire messages are not recorded here (the steps' wire lists stay empty); HTTP requests are.
	sc := &scenario{rec: newRecorder(false)}
	httpLog := &httpLogger{start: t0, verbose: *verbose}
	sum := httpSummary{summary: summary{Peer: "gopeer client-http " + *transport + " " + *era, Server: []string{endpoint},
		IDsNote: "The go-sdk client numbers its requests 1, 2, 3, ... in send order."}}
	defer func() {
		sc.finish()
		sum.Steps = sc.steps
		sum.OK = err == nil
		sum.Seconds = time.Since(t0).Seconds()
		sum.HTTP = httpLog.snapshot()
		if werr := writeJSON(sum); werr != nil && err == nil {
			err = werr
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	// One client, one keep-alive pool: the HTTP requests share connections as a real client's do.
	base := loopbackTransport(u, 4, *h1)
	defer base.CloseIdleConnections()
	httpLog.next = base
	httpClient := &http.Client{Transport: httpLog}
	var inner mcp.Transport
	switch *transport {
	case transportStreamable:
		inner = &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: httpClient, DisableStandaloneSSE: !*standalone}
	case transportSSE:
		inner = &mcp.SSEClientTransport{Endpoint: endpoint, HTTPClient: httpClient}
	}
	var progressMu sync.Mutex
	progressSeen := map[any]int{} // notifications/progress by token
	opts := &mcp.ClientOptions{
		Capabilities: &mcp.ClientCapabilities{},
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			p := req.Params
			logf("  progress token=%v %v/%v %s", p.ProgressToken, p.Progress, p.Total, p.Message)
			progressMu.Lock()
			progressSeen[p.ProgressToken]++
			progressMu.Unlock()
		},
		LoggingMessageHandler: func(_ context.Context, req *mcp.LoggingMessageRequest) {
			logf("  server log [%s] %v", req.Params.Level, req.Params.Data)
		},
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "mcpscope-gopeer-http", Version: peerVersion}, opts)
	wantVersion := *version
	if *era == eraModern {
		wantVersion = modernVersion
	}

	var cs *mcp.ClientSession
	defer func() {
		if cs != nil && err != nil {
			_ = cs.Close()
		}
	}()
	if err := sc.run("connect", "connect", func(d map[string]any) (string, error) {
		var err error
		cs, err = client.Connect(ctx, inner, &mcp.ClientSessionOptions{ProtocolVersion: wantVersion})
		if err != nil {
			return "", fmt.Errorf("connect: %w", err)
		}
		ir := cs.InitializeResult()
		sum.ProtocolVersion = ir.ProtocolVersion
		d["protocol_version"] = ir.ProtocolVersion
		d["session_id_set"] = cs.ID() != ""
		if ir.ServerInfo != nil {
			d["server_info"] = ir.ServerInfo.Name + " " + ir.ServerInfo.Version
		}
		if ir.ProtocolVersion != wantVersion {
			return "", fmt.Errorf("negotiated %q, want %s", ir.ProtocolVersion, wantVersion)
		}
		return "negotiated " + ir.ProtocolVersion, nil
	}); err != nil {
		return err
	}

	if *waitSignal {
		logf("client-http: connected; waiting for SIGUSR1")
		select {
		case <-usr1:
		case <-ctx.Done():
			return fmt.Errorf("no SIGUSR1: %w", ctx.Err())
		}
		if *fresh {
			base.CloseIdleConnections()
		}
	}

	var tools []string
	if err := sc.run("list", "tools/list", func(d map[string]any) (string, error) {
		res, err := cs.ListTools(ctx, nil)
		if err != nil {
			return "", err
		}
		for _, t := range res.Tools {
			tools = append(tools, t.Name)
		}
		d["tools"] = tools
		if !slices.Contains(tools, toolEcho) {
			return "", fmt.Errorf("tools/list has no %q tool: %v", toolEcho, tools)
		}
		return strings.Join(tools, ","), nil
	}); err != nil {
		return err
	}

	echo := func(msg string) error {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: toolEcho, Arguments: map[string]any{"message": msg}})
		if err != nil {
			return err
		}
		if got := textOf(res); res.IsError || got != "Echo: "+msg {
			return fmt.Errorf("unexpected echo result (isError=%v, %d bytes)", res.IsError, len(got))
		}
		return nil
	}
	if err := sc.run("echo", "tools/call echo", func(map[string]any) (string, error) {
		return "echoed hi", echo("hi")
	}); err != nil {
		return err
	}
	if *big > 0 {
		if err := sc.run("big", "tools/call echo big", func(d map[string]any) (string, error) {
			d["message_bytes"] = *big
			return fmt.Sprintf("echoed %d bytes", *big), echo(bigMessage(*big))
		}); err != nil {
			return err
		}
	}
	if *progress {
		if err := sc.run("progress", "tools/call with progress", func(d map[string]any) (string, error) {
			i := slices.IndexFunc(progressCalls, func(c progressCall) bool { return slices.Contains(tools, c.tool) })
			if i < 0 {
				return "", fmt.Errorf("the server lists neither %s nor slow", toolLong)
			}
			const token = "gopeer-http-progress"
			p := &mcp.CallToolParams{Name: progressCalls[i].tool, Arguments: progressCalls[i].args}
			p.SetProgressToken(token)
			res, err := cs.CallTool(ctx, p)
			if err != nil {
				return "", err
			}
			// The notifications travel ahead of the result, but the SDK hands them to the handler asynchronously.
			count := func() int {
				progressMu.Lock()
				defer progressMu.Unlock()
				return progressSeen[token]
			}
			n := count()
			for deadline := time.Now().Add(2 * time.Second); n < 4 && time.Now().Before(deadline); n = count() {
				time.Sleep(10 * time.Millisecond)
			}
			d["progress_notifications"] = n
			if n != 4 || res.IsError {
				return "", fmt.Errorf("want 4 progress notifications and a result, got %d (isError=%v)", n, res.IsError)
			}
			d["tool"] = p.Name
			d["progress_token"] = token
			return "4 progress notifications, then the result", nil
		}); err != nil {
			return err
		}
	}

	if *workArgs != "" {
		if err := sc.run("work", "tools/call work", func(d map[string]any) (string, error) {
			return callWork(ctx, cs, *workArgs, d)
		}); err != nil {
			return err
		}
	}

	return sc.run("close", "close", func(map[string]any) (string, error) {
		err := cs.Close()
		cs = nil
		if err != nil && !errors.Is(err, context.Canceled) {
			return "", fmt.Errorf("close: %w", err)
		}
		return "closed", nil
	})
}

// httpSummary is the summary of client-http: the steps, and the HTTP requests the SDK made.
type httpSummary struct {
	summary
	HTTP []httpExchange `json:"http"`
}

// httpExchange is one HTTP request of client-http and the head of its response.
type httpExchange struct {
	Millis      float64 `json:"t_ms"` // when the response headers arrived
	Method      string  `json:"method"`
	Path        string  `json:"path"` // with the query
	RequestSize int64   `json:"request_size"`
	Status      int     `json:"status,omitempty"`
	ContentType string  `json:"content_type,omitempty"`
	Error       string  `json:"error,omitempty"`
}

// httpLogger is an http.RoundTripper that records every request it passes on.
type httpLogger struct {
	next    http.RoundTripper
	start   time.Time
	verbose bool
	mu      sync.Mutex
	log     []httpExchange
}

func (l *httpLogger) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(req)
	e := httpExchange{Method: req.Method, Path: req.URL.RequestURI(), RequestSize: req.ContentLength,
		Millis: float64(time.Since(l.start).Microseconds()) / 1000}
	if err != nil {
		e.Error = err.Error()
	} else {
		e.Status, e.ContentType = resp.StatusCode, resp.Header.Get("Content-Type")
	}
	if l.verbose {
		logf("  http %s %s (%d bytes): %d %s %s", e.Method, e.Path, e.RequestSize, e.Status, e.ContentType, e.Error)
	}
	l.mu.Lock()
	l.log = append(l.log, e)
	l.mu.Unlock()
	return resp, err
}

func (l *httpLogger) snapshot() []httpExchange {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.log)
}

// selfSignedCert makes a certificate for ip, valid for a day, signed by its own key.
func selfSignedCert(ip net.IP) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: ip.String()},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IPAddresses: []net.IP{ip}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("make a certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
