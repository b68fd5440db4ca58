package h2

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/mcpscope/mcpscope/internal/httpmsg"
	"github.com/mcpscope/mcpscope/internal/httpmsg/httpmsgtest"
)

// wire builds the two directions of a connection frame by frame, with one HPACK encoder per direction.
type wire struct {
	buf    [2]bytes.Buffer
	fr     [2]*http2.Framer
	enc    [2]*hpack.Encoder
	hbuf   [2]bytes.Buffer
	chunks []httpmsgtest.Chunk
	off    [2]int64
}

func newWire(preface bool) *wire {
	w := &wire{}
	for d := range 2 {
		w.fr[d] = http2.NewFramer(&w.buf[d], nil)
		w.enc[d] = hpack.NewEncoder(&w.hbuf[d])
	}
	if preface {
		w.buf[0].WriteString(Preface)
		w.fr[0].WriteSettings()
		w.fr[1].WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 100})
		w.flush()
	}
	return w
}

// flush moves what was written into chunks, client first.
func (w *wire) flush() {
	for d := range 2 {
		if w.buf[d].Len() == 0 {
			continue
		}
		data := bytes.Clone(w.buf[d].Bytes())
		w.buf[d].Reset()
		w.chunks = append(w.chunks, httpmsgtest.Chunk{Dir: Dir(d), Off: w.off[d], Data: data})
		w.off[d] += int64(len(data))
	}
}

func (w *wire) block(d Dir, kv ...string) []byte {
	w.hbuf[d].Reset()
	for i := 0; i < len(kv); i += 2 {
		w.enc[d].WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
	}
	return bytes.Clone(w.hbuf[d].Bytes())
}

func (w *wire) headers(d Dir, id uint32, end bool, kv ...string) {
	w.fr[d].WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: w.block(d, kv...), EndStream: end, EndHeaders: true})
	w.flush()
}

func (w *wire) data(d Dir, id uint32, end bool, s string) {
	w.fr[d].WriteData(id, end, []byte(s))
	w.flush()
}

func post() []string {
	return []string{":method", "POST", ":scheme", "http", ":authority", "h", ":path", "/mcp", "content-type", "application/json", "mcp-method", "tools/call", "mcp-name", "echo"}
}

func TestConn(t *testing.T) {
	tests := []struct {
		name  string
		build func(w *wire)
		want  []string
		check func(t *testing.T, evs []httpmsg.Event, st Stats)
	}{
		{
			name: "basic_and_mcp_headers",
			build: func(w *wire) {
				w.headers(0, 1, false, post()...)
				w.data(0, 1, true, `{"x":1}`)
				w.headers(1, 1, false, ":status", "200", "content-type", "application/json", "mcp-session-id", "s")
				w.data(1, 1, true, `{}`)
			},
			want: []string{`request [1] POST /mcp body="{\"x\":1}"`, `response [1] POST /mcp -> [1] 200 body="{}"`},
			check: func(t *testing.T, evs []httpmsg.Event, _ Stats) {
				if m := evs[0].Request.MCP; m.Method != "tools/call" || m.Name != "echo" {
					t.Errorf("MCP %+v", m)
				}
				if evs[1].Response.MCP.SessionID != "s" {
					t.Errorf("MCP %+v", evs[1].Response.MCP)
				}
			},
		},
		{
			// The server's answer parsed before the end of the request it answers (the client's write reported
			// late, or a server answering early): the request still leaves first, with its body.
			name: "response_before_request_body",
			build: func(w *wire) {
				w.headers(0, 1, false, post()...)
				w.headers(1, 1, false, ":status", "200", "content-type", "application/json")
				w.data(1, 1, true, `{"r":1}`)
				w.data(0, 1, true, `{"x":1}`)
				w.headers(0, 3, false, post()...)
				w.headers(1, 3, true, ":status", "202")
				w.fr[0].WriteRSTStream(3, http2.ErrCodeCancel)
				w.flush()
			},
			want: []string{
				`request [1] POST /mcp body="{\"x\":1}"`, `response [1] POST /mcp -> [1] 200 body="{\"r\":1}"`,
				`request [3] POST /mcp truncated incomplete body=""`, `response [3] POST /mcp truncated incomplete -> [3] 202 body=""`,
			},
		},
		{
			name: "continuation_and_padding",
			build: func(w *wire) {
				b := w.block(0, post()...)
				w.fr[0].WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b[:5], PadLength: 7})
				w.fr[0].WriteContinuation(1, false, b[5:10])
				w.fr[0].WriteContinuation(1, true, b[10:])
				w.fr[0].WriteDataPadded(1, true, []byte("padded"), make([]byte, 20))
				w.flush()
			},
			want: []string{`request [1] POST /mcp body="padded"`},
		},
		{
			name: "interleaved_streams_and_trailers",
			build: func(w *wire) {
				w.headers(0, 1, false, post()...)
				w.headers(0, 3, false, post()...)
				w.data(0, 3, false, "three")
				w.data(0, 1, true, "one")
				w.headers(0, 3, true, "x-trailer", "t")
				w.headers(1, 3, true, ":status", "202")
				w.headers(1, 1, false, ":status", "100")
				w.headers(1, 1, false, ":status", "200")
				w.data(1, 1, true, "ok")
			},
			want: []string{
				`request [1] POST /mcp body="one"`, `request [3] POST /mcp body="three"`,
				`response [3] POST /mcp -> [3] 202 body=""`,
				`interim [1] POST /mcp -> [1] 100`,
				`response [1] POST /mcp -> [1] 200 body="ok"`,
			},
			check: func(t *testing.T, evs []httpmsg.Event, _ Stats) {
				if evs[1].Request.Trailers.Get("x-trailer") != "t" {
					t.Errorf("trailers %v", evs[1].Request.Trailers)
				}
			},
		},
		{
			name: "rst_stream",
			build: func(w *wire) {
				w.headers(0, 1, false, post()...)
				w.data(0, 1, false, "part")
				w.fr[0].WriteRSTStream(1, http2.ErrCodeCancel)
				w.flush()
				w.headers(0, 3, true, ":method", "GET", ":path", "/after", ":scheme", "http")
			},
			want: []string{`request [1] POST /mcp truncated incomplete body="part"`, `request [3] GET /after body=""`},
			check: func(t *testing.T, _ []httpmsg.Event, st Stats) {
				if st.Resets != 1 {
					t.Errorf("stats %+v", st)
				}
			},
		},
		{
			name: "header_table_size_setting_and_push",
			build: func(w *wire) {
				w.fr[0].WriteSettings(http2.Setting{ID: http2.SettingHeaderTableSize, Val: 8192})
				w.flush()
				w.enc[1].SetMaxDynamicTableSizeLimit(8192)
				w.enc[1].SetMaxDynamicTableSize(8192)
				w.headers(0, 1, true, ":method", "GET", ":path", "/a", ":scheme", "http", "x-big", strings.Repeat("v", 5000))
				w.fr[1].WritePushPromise(http2.PushPromiseParam{StreamID: 1, PromiseID: 2, BlockFragment: w.block(1, ":method", "GET", ":path", "/pushed"), EndHeaders: true})
				w.flush()
				w.headers(1, 1, false, ":status", "200", "x-big", strings.Repeat("w", 5000))
				w.data(1, 1, true, "a")
				w.fr[1].WriteGoAway(1, http2.ErrCodeNo, nil)
				w.flush()
			},
			want: []string{`request [1] GET /a body=""`, `response [1] GET /a -> [1] 200 body="a"`},
			check: func(t *testing.T, evs []httpmsg.Event, st Stats) {
				if st.Pushes != 1 || st.GoAways != 1 || st.HPACKErrors != 0 {
					t.Errorf("stats %+v", st)
				}
				if len(evs[1].Response.Headers.Get("x-big")) != 5000 {
					t.Error("x-big lost")
				}
			},
		},
		{
			name: "not_a_preface",
			build: func(w *wire) {
				w.chunks = append(w.chunks, httpmsgtest.Chunk{Dir: 0, Data: []byte("PRI * HTTP/1.1 garbage")})
			},
			want: nil,
			check: func(t *testing.T, _ []httpmsg.Event, st Stats) {
				if st.Skipped == 0 {
					t.Errorf("stats %+v", st)
				}
			},
		},
		{
			name: "gzip_and_event_stream",
			build: func(w *wire) {
				w.headers(0, 1, true, ":method", "GET", ":path", "/sse", ":scheme", "http")
				w.headers(1, 1, false, ":status", "200", "content-type", "text/event-stream")
				w.data(1, 1, false, "event: endpoint\ndata: /message?sessionId=abc\n\n")
				w.data(1, 1, true, "data: {}\n\n")
			},
			want: []string{
				`request [1] GET /sse body=""`,
				`stream-start [1] GET /sse -> [1] 200`,
				`sse [1] type="endpoint" id="" data="/message?sessionId=abc"`,
				`sse [1] type="" id="" data="{}"`,
				`response [1] GET /sse -> [1] 200`,
			},
			check: func(t *testing.T, evs []httpmsg.Event, _ Stats) {
				if evs[2].MCP.LegacySessionID != "abc" {
					t.Errorf("MCP %+v", evs[2].MCP)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWire(tc.name != "not_a_preface")
			tc.build(w)
			for _, n := range []int{0, 1, 5} {
				chunks := w.chunks
				if n > 0 {
					chunks = rechunk(chunks, n)
				}
				evs, st := run(Config{}, chunks)
				if got := summaries(evs); !slices.Equal(got, tc.want) {
					t.Fatalf("chunk %d:\n got %q\nwant %q\nstats %+v", n, got, tc.want, st)
				}
				if tc.check != nil {
					tc.check(t, evs, st)
				}
			}
		})
	}
}

func rechunk(chunks []httpmsgtest.Chunk, n int) []httpmsgtest.Chunk {
	var out []httpmsgtest.Chunk
	for _, c := range chunks {
		for i := 0; i < len(c.Data); i += n {
			out = append(out, httpmsgtest.Chunk{Dir: c.Dir, Off: c.Off + int64(i), Data: c.Data[i:min(i+n, len(c.Data))]})
		}
	}
	return out
}

func TestLooksLikeServerPreface(t *testing.T) {
	for in, want := range map[string]bool{
		"\x00\x00\x00\x04\x00\x00\x00\x00\x00":            true,  // empty SETTINGS
		"\x00\x00\x12\x04\x00\x00\x00\x00\x00" + "xxxxxx": true,  // three parameters (the header is what counts)
		"\x00\x00\x00\x04\x01\x00\x00\x00\x00":            false, // an acknowledgement
		"\x00\x00\x05\x04\x00\x00\x00\x00\x00":            false, // not a whole number of parameters
		"\x00\x00\x00\x04\x00\x00\x00\x00\x01":            false, // on a stream
		"\x00\x00\x08\x06\x00\x00\x00\x00\x00":            false, // PING
		"HTTP/1.1 200 OK\r\n":                             false,
		"\x00\x00\x00\x04":                                false, // too short to tell
	} {
		if got := LooksLikeServerPreface([]byte(in)); got != want {
			t.Errorf("LooksLikeServerPreface(%q) = %v", in, got)
		}
	}
}

func TestLooksLikeFrame(t *testing.T) {
	for in, want := range map[string]bool{
		"\x00\x00\x10\x01\x04\x00\x00\x00\x03": true,  // HEADERS, END_HEADERS, stream 3
		"\x00\x40\x00\x00\x01\x00\x00\x00\x05": true,  // DATA, END_STREAM
		"\x00\x00\x04\x08\x00\x00\x00\x00\x00": true,  // WINDOW_UPDATE of the connection
		"\x00\x00\x08\x06\x01\x00\x00\x00\x00": true,  // PING ack
		"\x00\x00\x00\x04\x01\x00\x00\x00\x00": true,  // SETTINGS ack
		"\x00\x00\x10\x01\x04\x00\x00\x00\x00": false, // HEADERS on stream 0
		"\x00\x00\x08\x06\x00\x00\x00\x00\x01": false, // PING on a stream
		"\x00\x00\x05\x08\x00\x00\x00\x00\x00": false, // WINDOW_UPDATE of 5 bytes
		"\x00\x40\x00\x00\x02\x00\x00\x00\x05": false, // DATA with a HEADERS flag
		"\x00\x00\x10\x01\x04\x80\x00\x00\x03": false, // the reserved bit
		"\x00\x00\x05\x02\x00\x00\x00\x00\x03": false, // PRIORITY: not accepted first
		"POST /mcp HTTP/1.1\r\n":               false,
		`{"jsonrpc":"2.0"}`:                    false,
		"\x00\x00\x10\x01":                     false, // too short to tell
	} {
		if got := LooksLikeFrame([]byte(in)); got != want {
			t.Errorf("LooksLikeFrame(%q) = %v", in, got)
		}
	}
}

func TestFrameSender(t *testing.T) {
	headers := func(flags byte, block string) string {
		return "\x00\x00" + string(rune(len(block))) + "\x01" + string(rune(flags)) + "\x00\x00\x00\x01" + block
	}
	for _, tc := range []struct {
		in         string
		client, ok bool
	}{
		{headers(0x04, "\x83\x86"), true, true},                                                      // :method POST (indexed), :scheme https
		{headers(0x04, "\x41\x09localhost"), true, true},                                             // :authority as a literal with its name indexed
		{headers(0x04, "\x88"), false, true},                                                         // :status 200
		{headers(0x04, "\x08\x03202"), false, true},                                                  // :status 202, literal without indexing
		{headers(0x24, "\x00\x00\x00\x00\x10\x82"), true, true},                                      // PRIORITY fields, then :method GET
		{headers(0x0c, "\x02\x88\x00\x00"), false, true},                                             // PADDED: pad length, :status 200, padding
		{headers(0x04, "\x3f\xe1\x1f\x88"), false, true},                                             // a table size update, then :status 200
		{headers(0x04, "\xbe\x83"), true, true},                                                      // :authority from the dynamic table, then :method POST
		{headers(0x04, "\xbe"), false, false},                                                        // a dynamic table entry: unknown
		{"\x00\x00\x04\x08\x00\x00\x00\x00\x00\x00\x00\x10\x00", false, false},                       // WINDOW_UPDATE alone
		{"\x00\x00\x04\x08\x00\x00\x00\x00\x00\x00\x00\x10\x00" + headers(0x04, "\x83"), true, true}, // then a request
	} {
		client, ok := FrameSender([]byte(tc.in))
		if client != tc.client || ok != tc.ok {
			t.Errorf("FrameSender(%q) = %v, %v; want %v, %v", tc.in, client, ok, tc.client, tc.ok)
		}
	}
}

func TestLooksLikePreface(t *testing.T) {
	for in, want := range map[string]bool{
		Preface: true, "PRI * HTTP/2.0": true, "PRI": true, Preface + "\x00\x00": true,
		"": false, "PRI * HTTP/1.1": false, "GET / HTTP/1.1": false,
	} {
		if got := LooksLikePreface([]byte(in)); got != want {
			t.Errorf("LooksLikePreface(%q) = %v", in, got)
		}
	}
}

// TestConnBodyBudget opens streams whose bodies together exceed MaxConnBody: the excess is counted, not kept, and
// the budget is returned when the messages are delivered.
func TestConnBodyBudget(t *testing.T) {
	w := newWire(true)
	for _, id := range []uint32{1, 3, 5} {
		w.headers(0, id, false, post()...)
		w.data(0, id, false, strings.Repeat("x", 600))
	}
	for _, id := range []uint32{1, 3, 5} {
		w.data(0, id, true, "")
	}
	w.headers(0, 7, false, post()...)
	w.data(0, 7, true, strings.Repeat("y", 600))
	var evs []httpmsg.Event
	c := NewConn(Config{MaxBody: 1000, MaxConnBody: 1500}, func(e httpmsg.Event) { evs = append(evs, e) })
	for _, ch := range w.chunks {
		c.Feed(ch.Dir, ch.Off, ch.Data, time.Time{})
	}
	var kept []int
	for _, e := range evs {
		kept = append(kept, len(e.Request.Body))
	}
	// Stream 1 and 3 fit (1200 of 1500, by capacity), stream 5 gets the rest; stream 7 starts after they left.
	if len(kept) != 4 || kept[0] != 600 || kept[1] != 600 || kept[2] >= 600 || kept[3] != 600 {
		t.Fatalf("kept %v, stats %+v", kept, c.Stats())
	}
	if !evs[2].Request.Truncated || evs[2].Request.BodyExcess == 0 || c.held != 0 {
		t.Errorf("third body %+v, held %d", evs[2].Request, c.held)
	}
}

// TestAwaitsRequest: a response's HEADERS on a client stream the client's direction has not sent on awaits its
// request; on a stream it has, or bytes that are not a HEADERS frame where one is expected, do not.
func TestAwaitsRequest(t *testing.T) {
	w := newWire(true)
	c := NewConn(Config{}, func(httpmsg.Event) {})
	for _, ch := range w.chunks {
		c.Feed(ch.Dir, ch.Off, ch.Data, time.Unix(0, 0))
	}
	w.chunks = nil
	w.headers(0, 1, true, ":method", "GET", ":path", "/a", ":scheme", "http")
	c.Feed(w.chunks[0].Dir, w.chunks[0].Off, w.chunks[0].Data, time.Unix(0, 0))
	answer := func(id uint32) []byte {
		w.fr[1].WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: w.block(1, ":status", "200"), EndHeaders: true})
		b := bytes.Clone(w.buf[1].Bytes())
		w.buf[1].Reset()
		return b
	}
	if c.AwaitsRequest(answer(1)) {
		t.Error("an answer on stream 1, which the client opened, awaits")
	}
	if !c.AwaitsRequest(answer(3)) {
		t.Error("an answer on stream 3, which the client has not opened, does not await")
	}
	if c.AwaitsRequest(answer(3)[3:]) {
		t.Error("bytes that do not start a frame await")
	}
	if c.AwaitsRequest(answer(2)) {
		t.Error("an answer on an even (server) stream awaits")
	}
}

// TestAwaitsRequestWalksFrames: the answer on a new stream need not be the first frame of the server's bytes: after
// a DATA frame of another stream in the same write, or after the rest of a frame the previous chunk began (its
// payload, or even part of its header), it still awaits its request; a walk that meets bytes that are no frame
// stops.
func TestAwaitsRequestWalksFrames(t *testing.T) {
	w := newWire(true)
	w.headers(0, 1, true, ":method", "GET", ":path", "/a", ":scheme", "http")
	w.flush()
	c := NewConn(Config{}, func(httpmsg.Event) {})
	for _, ch := range w.chunks {
		c.Feed(ch.Dir, ch.Off, ch.Data, time.Unix(0, 0))
	}
	server := func(write func()) []byte {
		write()
		b := bytes.Clone(w.buf[1].Bytes())
		w.buf[1].Reset()
		return b
	}
	answer3 := server(func() {
		w.fr[1].WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: w.block(1, ":status", "200"), EndHeaders: true})
	})
	data1 := server(func() { w.fr[1].WriteData(1, false, []byte("some bytes of stream 1")) })
	both := append(bytes.Clone(data1), answer3...)
	if !c.AwaitsRequest(both) {
		t.Error("DATA of stream 1, then HEADERS of the new stream 3: does not await")
	}
	if c.AwaitsRequest(append(bytes.Clone(data1), "not a frame at all"...)) {
		t.Error("DATA of stream 1, then bytes that are no frame: awaits")
	}
	pos := c.sides[ServerToClient].pos
	for _, cut := range []int{4, frameHeaderLen + 5} { // inside the DATA frame's header; inside its payload
		c2 := NewConn(Config{}, func(httpmsg.Event) {})
		for _, ch := range w.chunks {
			c2.Feed(ch.Dir, ch.Off, ch.Data, time.Unix(0, 0))
		}
		c2.Feed(ServerToClient, pos, both[:cut], time.Unix(0, 0))
		if !c2.AwaitsRequest(both[cut:]) {
			t.Errorf("a chunk that ends %d bytes into the DATA frame, then its rest and stream 3's HEADERS: does not await", cut)
		}
		if c2.AwaitsRequest(data1[cut:]) {
			t.Errorf("the rest of the DATA frame begun %d bytes before: awaits", cut)
		}
	}
}
