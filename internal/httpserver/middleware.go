package httpserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"runtime/debug"
	"time"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// RequestIDHeader carries the request id in both directions.
const RequestIDHeader = "X-Request-Id"

// An incoming id is reused only when it is short and plain, so it cannot
// inject into logs or headers.
var saneRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

type requestIDKey struct{}

// RequestID returns the id of the request ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

func randomRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails since Go 1.24
	return hex.EncodeToString(b[:])
}

// requestID accepts a sane incoming X-Request-Id (a proxy's) or makes one,
// echoes it on the response and puts it in the request context.
func requestID(newID func() string) gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader(RequestIDHeader)
		if !saneRequestID.MatchString(id) {
			id = newID()
		}
		c.Header(RequestIDHeader, id)
		// The request's span, if traced, names the id a client reports.
		if span := trace.SpanFromContext(c.Request.Context()); span.IsRecording() {
			span.SetAttributes(attribute.String("oauth2d.request_id", id))
		}
		c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), requestIDKey{}, id))
		c.Next()
	}
}

// accessLog writes one line per request. The query string is left out on
// purpose: it can carry authorization codes and state.
func accessLog(logger *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		status := c.Writer.Status()
		level := slog.LevelInfo
		if status >= http.StatusInternalServerError {
			level = slog.LevelError
		}
		logger.LogAttrs(c.Request.Context(), level, "http request",
			slog.String("request_id", RequestID(c.Request.Context())),
			slog.String("method", c.Request.Method),
			slog.String("path", c.Request.URL.Path),
			slog.Int("status", status),
			slog.Int("bytes", max(c.Writer.Size(), 0)),
			slog.Duration("duration", time.Since(start)),
			slog.String("remote_ip", c.ClientIP()),
		)
	}
}

// recovery turns a panic into a 500 with a fixed body; the detail and
// stack go to the log only.
func recovery(logger *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if err, ok := p.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(p) // the server's own way to abort a response; keep its meaning
			}
			logger.ErrorContext(c.Request.Context(), "panic serving request",
				"request_id", RequestID(c.Request.Context()),
				"panic", p, "stack", string(debug.Stack()))
			if !c.Writer.Written() {
				c.Header("Cache-Control", "no-store")
				c.JSON(http.StatusInternalServerError, gin.H{
					"error":             "server_error",
					"error_description": "The server encountered an unexpected error.",
				})
			}
			c.Abort()
		}()
		c.Next()
	}
}

// securityHeaders sets headers that are right for every response; hsts
// is the Strict-Transport-Security value, or "" for none.
func securityHeaders(hsts string) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Header("X-Content-Type-Options", "nosniff")
		if hsts != "" {
			c.Header("Strict-Transport-Security", hsts)
		}
		c.Next()
	}
}

// strictTransportSecurity is the HSTS header value for a server whose
// issuer is issuer, or "" when it must send none: over plain http (a
// loopback development issuer) a browser ignores the header anyway
// (RFC 6797 §8.1), and a max-age of zero turns the header off.
func strictTransportSecurity(issuer string, maxAge time.Duration) string {
	u, err := url.Parse(issuer)
	if err != nil || u.Scheme != "https" || maxAge < time.Second {
		return ""
	}
	return fmt.Sprintf("max-age=%d; includeSubDomains", int64(maxAge/time.Second))
}

// limitBody caps request bodies so a form or JSON parser cannot be made to
// read without end; reads past the limit fail.
func limitBody(n int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.Body != nil {
			c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, n)
		}
		c.Next()
	}
}
