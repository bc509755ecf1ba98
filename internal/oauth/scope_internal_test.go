package oauth

import (
	"fmt"
	"strings"
	"testing"
)

func manyScopes(n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf("scope%d", i)
	}
	return strings.Join(s, " ")
}

func TestParseScope(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want []string
		ok   bool
	}{
		{"empty", "", nil, true},
		{"spaces only", "   ", nil, true},
		{"order kept, duplicates dropped", "b a  b c a", []string{"b", "a", "c"}, true},
		{"quote refused", `a "b"`, nil, false},
		{"backslash refused", `a\b`, nil, false},
		{"non-ASCII refused", "café", nil, false},
		{"tab is not a separator", "a\tb", nil, false},
		{"at the count limit", manyScopes(maxScopes), nil, true},
		{"over the count limit", manyScopes(maxScopes + 1), nil, false},
		{"9,000 scopes", manyScopes(9000), nil, false},
		{"over the length limit", strings.Repeat("a", maxScopeLen+1), nil, false},
		{"many duplicates within the length", strings.Repeat("a ", maxScopeLen/2), []string{"a"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseScope(tc.in)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if tc.want != nil && strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			if !ok && got != nil {
				t.Fatalf("refused, yet returned %q", got)
			}
			if len(got) > maxScopes {
				t.Fatalf("%d scopes", len(got))
			}
		})
	}
}

// The 9,000-scope request of issue 9 costs no more than a normal one: it
// is refused on its length before it is split.
func BenchmarkParseScope(b *testing.B) {
	for _, bc := range []struct {
		name string
		in   string
	}{
		{"normal", "openid profile email offline_access comments:read"},
		{"64 scopes", manyScopes(maxScopes)},
		{"9000 scopes", manyScopes(9000)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				parseScope(bc.in)
			}
		})
	}
}
