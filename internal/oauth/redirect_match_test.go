package oauth

import (
	"strings"
	"testing"
)

// RFC 8252 §7.3: loopback IP redirect URIs match on any port; everything
// else is exact.
func TestRedirectURIMatches(t *testing.T) {
	tests := []struct {
		name                string
		registered, request string
		want                bool
	}{
		{"exact", "https://app.example/cb", "https://app.example/cb", true},
		{"exact with port", "http://127.0.0.1:9001/cb", "http://127.0.0.1:9001/cb", true},
		{"loopback v4, port added", "http://127.0.0.1/callback", "http://127.0.0.1:51234/callback", true},
		{"loopback v4, port changed", "http://127.0.0.1:9001/callback", "http://127.0.0.1:51234/callback", true},
		{"loopback v4, port dropped", "http://127.0.0.1:9001/callback", "http://127.0.0.1/callback", true},
		{"loopback v6", "http://[::1]/cb", "http://[::1]:8080/cb", true},
		{"loopback with query", "http://127.0.0.1/cb?x=1", "http://127.0.0.1:8080/cb?x=1", true},
		{"loopback, other path", "http://127.0.0.1/callback", "http://127.0.0.1:51234/other", false},
		{"loopback, other query", "http://127.0.0.1/cb?x=1", "http://127.0.0.1:8080/cb?x=2", false},
		{"loopback, path case", "http://127.0.0.1/cb", "http://127.0.0.1:8080/CB", false},
		{"loopback, escaped path", "http://127.0.0.1/cb", "http://127.0.0.1:8080/%63b", false},
		{"v4 registered, v6 asked", "http://127.0.0.1/cb", "http://[::1]:8080/cb", false},
		{"localhost stays exact", "http://localhost/cb", "http://localhost:8080/cb", false},
		{"localhost asked for loopback IP", "http://127.0.0.1/cb", "http://localhost:8080/cb", false},
		{"https loopback is exact", "https://127.0.0.1/cb", "https://127.0.0.1:8443/cb", false},
		{"scheme case", "http://127.0.0.1/cb", "HTTP://127.0.0.1:8080/cb", false},
		{"other 127/8 address", "http://127.0.0.1/cb", "http://127.0.0.2:8080/cb", false},
		{"zero-padded address", "http://127.0.0.1/cb", "http://127.000.0.1:8080/cb", false},
		{"host suffix", "http://127.0.0.1/cb", "http://127.0.0.1.evil.example:80/cb", false},
		{"userinfo", "http://127.0.0.1/cb", "http://evil@127.0.0.1:80/cb", false},
		{"empty port", "http://127.0.0.1/cb", "http://127.0.0.1:/cb", false},
		{"port zero", "http://127.0.0.1/cb", "http://127.0.0.1:0/cb", false},
		{"leading zero port", "http://127.0.0.1/cb", "http://127.0.0.1:080/cb", false},
		{"port too big", "http://127.0.0.1/cb", "http://127.0.0.1:65536/cb", false},
		{"signed port", "http://127.0.0.1/cb", "http://127.0.0.1:+80/cb", false},
		{"fragment", "http://127.0.0.1/cb", "http://127.0.0.1:80/cb#x", false},
		{"no path", "http://127.0.0.1", "http://127.0.0.1:8080", true},
		{"no path vs slash", "http://127.0.0.1", "http://127.0.0.1:8080/", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := redirectURIMatches(tc.registered, tc.request); got != tc.want {
				t.Fatalf("redirectURIMatches(%q, %q) = %v, want %v", tc.registered, tc.request, got, tc.want)
			}
		})
	}
}

// A match never changes anything but the port of a loopback IP URI.
func FuzzRedirectURIMatches(f *testing.F) {
	f.Add("http://127.0.0.1/cb", "http://127.0.0.1:51234/cb")
	f.Add("http://[::1]:80/cb?x", "http://[::1]/cb?x")
	f.Add("https://app.example/cb", "https://app.example/cb")
	f.Fuzz(func(t *testing.T, registered, requested string) {
		if !redirectURIMatches(registered, requested) || registered == requested {
			return
		}
		strip := func(s string) string {
			h, _, rest, ok := splitLoopback(s)
			if !ok {
				t.Fatalf("%q matched %q without being a loopback IP URI", requested, registered)
			}
			return "http://" + h + rest
		}
		if strip(registered) != strip(requested) || strings.Contains(requested, "#") {
			t.Fatalf("%q matched %q", requested, registered)
		}
	})
}
