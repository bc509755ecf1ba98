package httpserver

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// unmatchedRoute labels requests no route took (404s), so a scan of
// random paths adds one series, not one per path.
const unmatchedRoute = "unmatched"

// durationBuckets span 1ms (a cached introspection) to 5s (a slow bcrypt
// check behind a congested Redis); slower requests land in +Inf.
var durationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

// httpMetrics are the per-request collectors of one server instance.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// newHTTPMetrics registers the request collectors and the Go and process
// collectors on reg. It fails when reg already holds any of them, which
// happens only if the caller shares one registry between two servers.
func newHTTPMetrics(reg prometheus.Registerer) (*httpMetrics, error) {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oauth2d_http_requests_total",
			Help: "HTTP requests served, by route template, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "oauth2d_http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by route template and method.",
			Buckets: durationBuckets,
		}, []string{"route", "method"}),
	}
	for _, c := range []prometheus.Collector{
		m.requests, m.duration,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("httpserver: metrics: %w", err)
		}
	}
	return m, nil
}

// middleware observes every request once it is done. It sits outside
// recovery so a panic counts as the 500 the client saw.
func (m *httpMetrics) middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		// The route template, never the raw path: ids in paths and
		// scanners' guesses would otherwise each make a series.
		route := c.FullPath()
		if route == "" {
			route = unmatchedRoute
		}
		method := methodLabel(c.Request.Method)
		m.requests.WithLabelValues(route, method, strconv.Itoa(c.Writer.Status())).Inc()
		m.duration.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
	}
}

// methodLabel keeps the standard methods and folds the rest into "other":
// the method is whatever token the client sent, so it must not become a
// label value as is.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "other"
}

// metricsHandler serves reg in the Prometheus exposition format (text
// unless the scraper negotiates another). Concurrent scrapes share one
// collection so a burst of requests to this public path costs one gather.
func metricsHandler(reg prometheus.Gatherer, logger *slog.Logger) gin.HandlerFunc {
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:       slog.NewLogLogger(logger.Handler(), slog.LevelError),
		CoalesceGather: true,
	})
	return func(c *gin.Context) {
		c.Header("Cache-Control", "no-store")
		h.ServeHTTP(c.Writer, c.Request)
	}
}
