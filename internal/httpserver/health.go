package httpserver

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// healthz says the process is up and serving; it touches no dependency so
// an orchestrator does not restart instances for a Redis outage.
func healthz(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// readyz pings every dependency with a timeout: 200 when all answer, else
// 503 naming the ones that did not (the errors go to the log).
func readyz(checks []Check, timeout time.Duration, logger *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Header("Cache-Control", "no-store")
		failed := []string{}
		for _, check := range checks {
			ctx, cancel := context.WithTimeout(c.Request.Context(), timeout)
			err := check.Pinger.Ping(ctx)
			cancel()
			if err != nil {
				logger.WarnContext(c.Request.Context(), "readiness check failed",
					"request_id", RequestID(c.Request.Context()), "check", check.Name, "err", err)
				failed = append(failed, check.Name)
			}
		}
		if len(failed) > 0 {
			c.JSON(http.StatusServiceUnavailable, gin.H{"status": "unavailable", "failed": failed})
			return
		}
		c.JSON(http.StatusOK, gin.H{"status": "ready"})
	}
}
