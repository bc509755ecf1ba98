package oauth

import (
	"net"
	"net/http"
	"slices"

	"github.com/oauth2d/oauth2d/internal/storage"
)

// clientIP is the peer address. Forwarding headers are not trusted: they
// are the client's to forge, and a forged one would buy a fresh rate
// budget per request.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func hasGrant(c *storage.Client, grant string) bool {
	return slices.Contains(c.GrantTypes, grant)
}
