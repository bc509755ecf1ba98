package prereq

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// CI reports whether the tests run under CI, where a missing
// prerequisite is a failure.
func CI() bool {
	switch strings.ToLower(os.Getenv("CI")) {
	case "", "0", "false":
		return false
	}
	return true
}

// Missing ends t because what it needs is missing: detail says what was
// looked for, install how to get it. It fails the test under CI and skips
// it elsewhere.
func Missing(t testing.TB, what, detail, install string) {
	t.Helper()
	msg := "prereq: needs " + what + ": " + detail + "; install: " + install
	if CI() {
		t.Fatal(msg + " (CI is set: a missing prerequisite fails)")
	} else {
		t.Skip(msg)
	}
}

// LookPath returns the first of names found on PATH; when none is, it
// ends t with Missing.
func LookPath(t testing.TB, install string, names ...string) string {
	t.Helper()
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	Missing(t, names[0], "not on PATH (looked for "+strings.Join(names, ", ")+")", install)
	return ""
}
