// Package testutil holds helpers for the tests of several packages.
package testutil

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// FuzzSeed returns the one []byte value of the seed name of the fuzz target fuzz, in the calling test's
// testdata/fuzz/fuzz directory: for tests that check what a committed seed is expected to give.
func FuzzSeed(t testing.TB, fuzz, name string) []byte {
	t.Helper()
	path := filepath.Join("testdata", "fuzz", fuzz, name)
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lit, ok := strings.CutPrefix(strings.TrimSpace(string(text)), "go test fuzz v1\n[]byte(")
	lit, ok2 := strings.CutSuffix(lit, ")")
	data, err := strconv.Unquote(lit)
	if !ok || !ok2 || err != nil {
		t.Fatalf("%s is not a fuzz seed of one []byte: %v", path, err)
	}
	return []byte(data)
}
