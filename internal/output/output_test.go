package output_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/mcpscope/mcpscope/internal/output"
	"github.com/mcpscope/mcpscope/internal/record"
)

// fake records the calls it gets and fails with err.
type fake struct {
	calls *[]string
	name  string
	err   error
}

func (f fake) log(call string) error {
	*f.calls = append(*f.calls, f.name+"."+call)
	return f.err
}

func (f fake) WriteMessage(*record.Message) error { return f.log("message") }
func (f fake) WriteHTTP(*record.HTTP) error       { return f.log("http") }
func (f fake) WriteStats(*record.Stats) error     { return f.log("stats") }
func (f fake) Close() error                       { return f.log("close") }

// flushing is a fake that also implements Flusher.
type flushing struct{ fake }

func (f flushing) Flush() error { return f.log("flush") }

func TestMulti(t *testing.T) {
	var calls []string
	errA, errC := errors.New("a failed"), errors.New("c failed")
	m := output.Multi(
		fake{&calls, "a", errA},
		nil,
		flushing{fake{&calls, "b", nil}},
		flushing{fake{&calls, "c", errC}},
	)
	check := func(err error, wantErrs []error, wantCalls ...string) {
		t.Helper()
		for _, want := range wantErrs {
			if !errors.Is(err, want) {
				t.Errorf("error %v does not include %v", err, want)
			}
		}
		if len(wantErrs) == 0 && err != nil {
			t.Errorf("unexpected error %v", err)
		}
		if !reflect.DeepEqual(calls, wantCalls) {
			t.Errorf("calls %v, want %v", calls, wantCalls)
		}
		calls = nil
	}
	check(m.WriteMessage(&record.Message{}), []error{errA, errC}, "a.message", "b.message", "c.message")
	check(m.WriteHTTP(&record.HTTP{}), []error{errA, errC}, "a.http", "b.http", "c.http")
	check(m.WriteStats(&record.Stats{}), []error{errA, errC}, "a.stats", "b.stats", "c.stats")
	check(output.Flush(m), []error{errC}, "b.flush", "c.flush")
	check(m.Close(), []error{errA, errC}, "a.close", "b.close", "c.close")

	ok := output.Multi(flushing{fake{&calls, "x", nil}})
	check(ok.WriteMessage(&record.Message{}), nil, "x.message")
	check(output.Flush(ok), nil, "x.flush")
	check(output.Flush(fake{&calls, "y", errA}), nil) // not a Flusher: nothing to do
	check(output.Multi().Close(), nil)
}
