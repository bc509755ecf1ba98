package oauth

import (
	"context"
	"net"
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/storage"
)

type clientIPKey struct{}

// withClientIP runs h with the client address gin worked out: the TCP peer,
// or the X-Forwarded-For entry of a configured trusted proxy. Untrusted
// forwarding headers are ignored, since a forged one would buy a fresh
// rate budget per request.
func withClientIP(h http.HandlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		h(c.Writer, c.Request.WithContext(context.WithValue(c.Request.Context(), clientIPKey{}, c.ClientIP())))
	}
}

// clientIP is the address withClientIP recorded, else the TCP peer.
func clientIP(r *http.Request) string {
	if ip, ok := r.Context().Value(clientIPKey{}).(string); ok && ip != "" {
		return ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func hasGrant(c *storage.Client, grant string) bool {
	return slices.Contains(c.GrantTypes, grant)
}
