package httpserver

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// routes is the one route table. The middleware order matters: the request
// id comes first so the recovery and access log lines carry it; recovery
// sits inside the access log and the metrics so a panic is logged and
// counted as a 500.
func routes(r *gin.Engine, deps Deps, metrics *httpMetrics) {
	r.Use(
		requestID(deps.NewRequestID),
		accessLog(deps.Logger),
		metrics.middleware(),
		recovery(deps.Logger),
		securityHeaders(),
		limitBody(deps.MaxBodyBytes),
	)

	r.GET("/healthz", healthz)
	r.GET("/readyz", readyz(deps.Ready, deps.ReadyTimeout, deps.Logger))
	// Always on, on the main listener like the health endpoints; deployments
	// that must not expose it block the path at their proxy.
	r.GET("/metrics", metricsHandler(deps.Metrics, deps.Logger))

	// Everything else (/.well-known/*, /oauth2/*, /login, /consent,
	// /logout, /api/v1/*, /admin/v1/*) is registered by the packages that
	// implement it; cmd/oauth2d lists them in Deps.Modules.
	for _, m := range deps.Modules {
		m.Register(r)
	}

	r.NoRoute(func(c *gin.Context) {
		c.JSON(http.StatusNotFound, gin.H{"error": "not_found"})
	})
}
