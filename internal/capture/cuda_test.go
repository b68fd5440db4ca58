package capture

import (
	"errors"
	"testing"
)

func TestOneLine(t *testing.T) {
	a, b := errors.New("lib a: no symbol"), errors.New("lib b: permission denied")
	err := oneLine([]error{a, b})
	if err.Error() != "lib a: no symbol; lib b: permission denied" || !errors.Is(err, a) || !errors.Is(err, b) {
		t.Errorf("oneLine = %q", err)
	}
	if oneLine(nil) != nil {
		t.Error("oneLine(nil) is not nil")
	}
}
