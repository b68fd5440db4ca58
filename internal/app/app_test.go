package app

import (
	"bytes"
	"strings"
	"testing"
)

// run executes the command line with the given args and returns stdout, stderr and the error.
func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newRootCmd(IO{In: strings.NewReader(""), Out: &out, Err: &errb})
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errb.String(), err
}

func TestVersion(t *testing.T) {
	out, _, err := run(t, "version")
	if err != nil || !strings.HasPrefix(out, "mcpscope ") {
		t.Fatalf("version: %q, %v", out, err)
	}
}

func TestStrayArgumentsAreRefused(t *testing.T) {
	for _, args := range [][]string{{"npx", "server"}, {"watch", "npx"}} {
		_, _, err := run(t, args...)
		if err == nil || !strings.Contains(err.Error(), "put it after --") {
			t.Errorf("%v: error %v, want a hint to use --", args, err)
		}
	}
}

func TestUnknownPidIsAnError(t *testing.T) {
	_, _, err := run(t, "watch", "--pid", "999999999")
	if err == nil || !strings.Contains(err.Error(), "no such process") {
		t.Fatalf("error %v, want no such process", err)
	}
}
