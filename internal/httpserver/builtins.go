package httpserver

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/contrib/instrumentation/github.com/gin-gonic/gin/otelgin"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// builtins attaches the middleware every request goes through and the
// operational endpoints. The middleware order matters: the request id
// comes first so the recovery and access log lines carry it; recovery sits
// inside the access log and the metrics so a panic is logged and counted
// as a 500. The trace span, when tracing is on, comes before them all, so
// that every line they log carries its ids.
func builtins(r *gin.Engine, deps Deps, metrics *httpMetrics) {
	if deps.TracerProvider != nil {
		r.Use(requestSpan(deps.TracerProvider))
	}
	r.Use(
		requestID(deps.NewRequestID),
		accessLog(deps.Logger),
		metrics.middleware(),
		recovery(deps.Logger),
		securityHeaders(strictTransportSecurity(deps.Issuer, deps.HSTSMaxAge)),
		limitBody(deps.MaxBodyBytes),
	)
	r.GET("/healthz", healthz)
	r.GET("/readyz", readyz(deps.Ready, deps.ReadyTimeout, deps.Logger))
	// Always on, on the main listener like the health endpoints; deployments
	// that must not expose it block the path at their proxy.
	r.GET("/metrics", metricsHandler(deps.Metrics, deps.Logger))
}

// requestSpan is otelgin on tp. Its HTTP metrics are off: /metrics has
// ours. Probes and scrapes are not traced: they come every few seconds and
// say nothing about a request.
func requestSpan(tp trace.TracerProvider) gin.HandlerFunc {
	return otelgin.Middleware("oauth2d",
		otelgin.WithTracerProvider(tp),
		otelgin.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelgin.WithPropagators(propagation.TraceContext{}),
		otelgin.WithFilter(func(r *http.Request) bool {
			switch r.URL.Path {
			case "/healthz", "/readyz", "/metrics":
				return false
			}
			return true
		}),
	)
}
