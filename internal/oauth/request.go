package oauth

import (
	"context"
	"net"
	"net/http"

	"github.com/gin-gonic/gin"
)

type clientIPKey struct{}

// RecordClientIP is middleware for the endpoints written as plain
// http.Handlers: it records the client address gin worked out (the TCP
// peer, or the X-Forwarded-For entry of a configured trusted proxy) where
// clientIP finds it. Untrusted forwarding headers are ignored, since a
// forged one would buy a fresh rate budget per request.
func RecordClientIP(c *gin.Context) {
	c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), clientIPKey{}, c.ClientIP()))
	c.Next()
}

// ClientIPFrom is the address RecordClientIP recorded in ctx, or "".
func ClientIPFrom(ctx context.Context) string {
	ip, _ := ctx.Value(clientIPKey{}).(string)
	return ip
}

// clientIP is the address RecordClientIP recorded, else the TCP peer.
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
