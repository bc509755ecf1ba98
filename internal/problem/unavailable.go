package problem

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/storage"
)

// RetryAfterSeconds is what every answer to a storage outage puts in
// Retry-After: about one Redis command timeout, the time a stall or a
// failover needs to show whether it is short.
const RetryAfterSeconds = 2

// Unavailable reports whether err is a storage outage (Redis slow, down or
// not serving): such a request is answered 503 with Retry-After, never 500.
func Unavailable(err error) bool { return errors.Is(err, storage.ErrUnavailable) }

// SetRetryAfter adds the Retry-After of a storage outage to h. Every
// writer of a 503 (OAuth JSON, Bearer challenge, problem, HTML page) calls
// it, so they all say the same.
func SetRetryAfter(h http.Header) { h.Set("Retry-After", strconv.Itoa(RetryAfterSeconds)) }

// ServerError answers a failure the client cannot fix: 503 with
// Retry-After for a storage outage, else 500. Neither says more; the
// caller logs the detail.
func ServerError(c *gin.Context, err error) {
	if Unavailable(err) {
		SetRetryAfter(c.Writer.Header())
		Write(c, http.StatusServiceUnavailable, "the service is temporarily unavailable; retry later")
		return
	}
	Write(c, http.StatusInternalServerError, "")
}
