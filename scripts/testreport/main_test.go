package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// testdata/run.json is `go test -json ./...` recorded on testdata/fx, a
// module with a passing package that skips two tests (one a subtest), a
// package with failing tests and subtests, a package that does not build,
// one whose test panics, and one without tests. To record it again:
// (cd testdata/fx && go test -json ./... > ../run.json).
func TestRun(t *testing.T) {
	recorded, err := os.ReadFile("testdata/run.json")
	if err != nil {
		t.Fatal(err)
	}
	all := strings.SplitAfter(string(recorded), "\n")
	only := func(pkgs ...string) string {
		var b strings.Builder
		for _, l := range all {
			for _, p := range pkgs {
				if strings.Contains(l, `"example.com/fx/`+p+`"`) || strings.Contains(l, `"example.com/fx/`+p+` [`) {
					b.WriteString(l)
				}
			}
		}
		return b.String()
	}
	tests := []struct {
		name       string
		in         string
		wantFailed bool
		want       []string
		dontWant   []string
	}{
		{
			name:       "everything",
			in:         string(recorded),
			wantFailed: true,
			want: []string{
				"ok  \texample.com/fx/passing\t",
				"?   \texample.com/fx/notests\t[no test files]\n",
				// skips, with their reasons, under their package
				"s\n    --- SKIP: TestSkips (0.00s)\n" +
					"        p_test.go:8: prereq: needs chromium: not on PATH; install: apt-get install -y chromium\n",
				"        --- SKIP: TestSub/skips (0.00s)\n            p_test.go:13: needs a plain redis:// server\n",
				"testreport: skipped tests: 2",
				// failures, in full
				"--- FAIL: TestFails (0.00s)\n    f_test.go:8: some context\n    f_test.go:9: got 1, want 2\n",
				"    --- FAIL: TestSubFails/bad (0.00s)\n        f_test.go:14: sub broke\n",
				"FAIL\texample.com/fx/failing\t",
				// the build failure
				"broken/b.go:3:23: cannot use \"not an int\"",
				"FAIL\texample.com/fx/broken [build failed]\n",
				// the panic
				"--- FAIL: TestPanics (0.00s)\npanic: assignment to entry in nil map",
				"fx/panics/p_test.go:7",
				"FAIL\texample.com/fx/panics\t",
				"testreport: FAIL: failed packages: 3\n",
			},
			dontWant: []string{"quiet when passing", "=== RUN", "--- PASS", "PASS\n"},
		},
		{
			name:     "pass and skip only",
			in:       only("passing", "notests"),
			want:     []string{"ok  \texample.com/fx/passing", "--- SKIP: TestSkips", "testreport: skipped tests: 2"},
			dontWant: []string{"FAIL"},
		},
		{
			name:       "build failure only",
			in:         only("broken"),
			wantFailed: true,
			want:       []string{"cannot use \"not an int\"", "FAIL\texample.com/fx/broken [build failed]"},
		},
		{
			name:       "test binary stopped before its result",
			in:         strings.Split(only("panics"), `"Action":"fail"`)[0],
			wantFailed: true,
			want:       []string{"--- FAIL: TestPanics", "panic: assignment", "FAIL\texample.com/fx/panics [no result"},
		},
		{
			name: "not an event",
			in:   "go: downloading example.com/x v1.0.0\n" + only("notests"),
			want: []string{"go: downloading example.com/x v1.0.0\n"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			failed, err := run(strings.NewReader(tc.in), &out)
			if err != nil {
				t.Fatal(err)
			}
			if failed != tc.wantFailed {
				t.Errorf("failed = %v, want %v", failed, tc.wantFailed)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q", w)
				}
			}
			for _, w := range tc.dontWant {
				if strings.Contains(out.String(), w) {
					t.Errorf("output has %q", w)
				}
			}
			if t.Failed() {
				t.Logf("output:\n%s", out.String())
			}
		})
	}
}
