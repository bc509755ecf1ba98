package httpserver

import "github.com/gin-gonic/gin"

// builtins attaches the middleware every request goes through and the
// operational endpoints. The middleware order matters: the request id
// comes first so the recovery and access log lines carry it; recovery sits
// inside the access log and the metrics so a panic is logged and counted
// as a 500.
func builtins(r *gin.Engine, deps Deps, metrics *httpMetrics) {
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
