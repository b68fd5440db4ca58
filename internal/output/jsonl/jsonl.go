package jsonl

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/mcpscope/mcpscope/internal/output"
	"github.com/mcpscope/mcpscope/internal/record"
)

// BufferSize is the size of a Writer's buffer: records are written to the underlying writer in chunks of about
// this size, or when Flush or Close is called.
const BufferSize = 64 << 10

// keepScratch bounds the encoding buffer a Writer keeps between records.
const keepScratch = 1 << 20

// ErrClosed is returned by a Writer's methods after Close.
var ErrClosed = errors.New("jsonl: writer closed")

// Writer writes records as JSON Lines to an io.Writer. It implements [output.Sink] and [output.Flusher]. Like
// every sink it is used from one goroutine. It does not close the io.Writer it was given.
type Writer struct {
	bw      *bufio.Writer
	scratch []byte
	closed  bool
}

var (
	_ output.Sink    = (*Writer)(nil)
	_ output.Flusher = (*Writer)(nil)
)

// New returns a Writer that writes to w through a [BufferSize] buffer.
func New(w io.Writer) *Writer {
	return &Writer{bw: bufio.NewWriterSize(w, BufferSize)}
}

// WriteMessage writes m as one line. It returns an error, and writes nothing, if m cannot be encoded (see the
// package documentation); the Writer stays usable. It returns a wrapped error from the underlying writer (EPIPE,
// ENOSPC, ...) if a write fails, after which every call fails the same way: the line may have been written in part.
func (w *Writer) WriteMessage(m *record.Message) error {
	if w.closed {
		return ErrClosed
	}
	b, split, msg, err := appendMessage(w.scratch[:0], m, BufferSize)
	if err != nil {
		return fmt.Errorf("jsonl: encode message: %w", err)
	}
	w.keep(b)
	if msg == nil {
		return w.write(b)
	}
	if err := w.write(b[:split]); err != nil {
		return err
	}
	if err := w.write(msg); err != nil {
		return err
	}
	return w.write(b[split:])
}

// WriteHTTP writes h, an HTTP exchange without a JSON-RPC message, as one line. Errors are as for WriteMessage.
func (w *Writer) WriteHTTP(h *record.HTTP) error {
	if w.closed {
		return ErrClosed
	}
	b, err := appendHTTP(w.scratch[:0], h)
	if err != nil {
		return fmt.Errorf("jsonl: encode http: %w", err)
	}
	w.keep(b)
	return w.write(b)
}

// WriteFootprint writes f, a call's footprint, as one line. Errors are as for WriteMessage. Footprints are rare
// (one per call) and small next to messages, so encoding/json does.
func (w *Writer) WriteFootprint(f *record.Footprint) error {
	if w.closed {
		return ErrClosed
	}
	fp := *f
	if fp.Kind == "" {
		fp.Kind = record.KindFootprint
	}
	fp.Time, fp.StartedAt = fp.Time.UTC(), fp.StartedAt.UTC()
	b, err := json.Marshal(&fp)
	if err != nil {
		return fmt.Errorf("jsonl: encode footprint: %w", err)
	}
	return w.write(append(b, '\n'))
}

// WriteStats writes s as one line. Errors are as for WriteMessage.
func (w *Writer) WriteStats(s *record.Stats) error {
	if w.closed {
		return ErrClosed
	}
	b, err := appendStats(w.scratch[:0], s)
	if err != nil {
		return fmt.Errorf("jsonl: encode stats: %w", err)
	}
	w.keep(b)
	return w.write(b)
}

// Flush writes buffered lines to the underlying writer. The pipeline calls it after each batch of records so
// that readers see them promptly; see package output.
func (w *Writer) Flush() error {
	if w.closed {
		return ErrClosed
	}
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("jsonl: write: %w", err)
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
	w.scratch = nil
	return err
}

func (w *Writer) write(p []byte) error {
	if _, err := w.bw.Write(p); err != nil {
		return fmt.Errorf("jsonl: write: %w", err)
	}
	return nil
}

// keep retains b's array for the next record unless it grew large (a big message with line breaks).
func (w *Writer) keep(b []byte) {
	if cap(b) <= keepScratch {
		w.scratch = b
	} else {
		w.scratch = nil
	}
}
