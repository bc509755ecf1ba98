package prereq_test

import (
	"strings"
	"testing"

	"github.com/oauth2d/oauth2d/internal/testenv/prereq"
)

func TestCI(t *testing.T) {
	tests := []struct {
		name, value string
		want        bool
	}{
		{name: "unset", value: "", want: false},
		{name: "false", value: "false", want: false},
		{name: "FALSE", value: "FALSE", want: false},
		{name: "zero", value: "0", want: false},
		{name: "true", value: "true", want: true},
		{name: "one", value: "1", want: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CI", tc.value)
			if got := prereq.CI(); got != tc.want {
				t.Fatalf("CI=%q: CI() = %v, want %v", tc.value, got, tc.want)
			}
		})
	}
}

// recorder is a testing.TB that records how the test was ended instead of
// ending it.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper()           {}
func (r *recorder) Skip(args ...any)  { r.skipped = args[0].(string) }
func (r *recorder) Fatal(args ...any) { r.failed = args[0].(string) }

func TestMissing(t *testing.T) {
	tests := []struct {
		name, ci   string
		wantFailed bool
	}{
		{name: "developer machine skips", ci: "", wantFailed: false},
		{name: "CI fails", ci: "true", wantFailed: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			r := &recorder{TB: t}
			path := prereq.LookPath(r, "apt-get install -y no-such-program", "no-such-program-oauth2d", "nor-this-one-oauth2d")
			if path != "" {
				t.Fatalf("LookPath = %q for a missing program", path)
			}
			msg := r.skipped
			if tc.wantFailed {
				msg = r.failed
			}
			if msg == "" || (r.skipped != "" && r.failed != "") {
				t.Fatalf("skipped %q, failed %q", r.skipped, r.failed)
			}
			for _, want := range []string{"no-such-program-oauth2d", "nor-this-one-oauth2d", "apt-get install -y no-such-program"} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q lacks %q", msg, want)
				}
			}
		})
	}
}

func TestLookPathFindsAProgram(t *testing.T) {
	t.Setenv("CI", "true")
	if got := prereq.LookPath(t, "it is the Go toolchain", "no-such-program-oauth2d", "go"); !strings.HasSuffix(got, "go") {
		t.Fatalf("LookPath = %q, want the go binary", got)
	}
}
