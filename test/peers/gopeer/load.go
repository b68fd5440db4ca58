package main

// gopeer http-load: a Streamable HTTP load generator for the benchmarks. N go-sdk clients, each with a session and
// a keep-alive connection of its own, call echo as fast as they can, a fixed number of times each.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// loadResult is http-load's summary line.
type loadResult struct {
	Clients  int     `json:"clients"`
	Calls    int     `json:"calls"`    // echo calls per client
	Requests int     `json:"requests"` // echo calls in all
	Seconds  float64 `json:"seconds"`  // from the first call to the last result, sessions set up before
	PerSec   float64 `json:"per_sec"`  // echo calls (request and result) per second
	// Messages is every JSON-RPC message the clients and the server exchanged: per client initialize, its
	// result, notifications/initialized, and a request and a result per call.
	Messages int `json:"messages"`
}

func runHTTPLoad(args []string) error {
	fs := flag.NewFlagSet("http-load", flag.ContinueOnError)
	clients := fs.Int("clients", 4, "concurrent clients, each with its own session and connection")
	calls := fs.Int("calls", 1000, "echo calls per client")
	size := fs.Int("size", 2, "bytes of each echo message")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after this long")
	h1 := fs.Bool("http1", false, "HTTPS: offer HTTP/1.1 only (default: HTTP/2, as Go clients negotiate)")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() != 1 {
		return usageError{"want exactly one argument: the server URL (http[s]://127.0.0.1:PORT/mcp)"}
	}
	if *clients <= 0 || *clients > 256 || *calls <= 0 || *size <= 0 || *size > 1<<20 {
		return usageError{"want 1 ≤ -clients ≤ 256, -calls > 0 and 1 ≤ -size ≤ 1 MiB"}
	}
	u, err := url.Parse(fs.Arg(0))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return usageError{fmt.Sprintf("server URL %q: want http[s]://HOST:PORT/PATH", fs.Arg(0))}
	}
	if err := checkLoopback(u); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	// Set every session up first, so that the timed part is the calls alone.
	sessions := make([]*mcp.ClientSession, *clients)
	defer func() {
		for _, cs := range sessions {
			if cs != nil {
				_ = cs.Close()
			}
		}
	}()
	for i := range sessions {
		base := loopbackTransport(u, 1, *h1)
		defer base.CloseIdleConnections()
		client := mcp.NewClient(&mcp.Implementation{Name: "mcpscope-gopeer-load", Version: peerVersion},
			&mcp.ClientOptions{Capabilities: &mcp.ClientCapabilities{}})
		t := &mcp.StreamableClientTransport{Endpoint: u.String(), HTTPClient: &http.Client{Transport: base}, DisableStandaloneSSE: true}
		cs, err := client.Connect(ctx, t, &mcp.ClientSessionOptions{ProtocolVersion: legacyVersion})
		if err != nil {
			return fmt.Errorf("client %d: connect: %w", i, err)
		}
		sessions[i] = cs
	}
	msg := bigMessage(*size)
	want := "Echo: " + msg
	logf("http-load: %d clients × %d echo calls of %d bytes", *clients, *calls, *size)

	t0 := time.Now()
	errs := make([]error, *clients)
	var wg sync.WaitGroup
	for i, cs := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < *calls; j++ {
				res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: toolEcho, Arguments: map[string]any{"message": msg}})
				if err != nil {
					errs[i] = fmt.Errorf("client %d call %d: %w", i, j, err)
					return
				}
				if res.IsError || textOf(res) != want {
					errs[i] = fmt.Errorf("client %d call %d: unexpected result (isError=%v)", i, j, res.IsError)
					return
				}
			}
		}()
	}
	wg.Wait()
	secs := time.Since(t0).Seconds()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for i, cs := range sessions {
		sessions[i] = nil
		if err := cs.Close(); err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("client %d: close: %w", i, err)
		}
	}
	n := *clients * *calls
	out := loadResult{Clients: *clients, Calls: *calls, Requests: n, Seconds: secs, PerSec: float64(n) / secs,
		Messages: *clients*3 + 2*n}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(os.Stdout, "%s\n", b)
	return err
}
