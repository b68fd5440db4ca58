// Package output defines the interface between the capture pipeline and the places its records go: the console,
// JSONL files, and later the SQL store and exporters. Each sink lives in its own subpackage (output/console,
// output/jsonl); this package holds only the contract and the helpers that combine sinks.
//
// # Calling convention
//
// The pipeline owns one goroutine that calls a sink's methods in capture order; sinks need no locking and must not
// be shared between goroutines. Sinks buffer their output. To make records visible promptly (tail -f of a file,
// a pipe reader) without one syscall per record in a flood, the pipeline calls [Flush] whenever it has drained the
// records it has in hand, before it blocks waiting for more, and at least every 200 ms while records keep coming
// (a ticker in the same select loop). Close flushes as well and is called once at shutdown.
//
// # Ownership
//
// A record and everything it points to belong to the pipeline and may be reused once the call returns, except a
// message's text: the bytes of [record.Message].Message (and of Arguments, a slice of them) are never written to
// again once a sink has seen them, so a sink may keep them without a copy (the store queues them for another
// goroutine; a 16 MiB message is then held once, not twice).
package output

import (
	"errors"

	"github.com/mcpscope/mcpscope/internal/record"
)

// Sink receives records in capture order from one goroutine.
type Sink interface {
	WriteMessage(m *record.Message) error
	WriteHTTP(h *record.HTTP) error // an HTTP exchange without a JSON-RPC message (record.KindHTTP)
	WriteStats(s *record.Stats) error
	Close() error // flush everything; called once at shutdown
}

// FootprintWriter is implemented by sinks that record call footprints (record.KindFootprint). Sinks without it
// ignore them.
type FootprintWriter interface {
	WriteFootprint(f *record.Footprint) error
}

// WriteFootprint hands f to s if s records footprints.
func WriteFootprint(s Sink, f *record.Footprint) error {
	if w, ok := s.(FootprintWriter); ok {
		return w.WriteFootprint(f)
	}
	return nil
}

// Flusher is implemented by sinks that buffer output. Flush writes out everything buffered so far.
// The console and JSONL sinks and the sink returned by [Multi] implement it.
type Flusher interface {
	Flush() error
}

// Flush flushes s if it implements [Flusher] and does nothing otherwise.
func Flush(s Sink) error {
	if f, ok := s.(Flusher); ok {
		return f.Flush()
	}
	return nil
}

// Multi returns a sink that hands every record to each of sinks in order, also when an earlier one fails, and
// returns their errors joined with [errors.Join] (nil when all succeed). Nil sinks are skipped. The result
// implements [Flusher], flushing those of sinks that do.
func Multi(sinks ...Sink) Sink {
	m := make(multi, 0, len(sinks))
	for _, s := range sinks {
		if s != nil {
			m = append(m, s)
		}
	}
	return m
}

type multi []Sink

func (m multi) WriteMessage(msg *record.Message) error {
	var errs []error
	for _, s := range m {
		if err := s.WriteMessage(msg); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (m multi) WriteFootprint(f *record.Footprint) error {
	var errs []error
	for _, s := range m {
		if err := WriteFootprint(s, f); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (m multi) WriteHTTP(h *record.HTTP) error {
	var errs []error
	for _, s := range m {
		if err := s.WriteHTTP(h); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (m multi) WriteStats(st *record.Stats) error {
	var errs []error
	for _, s := range m {
		if err := s.WriteStats(st); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (m multi) Flush() error {
	var errs []error
	for _, s := range m {
		if err := Flush(s); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (m multi) Close() error {
	var errs []error
	for _, s := range m {
		if err := s.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
