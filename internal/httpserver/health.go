package httpserver

import (
	"context"
	"fmt"
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

// readyz pings every dependency at once under one timeout: 200 when all
// answer, else 503 naming the ones that did not (the errors go to the
// log). A check that has not answered when the timeout ends counts as
// failed, so /readyz answers within the timeout even if a Pinger ignores
// its context.
func readyz(checks []Check, timeout time.Duration, logger *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Header("Cache-Control", "no-store")
		ctx, cancel := context.WithTimeout(c.Request.Context(), timeout)
		defer cancel()
		errs := make([]error, len(checks))
		done := make(chan int, len(checks))
		for i, check := range checks {
			go func() {
				errs[i] = check.Pinger.Ping(ctx)
				done <- i
			}()
		}
		answered := make([]bool, len(checks))
	wait:
		for range checks {
			select {
			case i := <-done:
				answered[i] = true
			case <-ctx.Done():
				break wait
			}
		}
		failed := []string{}
		for i, check := range checks {
			err := fmt.Errorf("no answer within %s", timeout)
			if answered[i] {
				err = errs[i] // written before its index was sent
			}
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
