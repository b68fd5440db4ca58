package console

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mcpscope/mcpscope/internal/output"
	"github.com/mcpscope/mcpscope/internal/record"
)

// Defaults for Options fields left zero.
const (
	DefaultWidth   = 40
	DefaultMaxJSON = 1024
)

// Options configure a Writer. The zero value prints plain lines, no JSON, in local time.
type Options struct {
	// Color adds ANSI colours. The caller decides (a terminal, NO_COLOR, a --color flag).
	Color bool
	// Width is the most characters a free-text field (a command name, method, tool, resource or prompt name, id,
	// error message) takes before it is cut with "…". 0 means DefaultWidth; a negative Width means no limit.
	Width int
	// Verbose prints the message JSON after each message line and prints stats records.
	Verbose bool
	// MaxJSON is the most bytes of message JSON printed in verbose mode. 0 means DefaultMaxJSON.
	MaxJSON int
	// Location is the time zone of the time column. nil means time.Local.
	Location *time.Location
}

// timeLayout is the layout of the time column.
const timeLayout = "15:04:05.000000"

// ErrClosed is returned by a Writer's methods after Close.
var ErrClosed = errors.New("console: writer closed")

// Columns of a message line.
const (
	colTime = iota
	colPeers
	colType
	colMethod
	colName
	colID
	colSize
	colLatency
	nCols
)

// minWidths are the starting widths of the columns. Some grow with their contents, up to maxWidths, so that a
// stream stays aligned after its first few lines.
var minWidths = [nCols]int{
	colTime:    len(timeLayout),
	colPeers:   0,
	colType:    len("notification"),
	colMethod:  len("notifications/progress"),
	colName:    16,
	colID:      len("id=123"),
	colSize:    len("1023.9 KiB"),
	colLatency: len("99.9 ms"),
}

// maxWidths are the widths up to which columns grow.
var maxWidths = [nCols]int{
	colTime:    len(timeLayout),
	colPeers:   48,
	colType:    len("notification"),
	colMethod:  len("notifications/initialized"),
	colName:    24,
	colID:      10,
	colSize:    len("1023.9 KiB"),
	colLatency: len("99.9 ms"),
}

// ANSI SGR sequences.
const (
	sgrReset   = "\x1b[0m"
	sgrDim     = "\x1b[2m"
	sgrRed     = "\x1b[1;31m"
	sgrGreen   = "\x1b[32m"
	sgrYellow  = "\x1b[33m"
	sgrBlue    = "\x1b[34m"
	sgrMagenta = "\x1b[35m"
	sgrCyan    = "\x1b[36m"
)

// Writer prints records as lines of text. It implements [output.Sink] and [output.Flusher]. Like every sink it
// is used from one goroutine. It does not close the io.Writer it was given.
type Writer struct {
	bw     *bufio.Writer
	opts   Options
	widths [nCols]int
	line   line
	closed bool
}

var (
	_ output.Sink    = (*Writer)(nil)
	_ output.Flusher = (*Writer)(nil)
)

// New returns a Writer that prints to w through a buffer.
func New(w io.Writer, opts Options) *Writer {
	if opts.Width == 0 {
		opts.Width = DefaultWidth
	}
	if opts.MaxJSON <= 0 {
		opts.MaxJSON = DefaultMaxJSON
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	return &Writer{
		bw:     bufio.NewWriterSize(w, 32<<10),
		opts:   opts,
		widths: minWidths,
		line:   line{color: opts.Color},
	}
}

// WriteMessage prints m as one line (two in verbose mode). Write errors are returned wrapped; after one, every
// call fails.
func (w *Writer) WriteMessage(m *record.Message) error {
	if w.closed {
		return ErrClosed
	}
	l := &w.line
	l.reset()
	w.head(m.Time, m.From, m.To)

	typ, typColor := m.Type, ""
	switch typ {
	case record.TypeRequest:
		typColor = sgrCyan
	case record.TypeResponse:
		typColor = sgrGreen
	case record.TypeNotification:
		typColor = sgrMagenta
	case "":
		typ = "?"
	default:
		typ = w.clean(typ)
	}
	l.cell(typ, w.width(colType, runes(typ)), typColor, false)

	method := m.Method
	if method == "" {
		method = "?"
	}
	method = w.clean(method)
	l.cell(method, w.width(colMethod, runes(method)), "", false)

	name := m.Tool
	if name == "" {
		name = m.Resource
	}
	if name == "" {
		name = m.Prompt
	}
	name = w.clean(name)
	l.cell(name, w.width(colName, runes(name)), "", false)

	var id string
	switch {
	case len(m.ID) > 0:
		id = "id=" + w.clean(string(m.ID))
	case len(m.RelatedID) > 0:
		id = "(id " + w.clean(string(m.RelatedID)) + ")"
	case len(m.ProgressToken) > 0:
		id = "(token " + w.clean(string(m.ProgressToken)) + ")"
	}
	l.cell(id, w.width(colID, runes(id)), "", false)

	size := string(appendSize(l.scratch[:0], m.Size))
	l.cell(size, w.width(colSize, len(size)), "", true)

	var latency string
	if m.LatencyMs != nil {
		latency = string(appendLatency(l.scratch[:0], *m.LatencyMs))
	}
	l.cell(latency, w.width(colLatency, runes(latency)), "", true)

	w.markers(m)
	l.newline()

	if w.opts.Verbose && len(m.Message) > 0 {
		// CR, LF and tab can only be whitespace between JSON tokens: printing them as spaces changes nothing.
		w.verboseText(m.Message)
	}
	return w.write(l.b)
}

// head appends the time and the peers columns.
func (w *Writer) head(t time.Time, from, to record.Endpoint) {
	l := &w.line
	ts := string(t.In(w.opts.Location).AppendFormat(l.scratch[:0], timeLayout))
	l.cell(ts, w.width(colTime, len(ts)), sgrDim, false)

	f := w.endpoint(from)
	r := w.endpoint(to)
	l.text(f)
	l.colored(" → ", sgrDim)
	l.text(r)
	l.endCell(w.width(colPeers, runes(f)+3+runes(r)))
}

// startTyped begins a line that is not a message: time, peers, and its kind in the type column.
func (w *Writer) startTyped(t time.Time, from, to record.Endpoint, kind string) *line {
	l := &w.line
	l.reset()
	w.head(t, from, to)
	l.cell(kind, w.width(colType, len(kind)), sgrBlue, false)
	return l
}

// verboseText appends the line printed under a record in verbose mode: raw, cut to MaxJSON bytes, with CR, LF
// and tab as spaces so that it stays one line, and escaped.
func (w *Writer) verboseText(raw []byte) {
	l := &w.line
	l.text("    ")
	full := len(raw)
	cut := full > w.opts.MaxJSON
	if cut {
		n := w.opts.MaxJSON
		for n > 0 && !utf8.RuneStart(raw[n]) {
			n--
		}
		raw = raw[:n]
	}
	text := strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		return r
	}, string(raw))
	l.colored(escape(text, -1), sgrDim)
	if cut {
		l.colored(" … ("+strconv.Itoa(full-len(raw))+" more bytes)", sgrDim)
	}
	l.newline()
}

// WriteHTTP prints h, an HTTP exchange that carried no JSON-RPC message, as one line in the columns of messages
// (two in verbose mode, the second with the start of the response body):
//
//	07:18:12.200410  claude[5100] → python3[5200]  http  POST /mcp     202 Accepted         0 B  410 µs
//	07:18:42.001200  claude[5100] → python3[5200]  http  POST /mcp     404 Not Found       18 B   1.2 ms  ✗ 404 Session not found
//
// The method column holds the request's method and path, the name column its outcome: the status, "stream open"
// for the GET (or POST) that opened an SSE stream, or "no response". The size is the response body's (the
// request body's when no response came). An error status (400 and up) is marked like a JSON-RPC error, with the
// first line of the body the server sent, which usually says what was wrong.
func (w *Writer) WriteHTTP(h *record.HTTP) error {
	if w.closed {
		return ErrClosed
	}
	l := w.startTyped(h.Time, h.From, h.To, "http")

	req := h.HTTP.Method
	if h.HTTP.Path != "" {
		req = strings.TrimSpace(req + " " + h.HTTP.Path)
	}
	if req == "" {
		req = "?"
	}
	req = w.clean(req)
	l.cell(req, w.width(colMethod, runes(req)), "", false)

	code := h.HTTP.Status
	var outcome, outcomeColor string
	size := h.ResponseSize
	switch {
	case h.Event == "stream_open":
		outcome = "stream open"
	case code == 0 && h.BeganBeforeCapture:
		outcome = "status unseen"
	case h.Event == "unanswered" || code == 0:
		outcome, outcomeColor = "no response", sgrYellow
		size = h.RequestSize
	default:
		outcome = statusLine(code)
	}
	if code >= 400 {
		outcomeColor = sgrRed
	}
	l.cell(outcome, w.width(colName, runes(outcome)), outcomeColor, false)
	l.cell("", w.width(colID, 0), "", false)

	var sizeText string
	if h.Event != "stream_open" {
		sizeText = string(appendSize(l.scratch[:0], int(size)))
	}
	l.cell(sizeText, w.width(colSize, len(sizeText)), "", true)

	var latency string
	if h.LatencyMs != nil {
		latency = string(appendLatency(l.scratch[:0], *h.LatencyMs))
	}
	l.cell(latency, w.width(colLatency, runes(latency)), "", true)

	if code >= 400 {
		why := firstLine(h.ResponseBody)
		if why == "" {
			why = http.StatusText(code)
		}
		l.marker(strings.TrimSpace("✗ "+strconv.Itoa(code)+" "+w.clean(why)), sgrRed)
	}
	if h.BeganBeforeCapture && h.LostBytes == 0 {
		l.marker("… began before capture", sgrYellow) // not a loss: its start was never seen
	} else {
		w.lossMarker(h.Truncated, h.LostBytes)
	}
	l.newline()

	if body := strings.TrimSpace(h.ResponseBody); w.opts.Verbose && body != "" {
		w.verboseText([]byte(body))
	}
	return w.write(l.b)
}

// WriteFootprint writes one line summing up what a call made its server's tree do, after the call's response:
// "footprint  tools/call  work  id=3  CPU 203+109 ms, 15269 syscalls (42 failed), 33 files, 2 programs".
func (w *Writer) WriteFootprint(f *record.Footprint) error {
	if w.closed {
		return ErrClosed
	}
	l := w.startTyped(f.Time, f.Server, f.Client, "footprint")
	method := w.clean(f.Method)
	l.cell(method, w.width(colMethod, runes(method)), "", false)
	name := w.clean(f.Tool)
	l.cell(name, w.width(colName, runes(name)), "", false)
	id := "id=" + w.clean(string(f.ID))
	l.cell(id, w.width(colID, runes(id)), "", false)
	var calls, failed uint64
	for _, s := range f.Syscalls {
		calls += s.Count
		failed += s.Errors
	}
	parts := []string{fmt.Sprintf("CPU %.0f+%.0f ms", f.UserCPUMs, f.SysCPUMs), fmt.Sprintf("%d syscalls", calls)}
	if failed > 0 {
		parts[1] += fmt.Sprintf(" (%d failed)", failed)
	}
	for _, c := range []struct {
		n    int
		what string
	}{{len(f.Files), "files"}, {len(f.Execs), "programs"}, {len(f.Connections), "connections"}} {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	if f.Shared {
		parts = append(parts, "shared with an overlapping call")
	}
	l.text(strings.Join(parts, ", "))
	l.newline()
	return w.write(l.b)
}

// statusLine is a status code with its reason phrase: "202 Accepted", or the bare code when it has none.
func statusLine(code int) string {
	if text := http.StatusText(code); text != "" {
		return strconv.Itoa(code) + " " + text
	}
	return strconv.Itoa(code)
}

// firstLine returns the first non-blank line of s, trimmed.
func firstLine(s string) string {
	for line := range strings.Lines(s) {
		if line = strings.TrimSpace(line); line != "" {
			return line
		}
	}
	return ""
}

// markers appends the markers of m.
func (w *Writer) markers(m *record.Message) {
	l := &w.line
	if e := m.Error; e != nil {
		l.marker("✗ "+strconv.FormatInt(e.Code, 10)+" "+w.clean(e.Message), sgrRed)
	}
	if m.IsError != nil && *m.IsError {
		l.marker("✗ tool error", sgrRed)
	}
	if m.HTTP != nil && m.HTTP.Status >= 400 {
		// A JSON-RPC message in an error response (a 400 carrying a JSON-RPC error, say): the status matters too.
		l.marker("✗ HTTP "+statusLine(m.HTTP.Status), sgrRed)
	}
	if m.Late {
		l.marker("⚠ late", sgrYellow)
	}
	w.lossMarker(m.Truncated, m.LostBytes)
	switch m.MethodKind {
	case "":
	case "unknown":
		l.marker("? unknown method", sgrYellow)
	case "extension":
		l.marker("extension", sgrBlue)
	default:
		l.marker(w.clean(m.MethodKind), sgrBlue)
	}
	if b := m.Batch; b != nil {
		l.marker("batch "+strconv.Itoa(b.Index+1)+"/"+strconv.Itoa(b.Count), sgrBlue)
	}
	if len(m.RetryOf) > 0 {
		l.marker("retry of id="+w.clean(string(m.RetryOf)), sgrBlue)
	}
	if m.ResultType != "" && m.ResultType != "complete" {
		l.marker("result_type="+w.clean(m.ResultType), sgrBlue)
	}
}

// lossMarker appends the marker of a record whose bytes were (partly) lost.
func (w *Writer) lossMarker(truncated bool, lost int64) {
	switch {
	case !truncated:
	case lost > 0:
		w.line.marker("✂ truncated: "+strconv.FormatInt(lost, 10)+" bytes lost", sgrYellow)
	default:
		w.line.marker("✂ truncated", sgrYellow)
	}
}

// WriteStats prints s as one "# stats" line in verbose mode, and nothing otherwise.
func (w *Writer) WriteStats(s *record.Stats) error {
	if w.closed {
		return ErrClosed
	}
	if !w.opts.Verbose {
		return nil
	}
	l := &w.line
	l.reset()
	var b strings.Builder
	b.WriteString("# stats ")
	b.Write(s.Time.In(w.opts.Location).AppendFormat(l.scratch[:0], timeLayout))
	names := make([]string, 0, len(s.Counters))
	for name := range s.Counters {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		b.WriteString("  ")
		b.WriteString(escape(name, -1))
		b.WriteByte('=')
		b.WriteString(strconv.FormatUint(s.Counters[name], 10))
	}
	l.colored(b.String(), sgrDim)
	l.newline()
	return w.write(l.b)
}

// Flush writes buffered lines to the underlying writer.
func (w *Writer) Flush() error {
	if w.closed {
		return ErrClosed
	}
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("console: write: %w", err)
	}
	return nil
}

// Close flushes buffered lines. It does not close the underlying writer. Later calls to any method return
// ErrClosed.
func (w *Writer) Close() error {
	if w.closed {
		return ErrClosed
	}
	err := w.Flush()
	w.closed = true
	return err
}

func (w *Writer) write(p []byte) error {
	if _, err := w.bw.Write(p); err != nil {
		return fmt.Errorf("console: write: %w", err)
	}
	return nil
}

// width widens column col to fit n characters, up to the column's limit, and returns its width. A longer value
// pushes the rest of its line to the right instead.
func (w *Writer) width(col, n int) int {
	if n <= maxWidths[col] {
		w.widths[col] = max(w.widths[col], n)
	}
	return w.widths[col]
}

// clean escapes s and cuts it to the configured width.
func (w *Writer) clean(s string) string {
	return escape(s, w.opts.Width)
}

// endpoint names a peer: comm[pid]; on the HTTP transports a peer with no known process (on another host, or
// outside what mcpscope traces) by its address; "?" when nothing is known (no reader seen).
func (w *Writer) endpoint(e record.Endpoint) string {
	if e.Pid == 0 {
		if e.Addr != "" {
			return w.clean(e.Addr)
		}
		return "?"
	}
	comm := w.clean(e.Comm)
	if comm == "" {
		comm = "?"
	}
	return comm + "[" + strconv.Itoa(e.Pid) + "]"
}

// line builds one line: cells are padded to their column width, and padding is only written once something
// follows it, so lines carry no trailing spaces.
type line struct {
	b         []byte
	scratch   []byte
	color     bool
	cellStart int // visible characters written in the current cell
	pending   int // spaces owed before the next text
}

func (l *line) reset() {
	l.b, l.cellStart, l.pending = l.b[:0], 0, 0
	if l.scratch == nil {
		l.scratch = make([]byte, 0, 64)
	}
}

// text appends s, uncoloured, to the current cell.
func (l *line) text(s string) {
	l.colored(s, "")
}

// colored appends s in colour sgr ("" for none) to the current cell.
func (l *line) colored(s, sgr string) {
	if s == "" {
		return
	}
	l.flushPending()
	if l.color && sgr != "" {
		l.b = append(l.b, sgr...)
		l.b = append(l.b, s...)
		l.b = append(l.b, sgrReset...)
	} else {
		l.b = append(l.b, s...)
	}
	l.cellStart += runes(s)
}

// endCell ends the current cell, padding it to width.
func (l *line) endCell(width int) {
	l.pending += max(width-l.cellStart, 0) + 2
	l.cellStart = 0
}

// cell appends s as a whole cell of the given width, left or right aligned.
func (l *line) cell(s string, width int, sgr string, right bool) {
	if right && s != "" {
		l.pending += max(width-runes(s), 0)
		l.colored(s, sgr)
		l.cellStart = width
	} else {
		l.colored(s, sgr)
	}
	l.endCell(width)
}

// marker appends a marker after the columns.
func (l *line) marker(s, sgr string) {
	l.colored(s, sgr)
	l.pending += 2
	l.cellStart = 0
}

func (l *line) flushPending() {
	for ; l.pending > 0; l.pending-- {
		l.b = append(l.b, ' ')
	}
}

func (l *line) newline() {
	l.b = append(l.b, '\n')
	l.pending, l.cellStart = 0, 0
}

func runes(s string) int {
	return utf8.RuneCountInString(s)
}
