package httpserver

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// sample is one series read back from /metrics: its labels and its value
// (a counter's value, or a histogram's sample count).
type sample struct {
	labels map[string]string
	value  float64
}

// scrape GETs /metrics as Prometheus would and parses the text exposition,
// so the tests check what a scraper sees, not the collectors' insides.
func scrape(t *testing.T, h http.Handler) map[string][]sample {
	t.Helper()
	rec := do(h, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Fatalf("Content-Type = %q, want the text exposition format", ct)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	out := map[string][]sample{}
	for name, mf := range families {
		for _, m := range mf.GetMetric() {
			s := sample{labels: map[string]string{}}
			for _, lp := range m.GetLabel() {
				s.labels[lp.GetName()] = lp.GetValue()
			}
			switch {
			case m.Counter != nil:
				s.value = m.GetCounter().GetValue()
			case m.Histogram != nil:
				s.value = float64(m.GetHistogram().GetSampleCount())
			case m.Gauge != nil:
				s.value = m.GetGauge().GetValue()
			}
			out[name] = append(out[name], s)
		}
	}
	return out
}

// valueOf is the value of the series of family name with exactly labels,
// or 0 when there is none (a counter that never moved is not exported).
func valueOf(samples map[string][]sample, name string, labels map[string]string) float64 {
	for _, s := range samples[name] {
		if len(s.labels) == len(labels) && equalLabels(s.labels, labels) {
			return s.value
		}
	}
	return 0
}

func equalLabels(a, b map[string]string) bool {
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}

func TestMetricsCountRequestsByRouteTemplate(t *testing.T) {
	items := routesFunc(func(r gin.IRouter) {
		r.GET("/items/:id", func(c *gin.Context) { c.String(http.StatusOK, c.Param("id")) })
		r.GET("/boom", func(*gin.Context) { panic("boom") })
	})
	h, _ := newHandler(t, Deps{}, items)
	for _, req := range []struct{ method, path string }{
		{http.MethodGet, "/items/1"},
		{http.MethodGet, "/items/2"},
		{http.MethodGet, "/boom"},
		{http.MethodGet, "/nowhere"},
		{http.MethodGet, "/wp-admin/setup.php"},
		{http.MethodPost, "/healthz"}, // only GET is routed
		{"BREW", "/healthz"},
	} {
		do(h, httptest.NewRequest(req.method, req.path, nil))
	}
	got := scrape(t, h)

	tests := []struct {
		name   string
		family string
		labels map[string]string
		want   float64
	}{
		{"path parameters share one series", "oauth2d_http_requests_total",
			map[string]string{"route": "/items/:id", "method": "GET", "code": "200"}, 2},
		{"a panic counts as the 500 sent", "oauth2d_http_requests_total",
			map[string]string{"route": "/boom", "method": "GET", "code": "500"}, 1},
		{"unknown paths are unmatched", "oauth2d_http_requests_total",
			map[string]string{"route": unmatchedRoute, "method": "GET", "code": "404"}, 2},
		{"an unrouted method is unmatched", "oauth2d_http_requests_total",
			map[string]string{"route": unmatchedRoute, "method": "POST", "code": "404"}, 1},
		{"a made-up method is folded", "oauth2d_http_requests_total",
			map[string]string{"route": unmatchedRoute, "method": "other", "code": "404"}, 1},
		{"durations by route", "oauth2d_http_request_duration_seconds",
			map[string]string{"route": "/items/:id", "method": "GET"}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if v := valueOf(got, tc.family, tc.labels); v != tc.want {
				t.Errorf("%s%v = %v, want %v (all: %v)", tc.family, tc.labels, v, tc.want, got[tc.family])
			}
		})
	}
	t.Run("no raw path becomes a label", func(t *testing.T) {
		for _, s := range got["oauth2d_http_requests_total"] {
			if r := s.labels["route"]; r != unmatchedRoute && !slices.Contains([]string{"/items/:id", "/boom"}, r) {
				t.Errorf("unexpected route label %q", r)
			}
		}
	})
	t.Run("runtime collectors", func(t *testing.T) {
		for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
			if len(got[name]) == 0 {
				t.Errorf("%s missing from /metrics", name)
			}
		}
	})
}

func TestMetricsEndpointIsGetOnly(t *testing.T) {
	h, _ := newHandler(t, Deps{})
	rec := do(h, httptest.NewRequest(http.MethodPost, "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("POST /metrics = %d, want 404", rec.Code)
	}
	rec = do(h, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if got := rec.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
}

func TestMetricsPerServer(t *testing.T) {
	// Two servers in one process (as in the cmd tests) each own a registry:
	// building the second must not fail on duplicate collectors, and one
	// server's traffic must not show in the other's /metrics.
	a, _ := newHandler(t, Deps{})
	b, _ := newHandler(t, Deps{})
	do(a, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	healthz := map[string]string{"route": "/healthz", "method": "GET", "code": "200"}
	if v := valueOf(scrape(t, a), "oauth2d_http_requests_total", healthz); v != 1 {
		t.Errorf("server a counted %v /healthz requests, want 1", v)
	}
	if v := valueOf(scrape(t, b), "oauth2d_http_requests_total", healthz); v != 0 {
		t.Errorf("server b counted %v /healthz requests, want 0", v)
	}

	t.Run("caller registry", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		tokens := prometheus.NewCounter(prometheus.CounterOpts{Name: "oauth2d_tokens_issued_total", Help: "test"})
		reg.MustRegister(tokens)
		tokens.Inc()
		h, _ := newHandler(t, Deps{Metrics: reg})
		if v := valueOf(scrape(t, h), "oauth2d_tokens_issued_total", map[string]string{}); v != 1 {
			t.Errorf("caller's counter = %v on /metrics, want 1", v)
		}
		_, err := newEngine(Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: reg})
		if err == nil || !strings.HasPrefix(err.Error(), "httpserver: ") {
			t.Fatalf("second New on one registry = %v, want an httpserver error", err)
		}
	})
}
