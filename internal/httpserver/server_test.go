package httpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

type pingFunc func(ctx context.Context) error

func (f pingFunc) Ping(ctx context.Context) error { return f(ctx) }

// routesFunc mounts a test's own routes where the route table would go.
type routesFunc func(r gin.IRouter)

// newHandler is New with the test's routes in place of the route table:
// the same middleware, built-in endpoints and not-found answer.
func newHandler(t *testing.T, deps Deps, mounts ...routesFunc) (http.Handler, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	deps.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	engine, err := newEngine(deps)
	if err != nil {
		t.Fatal(err)
	}
	for _, mount := range mounts {
		mount(engine)
	}
	engine.NoRoute(notFound)
	return engine, &logs
}

func do(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestHealthAndReadiness(t *testing.T) {
	ok := pingFunc(func(context.Context) error { return nil })
	down := pingFunc(func(context.Context) error { return errors.New("connection refused") })
	slow := pingFunc(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	tests := []struct {
		name       string
		path       string
		checks     []Check
		wantStatus int
		wantBody   string
	}{
		{"healthz needs nothing", "/healthz", []Check{{"storage", down}}, 200, `{"status":"ok"}`},
		{"ready", "/readyz", []Check{{"storage", ok}}, 200, `{"status":"ready"}`},
		{"storage down", "/readyz", []Check{{"storage", down}, {"keys", ok}}, 503, `{"failed":["storage"],"status":"unavailable"}`},
		{"storage hangs", "/readyz", []Check{{"storage", slow}}, 503, `{"failed":["storage"],"status":"unavailable"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newHandler(t, Deps{Ready: tc.checks, ReadyTimeout: 50 * time.Millisecond})
			rec := do(h, httptest.NewRequest(http.MethodGet, tc.path, nil))
			if rec.Code != tc.wantStatus || strings.TrimSpace(rec.Body.String()) != tc.wantBody {
				t.Fatalf("GET %s = %d %s, want %d %s", tc.path, rec.Code, rec.Body, tc.wantStatus, tc.wantBody)
			}
			if got := rec.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	var seen string
	echo := routesFunc(func(r gin.IRouter) {
		r.GET("/echo", gin.WrapF(func(w http.ResponseWriter, r *http.Request) { seen = RequestID(r.Context()) }))
	})
	h, _ := newHandler(t, Deps{NewRequestID: func() string { return "generated" }}, echo)
	tests := []struct {
		name, incoming, want string
	}{
		{"none", "", "generated"},
		{"sane incoming kept", "lb-4f2a:17", "lb-4f2a:17"},
		{"spaces replaced", "a b", "generated"},
		{"log injection replaced", "x\nlevel=ERROR", "generated"},
		{"too long replaced", strings.Repeat("a", 65), "generated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/echo", nil)
			if tc.incoming != "" {
				req.Header[RequestIDHeader] = []string{tc.incoming}
			}
			rec := do(h, req)
			if got := rec.Header().Get(RequestIDHeader); got != tc.want {
				t.Errorf("response %s = %q, want %q", RequestIDHeader, got, tc.want)
			}
			if seen != tc.want {
				t.Errorf("RequestID(ctx) = %q, want %q", seen, tc.want)
			}
		})
	}
}

func TestRecoveryHidesDetail(t *testing.T) {
	boom := routesFunc(func(r gin.IRouter) {
		r.GET("/boom", func(*gin.Context) { panic("secret detail: db password is hunter2") })
	})
	h, logs := newHandler(t, Deps{}, boom)
	rec := do(h, httptest.NewRequest(http.MethodGet, "/boom", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status = %d, want 500", rec.Code)
	}
	var body map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body["error"] != "server_error" {
		t.Fatalf("body = %s, want a server_error JSON", rec.Body)
	}
	if strings.Contains(rec.Body.String(), "hunter2") {
		t.Fatal("the panic detail leaked into the response")
	}
	id := rec.Header().Get(RequestIDHeader)
	if !strings.Contains(logs.String(), "hunter2") || !strings.Contains(logs.String(), "request_id="+id) {
		t.Fatalf("the log lacks the panic or its request id:\n%s", logs)
	}
	if !strings.Contains(logs.String(), "status=500") {
		t.Errorf("the access log does not record the 500:\n%s", logs)
	}
}

func TestRoutesAndNotFound(t *testing.T) {
	first := routesFunc(func(r gin.IRouter) { r.GET("/one", func(c *gin.Context) { c.String(200, "one") }) })
	second := routesFunc(func(r gin.IRouter) {
		r.Group("/api/v1").GET("/two", func(c *gin.Context) { c.String(200, "two") })
	})
	h, _ := newHandler(t, Deps{}, first, second)
	for path, want := range map[string]string{"/one": "one", "/api/v1/two": "two"} {
		if rec := do(h, httptest.NewRequest(http.MethodGet, path, nil)); rec.Code != 200 || rec.Body.String() != want {
			t.Errorf("GET %s = %d %q, want 200 %q", path, rec.Code, rec.Body, want)
		}
	}
	rec := do(h, httptest.NewRequest(http.MethodGet, "/nowhere", nil))
	if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), `"not_found"`) {
		t.Fatalf("GET /nowhere = %d %s, want 404 JSON", rec.Code, rec.Body)
	}
	if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
	}
}

func TestBodyLimit(t *testing.T) {
	form := routesFunc(func(r gin.IRouter) {
		r.POST("/form", func(c *gin.Context) {
			if err := c.Request.ParseForm(); err != nil {
				c.String(http.StatusRequestEntityTooLarge, "too large")
				return
			}
			c.String(200, "ok")
		})
	})
	h, _ := newHandler(t, Deps{MaxBodyBytes: 1024}, form)
	for name, tc := range map[string]struct {
		size int
		want int
	}{"under": {1000, 200}, "over": {2000, http.StatusRequestEntityTooLarge}} {
		t.Run(name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/form", strings.NewReader("a="+strings.Repeat("x", tc.size)))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if rec := do(h, req); rec.Code != tc.want {
				t.Fatalf("status = %d, want %d", rec.Code, tc.want)
			}
		})
	}
}

func TestAccessLogOmitsQuery(t *testing.T) {
	h, logs := newHandler(t, Deps{})
	do(h, httptest.NewRequest(http.MethodGet, "/healthz?code=SECRETCODE", nil))
	if !strings.Contains(logs.String(), "path=/healthz") || !strings.Contains(logs.String(), "status=200") {
		t.Fatalf("access log lacks path or status:\n%s", logs)
	}
	if strings.Contains(logs.String(), "SECRETCODE") {
		t.Fatalf("access log leaked the query:\n%s", logs)
	}
}

func TestClientIPIgnoresForwardedHeadersByDefault(t *testing.T) {
	var ip string
	mod := routesFunc(func(r gin.IRouter) { r.GET("/ip", func(c *gin.Context) { ip = c.ClientIP() }) })
	tests := []struct {
		name    string
		proxies []string
		want    string
	}{
		{"no trusted proxy", nil, "192.0.2.1"},
		{"trusted proxy", []string{"192.0.2.0/24"}, "203.0.113.9"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newHandler(t, Deps{TrustedProxies: tc.proxies}, mod)
			req := httptest.NewRequest(http.MethodGet, "/ip", nil)
			req.RemoteAddr = "192.0.2.1:5555"
			req.Header.Set("X-Forwarded-For", "203.0.113.9")
			do(h, req)
			if ip != tc.want {
				t.Fatalf("ClientIP = %q, want %q", ip, tc.want)
			}
		})
	}
}

func TestNewRejectsBadProxy(t *testing.T) {
	_, err := newEngine(Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), TrustedProxies: []string{"not-an-ip"}})
	if err == nil || !strings.HasPrefix(err.Error(), "httpserver: ") {
		t.Fatalf("New = %v, want an httpserver error", err)
	}
}

func TestNewNeedsEveryHandler(t *testing.T) {
	_, err := New(Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil || err.Error() != "httpserver: every handler is required" {
		t.Fatalf("New without handlers = %v, want the missing-handler error", err)
	}
}

func TestStrictTransportSecurity(t *testing.T) {
	tests := []struct {
		name, issuer string
		maxAge       time.Duration
		want         string
	}{
		{"https, two years", "https://auth.example.com", 2 * 365 * 24 * time.Hour, "max-age=63072000; includeSubDomains"},
		{"https, seconds only", "https://auth.example.com", 90*time.Second + 500*time.Millisecond, "max-age=90; includeSubDomains"},
		{"https, turned off", "https://auth.example.com", 0, ""},
		{"https, under a second", "https://auth.example.com", time.Millisecond, ""},
		{"http loopback", "http://localhost:8080", time.Hour, ""},
		{"no issuer", "", time.Hour, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newHandler(t, Deps{Issuer: tc.issuer, HSTSMaxAge: tc.maxAge})
			rec := do(h, httptest.NewRequest(http.MethodGet, "/healthz", nil))
			if got := rec.Header().Get("Strict-Transport-Security"); got != tc.want {
				t.Errorf("Strict-Transport-Security = %q, want %q", got, tc.want)
			}
		})
	}
}
