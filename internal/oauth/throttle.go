package oauth

import (
	"net/http"
	"time"

	"github.com/oauth2d/oauth2d/internal/ratelimit"
)

// retryAfter returns a copy that is answered with a Retry-After header of
// seconds (RFC 6585 §4, RFC 9110 §10.2.3), for a 429 of the brute-force
// budgets; the body stays an RFC 6749 §5.2 error.
func (e *Error) retryAfter(seconds string) *Error {
	c := *e
	c.retryAfterSeconds = seconds
	return &c
}

// spend takes one unit of the per-address budget for r, before anything
// the request makes the server store: a spent budget is 429 with
// Retry-After, and the request goes no further. A nil budget is no limit.
func spend(r *http.Request, budget AddressBudget) *Error {
	if budget == nil {
		return nil
	}
	ok, wait, err := budget.Spend(r.Context(), clientIP(r))
	if err != nil {
		return ErrServerError.Wrap(err)
	}
	if !ok {
		throttled := &ratelimit.Throttled{Budget: ratelimit.BudgetIP, RetryAfter: max(wait, time.Second)}
		return ErrTooManyRequests.retryAfter(throttled.RetryAfterSeconds()).Wrap(throttled)
	}
	return nil
}
