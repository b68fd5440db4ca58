package main

// Bad input on the HTTP path: gopeer http-badinput, a client that mixes raw TCP connections carrying broken HTTP
// with one valid go-sdk session, and gopeer http-badserver, a raw HTTP server that cuts its server-sent event
// streams mid-event. Both use loopback addresses only. test/peers/README.md lists the exact bytes.

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The bad cases of http-badinput, in the order they run.
const (
	badBinary     = "binary"      // a TCP connection carrying only binary bytes (never HTTP)
	badJunkBody   = "junkbody"    // an MCP-looking POST with a binary body, then binary bytes on the same connection
	badHeader     = "badheader"   // an MCP-looking POST whose header section is broken (Content-Length: 12x)
	badChunk      = "badchunk"    // an MCP-looking chunked POST with a chunk size that is not hex
	badCutBody    = "cutbody"     // an MCP-looking chunked POST cut mid-body: the connection closes
	badCutSSE     = "cutsse"      // a POST answered by a close-delimited event stream cut mid-event (http-badserver)
	badCutSSEChnk = "cutssechunk" // the same with a chunked event stream cut mid-chunk (http-badserver)
)

var badCases = []string{badBinary, badJunkBody, badHeader, badChunk, badCutBody, badCutSSE, badCutSSEChnk}

// badConn is what http-badinput reports of one raw connection.
type badConn struct {
	Case     string `json:"case"`
	Local    string `json:"local"`  // the client's address
	Remote   string `json:"remote"` // the server's address
	Sent     int    `json:"sent"`   // bytes written
	Received int    `json:"received"`
	Status   int    `json:"status,omitempty"` // the status of the first response read, if any
}

// badReport is the JSON that http-badinput writes to stdout (and to -report).
type badReport struct {
	OK    bool      `json:"ok"`
	Conns []badConn `json:"conns"`
	Error string    `json:"error,omitempty"`
}

// binaryJunk returns n deterministic bytes that are neither HTTP nor JSON: no '\n', so no line in them can look
// like a start line, and no ASCII letters.
func binaryJunk(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 0x6d6370))
	b := make([]byte, n)
	for i := range b {
		c := byte(r.UintN(256))
		if c == '\n' || c == '\r' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') {
			c |= 0x80
		}
		b[i] = c
	}
	return b
}

func runHTTPBadInput(args []string) (err error) {
	fs := flag.NewFlagSet("http-badinput", flag.ContinueOnError)
	cases := fs.String("cases", strings.Join(badCases, ","), "bad cases to run, in this order: "+strings.Join(badCases, ","))
	sseURL := fs.String("sse", "", "URL of gopeer http-badserver (needed by "+badCutSSE+" and "+badCutSSEChnk+")")
	report := fs.String("report", "", "also write the JSON report to this file")
	timeout := fs.Duration("timeout", time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() != 1 {
		return usageError{"want exactly one argument: the URL of gopeer server-http (http://127.0.0.1:PORT/mcp)"}
	}
	mcpURL, err := loopbackURL(fs.Arg(0))
	if err != nil {
		return err
	}
	run, err := parseSteps(*cases, badCases)
	if err != nil {
		return err
	}
	var badURL *url.URL
	if run[badCutSSE] || run[badCutSSEChnk] {
		if *sseURL == "" {
			return usageError{"-sse is required for " + badCutSSE + " and " + badCutSSEChnk}
		}
		if badURL, err = loopbackURL(*sseURL); err != nil {
			return err
		}
	}

	var rep badReport
	defer func() {
		rep.OK = err == nil
		if err != nil {
			rep.Error = err.Error()
		}
		b, merr := json.Marshal(rep)
		if merr != nil {
			err = errors.Join(err, merr)
			return
		}
		if *report != "" {
			if werr := os.WriteFile(*report, append(b, '\n'), 0o644); werr != nil {
				err = errors.Join(err, werr)
			}
		}
		if _, werr := fmt.Fprintf(os.Stdout, "%s\n", b); werr != nil {
			err = errors.Join(err, werr)
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	// The valid session: initialize before the bad input, the echo call after it.
	base := &http.Transport{MaxIdleConnsPerHost: 2, IdleConnTimeout: 30 * time.Second}
	defer base.CloseIdleConnections()
	transport := &mcp.StreamableClientTransport{Endpoint: mcpURL.String(), HTTPClient: &http.Client{Transport: base},
		DisableStandaloneSSE: true}
	client := mcp.NewClient(&mcp.Implementation{Name: "mcpscope-gopeer-badinput", Version: peerVersion},
		&mcp.ClientOptions{Capabilities: &mcp.ClientCapabilities{}})
	cs, err := client.Connect(ctx, transport, &mcp.ClientSessionOptions{ProtocolVersion: legacyVersion})
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() {
		if cs != nil {
			_ = cs.Close()
		}
	}()
	logf("http-badinput: session open (%s)", cs.InitializeResult().ProtocolVersion)

	deadline, _ := ctx.Deadline()
	for _, c := range badCases {
		if !run[c] {
			continue
		}
		target := mcpURL
		if c == badCutSSE || c == badCutSSEChnk {
			target = badURL
		}
		bc, err := runBadCase(c, target, deadline)
		rep.Conns = append(rep.Conns, bc)
		if err != nil {
			return fmt.Errorf("%s: %w", c, err)
		}
		logf("http-badinput: %s: %s -> %s, sent %d, received %d, status %d", c, bc.Local, bc.Remote, bc.Sent, bc.Received, bc.Status)
	}

	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: toolEcho, Arguments: map[string]any{"message": "hi"}})
	if err != nil {
		return fmt.Errorf("echo after the bad input: %w", err)
	}
	if got := textOf(res); res.IsError || got != "Echo: hi" {
		return fmt.Errorf("echo after the bad input: isError=%v, %q", res.IsError, got)
	}
	err = cs.Close()
	cs = nil
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}

// loopbackURL parses an http:// URL whose host is a loopback IP address.
func loopbackURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "http" {
		return nil, usageError{fmt.Sprintf("URL %q: want http://HOST:PORT/PATH", s)}
	}
	return u, checkLoopback(u)
}

// checkLoopback refuses URLs whose host is not a loopback IP address: the peers never reach beyond the host.
func checkLoopback(u *url.URL) error {
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		return usageError{fmt.Sprintf("URL %q: the host must be a loopback IP address", u)}
	}
	return nil
}

// loopbackTransport is a client transport for url u, HTTP or HTTPS: over TLS it trusts any certificate, since the
// server's (server-http -tls) is self-signed for a loopback address, nothing to verify it against, and nothing
// leaves the host; it negotiates HTTP/2 as Go clients do, or HTTP/1.1 only if h1.
func loopbackTransport(u *url.URL, maxIdlePerHost int, h1 bool) *http.Transport {
	t := &http.Transport{MaxIdleConnsPerHost: maxIdlePerHost, IdleConnTimeout: 30 * time.Second}
	if u.Scheme == "https" {
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
		t.ForceAttemptHTTP2 = !h1
		if h1 {
			t.TLSClientConfig.NextProtos = []string{"http/1.1"}
		}
	}
	return t
}

// mcpHead is the start of a request that the kernel classifies as MCP: a POST with Accept: text/event-stream and
// an MCP-Protocol-Version header in its first bytes.
func mcpHead(u *url.URL, path string, framing string) string {
	return "POST " + path + " HTTP/1.1\r\n" +
		"Host: " + u.Host + "\r\n" +
		"Accept: application/json, text/event-stream\r\n" +
		"Content-Type: application/json\r\n" +
		"MCP-Protocol-Version: " + legacyVersion + "\r\n" +
		framing
}

// A JSON-RPC request that the bad cases send (whole or cut).
const badCallBody = `{"jsonrpc":"2.0","id":901,"method":"tools/call","params":{"name":"echo","arguments":{"message":"cut"}}}`

// runBadCase runs one bad case on a connection of its own, to u's host.
func runBadCase(name string, u *url.URL, deadline time.Time) (bc badConn, err error) {
	bc.Case = name
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		return bc, err
	}
	defer conn.Close()
	tc := conn.(*net.TCPConn)
	bc.Local, bc.Remote = conn.LocalAddr().String(), conn.RemoteAddr().String()
	// Every case ends within 10 s, and within the client's deadline.
	if d := time.Now().Add(10 * time.Second); d.Before(deadline) {
		deadline = d
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return bc, err
	}
	write := func(s string) error {
		n, err := io.WriteString(conn, s)
		bc.Sent += n
		return err
	}
	// drain reads what the server sends until it closes the connection (so that the client's reads, which is
	// where the kernel copies received bytes, see all of it), noting the status of the first response.
	drain := func() error {
		b, err := io.ReadAll(conn)
		bc.Received += len(b)
		if bc.Status == 0 {
			bc.Status = statusOf(b)
		}
		return err
	}

	switch name {
	case badBinary:
		if err := write(string(binaryJunk(4096, 1))); err != nil {
			return bc, err
		}
		_ = tc.CloseWrite()
		return bc, drain()

	case badJunkBody:
		body := binaryJunk(512, 2)
		if err := write(mcpHead(u, u.Path, "Content-Length: "+strconv.Itoa(len(body))+"\r\n\r\n") + string(body)); err != nil {
			return bc, err
		}
		// Read the answer to that POST, then send binary bytes on the same connection.
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return bc, fmt.Errorf("response to the junk body: %w", err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		bc.Status = resp.StatusCode
		bc.Received += len(b) // the body only; the head is not counted
		if err != nil {
			return bc, err
		}
		if err := write(string(binaryJunk(4096, 3))); err != nil {
			return bc, err
		}
		_ = tc.CloseWrite()
		rest, err := io.ReadAll(br)
		bc.Received += len(rest)
		return bc, err

	case badHeader:
		// A Content-Length that is not a number breaks the header section; the body follows all the same.
		if err := write(mcpHead(u, u.Path, "Content-Length: 12x\r\nConnection: close\r\n\r\n") + badCallBody); err != nil {
			return bc, err
		}
		_ = tc.CloseWrite()
		return bc, drain()

	case badChunk:
		body := "zz\r\n" + badCallBody + "\r\n0\r\n\r\n"
		if err := write(mcpHead(u, u.Path, "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n") + body); err != nil {
			return bc, err
		}
		_ = tc.CloseWrite()
		return bc, drain()

	case badCutBody:
		// One chunk announces the whole message; only its first half is sent before the connection closes.
		half := badCallBody[:len(badCallBody)/2]
		if err := write(mcpHead(u, u.Path, "Transfer-Encoding: chunked\r\n\r\n") + fmt.Sprintf("%x\r\n", len(badCallBody)) + half); err != nil {
			return bc, err
		}
		// Let the bytes reach the server before the close.
		time.Sleep(100 * time.Millisecond)
		return bc, nil

	case badCutSSE, badCutSSEChnk:
		path := "/close"
		if name == badCutSSEChnk {
			path = "/chunked"
		}
		if err := write(mcpHead(u, path, "Content-Length: "+strconv.Itoa(len(badCallBody))+"\r\nConnection: close\r\n\r\n") + badCallBody); err != nil {
			return bc, err
		}
		return bc, drain()
	}
	return bc, usageError{"unknown case " + name}
}

// statusOf returns the status code of the HTTP/1.x response that b starts with, or 0.
func statusOf(b []byte) int {
	line, _, _ := strings.Cut(string(b), "\r\n")
	f := strings.Fields(line)
	if len(f) < 2 || !strings.HasPrefix(f[0], "HTTP/1.") {
		return 0
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		return 0
	}
	return n
}

// ---------------------------------------------------------------------------
// gopeer http-badserver: answers every POST with an event stream that ends in the middle of an event.

// The event the server cuts: its first half is sent, then the connection closes.
const cutEvent = "event: message\ndata: " + `{"jsonrpc":"2.0","id":901,"result":{"content":[{"type":"text","text":"Echo: cut"}]}}` + "\n\n"

// cutSSEHead is the response head of http-badserver; chunked says whether the body is chunked.
func cutSSEHead(chunked bool) string {
	h := "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
	if chunked {
		return h + "Transfer-Encoding: chunked\r\n\r\n"
	}
	return h + "Connection: close\r\n\r\n"
}

func runHTTPBadServer(args []string) error {
	fs := flag.NewFlagSet("http-badserver", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "loopback `address` to listen on (port 0: any free port)")
	lifetime := fs.Duration("lifetime", 5*time.Minute, "exit after this long even if nobody stops the server")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() != 0 {
		return usageError{fmt.Sprintf("unexpected arguments %q", fs.Args())}
	}
	if *lifetime <= 0 {
		return usageError{"-lifetime must be positive"}
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return usageError{fmt.Sprintf("-addr %q: %v", *addr, err)}
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return usageError{fmt.Sprintf("-addr %q: give a loopback IP address (127.0.0.1, ::1)", *addr)}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	endpoint := (&url.URL{Scheme: "http", Host: ln.Addr().String(), Path: "/close"}).String()
	logf("http-badserver: serving at %s (and /chunked); exits on SIGINT/SIGTERM or after %v", endpoint, *lifetime)
	if _, err := fmt.Fprintln(os.Stdout, endpoint); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *lifetime)
	defer cancel()
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				logf("http-badserver: shutting down")
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			serveCut(conn)
		}()
	}
}

// serveCut answers the first request on conn with half of cutEvent, then closes the connection.
func serveCut(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req, err := http.ReadRequest(bufio.NewReader(conn))
	if err != nil {
		logf("http-badserver: %v", err)
		return
	}
	if _, err := io.Copy(io.Discard, req.Body); err != nil {
		logf("http-badserver: request body: %v", err)
		return
	}
	half := cutEvent[:len(cutEvent)/2]
	chunked := req.URL.Path == "/chunked"
	out := cutSSEHead(chunked)
	if chunked {
		// The chunk announces the whole event; half of it comes.
		out += fmt.Sprintf("%x\r\n", len(cutEvent)) + half
	} else {
		out += half
	}
	if req.Method != http.MethodPost || !slices.Contains([]string{"/close", "/chunked"}, req.URL.Path) {
		out = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
	}
	if _, err := io.WriteString(conn, out); err != nil {
		logf("http-badserver: %v", err)
		return
	}
	logf("http-badserver: %s %s: sent %d bytes, closing", req.Method, req.URL.Path, len(out))
}
