package oauth

// retryAfter returns a copy that is answered with a Retry-After header of
// seconds (RFC 6585 §4, RFC 9110 §10.2.3), for a 429 of the brute-force
// budgets; the body stays an RFC 6749 §5.2 error.
func (e *Error) retryAfter(seconds string) *Error {
	c := *e
	c.retryAfterSeconds = seconds
	return &c
}
