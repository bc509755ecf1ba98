package secret

import (
	"strings"
	"testing"
)

func TestUserCode(t *testing.T) {
	seen := map[byte]int{}
	for range 2000 {
		c := NewUserCode()
		got, ok := NormalizeUserCode(FormatUserCode(strings.ToLower(c)))
		if !ok || got != c {
			t.Fatalf("NormalizeUserCode(FormatUserCode(%q)) = %q, %v", c, got, ok)
		}
		for i := range len(c) {
			seen[c[i]]++
		}
	}
	if len(seen) != len(UserCodeAlphabet) {
		t.Fatalf("letters drawn: %d, want all %d", len(seen), len(UserCodeAlphabet))
	}
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"bcdf-ghjk", "BCDFGHJK"},
		{" BCDF GHJK ", "BCDFGHJK"},
		{"BCDFGHJ", ""},                            // short
		{"BCDFGHJKL", ""},                          // long
		{"ABCD-FGHJ", ""},                          // a vowel
		{"BCDF-GHJ1", ""},                          // a digit
		{"BCDF-GHJÉ", ""},                          // not ASCII
		{strings.Repeat("-", 40) + "BCDFGHJK", ""}, // too long to read
	} {
		got, ok := NormalizeUserCode(tc.in)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("NormalizeUserCode(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
}
