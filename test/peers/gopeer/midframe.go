package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// ---------------------------------------------------------------------------
// gopeer client-h2-midframe: an MCP client over HTTPS that writes its HTTP/2 frames itself, so that it can stop in
// the middle of one. It initializes a session, sends the HEADERS of a tools/call and the first half of its DATA
// frame, logs "waiting for SIGUSR1" and waits; then it writes the frame's second half (a TLS write that starts
// mid-frame: the first plaintext a monitor started meanwhile sees of this connection's client side), takes the
// answer, and calls tools/list with whole frames.

func runClientH2Midframe(args []string) error {
	fs := flag.NewFlagSet("client-h2-midframe", flag.ContinueOnError)
	timeout := fs.Duration("timeout", time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() != 1 {
		return usageError{"want one argument: the server's https URL"}
	}
	u, err := url.Parse(fs.Arg(0))
	if err != nil || u.Scheme != "https" {
		return usageError{fmt.Sprintf("URL %q: want https://HOST:PORT/PATH", fs.Arg(0))}
	}
	if err := checkLoopback(u); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)

	d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}}}
	nc, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return err
	}
	conn := nc.(*tls.Conn)
	defer conn.Close()
	if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
		return fmt.Errorf("the server negotiated %q, not h2", p)
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	c := newH2Client(conn, u.Host, u.Path)
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		return err
	}
	if err := c.write(func(fr *http2.Framer) error { return fr.WriteSettings() }); err != nil {
		return err
	}
	go c.readLoop()

	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"gopeer-midframe","version":"1"}}}`
	resp, err := c.call(1, init, "")
	if err != nil {
		return fmt.Errorf("initialize: %w", err)
	}
	sid := resp.header("mcp-session-id")
	if sid == "" {
		return fmt.Errorf("initialize: no Mcp-Session-Id in the answer (status %s)", resp.header(":status"))
	}
	if resp, err = c.call(3, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, sid); err != nil {
		return fmt.Errorf("notifications/initialized: %w", err)
	}
	logf("client-h2-midframe: session %s initialized (%s)", sid, resp.header(":status"))

	// The tools/call, its DATA frame cut in two writes around the wait.
	args2, _ := json.Marshal(map[string]any{"message": strings.Repeat("midframe ", 1000)})
	call := fmt.Sprintf(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":%s}}`, args2)
	const callStream = 5
	callDone, err := c.headers(callStream, false, sid)
	if err != nil {
		return err
	}
	frame := make([]byte, 9, 9+len(call))
	frame[0], frame[1], frame[2] = byte(len(call)>>16), byte(len(call)>>8), byte(len(call))
	frame[3], frame[4] = byte(http2.FrameData), byte(http2.FlagDataEndStream)
	binary.BigEndian.PutUint32(frame[5:], callStream)
	frame = append(frame, call...)
	half := 9 + len(call)/2
	if err := c.raw(frame[:half]); err != nil {
		return err
	}
	logf("client-h2-midframe: %d of the tools/call frame's %d bytes written; waiting for SIGUSR1", half, len(frame))
	select {
	case <-usr1:
	case <-ctx.Done():
		return fmt.Errorf("no SIGUSR1: %w", ctx.Err())
	}
	if err := c.raw(frame[half:]); err != nil {
		return err
	}
	if resp, err = c.wait(callStream, callDone); err != nil {
		return fmt.Errorf("tools/call: %w", err)
	}
	if !bytes.Contains(resp.body, []byte("Echo: midframe")) {
		return fmt.Errorf("tools/call: unexpected answer %q", clipBytes(resp.body))
	}
	if resp, err = c.call(7, `{"jsonrpc":"2.0","id":3,"method":"tools/list"}`, sid); err != nil {
		return fmt.Errorf("tools/list: %w", err)
	}
	if !bytes.Contains(resp.body, []byte(`"echo"`)) {
		return fmt.Errorf("tools/list: unexpected answer %q", clipBytes(resp.body))
	}
	logf("client-h2-midframe: done")
	return nil
}

func clipBytes(b []byte) []byte {
	if len(b) > 200 {
		return b[:200]
	}
	return b
}

// h2Client is the frame-level HTTP/2 client of client-h2-midframe: one connection, requests on given streams.
type h2Client struct {
	conn      *tls.Conn
	authority string
	path      string

	wmu  sync.Mutex // frames are written whole, by the caller and the read loop (acks)
	fr   *http2.Framer
	hbuf bytes.Buffer
	enc  *hpack.Encoder

	mu      sync.Mutex
	answers map[uint32]*h2Answer
	done    map[uint32]chan struct{}
	readErr error
	closed  chan struct{}
}

type h2Answer struct {
	fields []hpack.HeaderField
	body   []byte
}

func (a *h2Answer) header(name string) string {
	for _, f := range a.fields {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}

func newH2Client(conn *tls.Conn, authority, path string) *h2Client {
	c := &h2Client{conn: conn, authority: authority, path: path, answers: map[uint32]*h2Answer{},
		done: map[uint32]chan struct{}{}, closed: make(chan struct{})}
	c.fr = http2.NewFramer(conn, conn)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.enc = hpack.NewEncoder(&c.hbuf)
	return c
}

func (c *h2Client) write(f func(*http2.Framer) error) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return f(c.fr)
}

// raw writes bytes as they are, in one TLS write.
func (c *h2Client) raw(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.conn.Write(b)
	return err
}

// headers sends the HEADERS of a request on stream; the channel returned is closed when its answer ended.
func (c *h2Client) headers(stream uint32, end bool, sid string) (<-chan struct{}, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.hbuf.Reset()
	fields := []string{":method", "POST", ":scheme", "https", ":authority", c.authority, ":path", c.path,
		"content-type", "application/json", "accept", "application/json, text/event-stream"}
	if sid != "" {
		fields = append(fields, "mcp-session-id", sid, "mcp-protocol-version", "2025-11-25")
	}
	for i := 0; i < len(fields); i += 2 {
		if err := c.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]}); err != nil {
			return nil, err
		}
	}
	done := make(chan struct{})
	c.mu.Lock()
	c.done[stream] = done
	c.answers[stream] = &h2Answer{}
	c.mu.Unlock()
	return done, c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: c.hbuf.Bytes(), EndStream: end, EndHeaders: true})
}

// call sends a POST of body on stream with whole frames and waits for its answer.
func (c *h2Client) call(stream uint32, body, sid string) (*h2Answer, error) {
	done, err := c.headers(stream, false, sid)
	if err != nil {
		return nil, err
	}
	if err := c.write(func(fr *http2.Framer) error { return fr.WriteData(stream, true, []byte(body)) }); err != nil {
		return nil, err
	}
	return c.wait(stream, done)
}

func (c *h2Client) wait(stream uint32, done <-chan struct{}) (*h2Answer, error) {
	select {
	case <-done:
	case <-c.closed:
		return nil, fmt.Errorf("connection lost: %w", c.readErr)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.answers[stream], nil
}

func (c *h2Client) readLoop() {
	defer close(c.closed)
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			c.readErr = err
			return
		}
		var end bool
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				err = c.write(func(fr *http2.Framer) error { return fr.WriteSettingsAck() })
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				err = c.write(func(fr *http2.Framer) error { return fr.WritePing(true, f.Data) })
			}
		case *http2.GoAwayFrame:
			err = fmt.Errorf("GOAWAY %v", f.ErrCode)
		case *http2.RSTStreamFrame:
			err = fmt.Errorf("stream %d reset: %v", f.StreamID, f.ErrCode)
		case *http2.MetaHeadersFrame:
			c.mu.Lock()
			if a := c.answers[f.StreamID]; a != nil {
				a.fields = append(a.fields, f.Fields...)
			}
			c.mu.Unlock()
			end = f.StreamEnded()
		case *http2.DataFrame:
			c.mu.Lock()
			if a := c.answers[f.StreamID]; a != nil {
				a.body = append(a.body, f.Data()...)
			}
			c.mu.Unlock()
			end = f.StreamEnded()
			// No WINDOW_UPDATE: the answers here stay within the initial 64 KiB windows.
		}
		if err != nil {
			c.readErr = err
			return
		}
		if end {
			c.mu.Lock()
			if ch := c.done[f.Header().StreamID]; ch != nil {
				close(ch)
				delete(c.done, f.Header().StreamID)
			}
			c.mu.Unlock()
		}
	}
}
