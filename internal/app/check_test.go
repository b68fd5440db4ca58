package app

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestCheckOutput(t *testing.T) {
	results := []checkResult{
		{name: "kernel BTF", ok: true, required: true, detail: "kernel 6.1.0"},
		{name: "kprobes (optional)", ok: false, required: false, detail: "attach: refused"},
	}
	tests := []struct {
		name   string
		asJSON bool
		check  func(t *testing.T, out string)
	}{
		{"table", false, func(t *testing.T, out string) {
			want := "CAPABILITY          STATUS                    DETAIL\n" +
				"kernel BTF          works                     kernel 6.1.0\n" +
				"kprobes (optional)  does not work (optional)  attach: refused\n"
			if out != want {
				t.Errorf("table:\n%s\nwant:\n%s", out, want)
			}
		}},
		{"json", true, func(t *testing.T, out string) {
			var got []checkJSON
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, out)
			}
			want := []checkJSON{
				{Capability: "kernel BTF", Works: true, Required: true, Detail: "kernel 6.1.0"},
				{Capability: "kprobes (optional)", Works: false, Required: false, Detail: "attach: refused"},
			}
			if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
				t.Errorf("got %+v, want %+v", got, want)
			}
			if !strings.Contains(out, `"capability": "kernel BTF"`) {
				t.Errorf("field names changed:\n%s", out)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := printChecks(&b, results, tt.asJSON); err != nil {
				t.Fatal(err)
			}
			tt.check(t, b.String())
		})
	}
}

func TestCheckRefusesArguments(t *testing.T) {
	_, _, err := run(t, "check", "--json", "extra")
	if err == nil {
		t.Fatal("check with an argument: no error")
	}
}
