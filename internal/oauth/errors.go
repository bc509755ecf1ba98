package oauth

import (
	"errors"
	"fmt"
	"net/http"

	oerrors "github.com/go-oauth2/oauth2/v4/errors"
	"github.com/oauth2d/oauth2d/internal/problem"
)

// Error is the one protocol error of the authorization server (RFC 6749
// §5.2, RFC 7009 §2.2.1, RFC 7662 §2.3). Description is fixed, safe text:
// the same failure always reads the same, and nothing about the request or
// the server's internals leaks into it. The cause, if any, is for the log.
type Error struct {
	Code        string
	Description string
	Status      int
	cause       error
	// retryAfterSeconds, when set, is sent as Retry-After (throttle.go).
	retryAfterSeconds string
}

func (e *Error) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("oauth: %s: %s: %v", e.Code, e.Description, e.cause)
	}
	return fmt.Sprintf("oauth: %s: %s", e.Code, e.Description)
}

func (e *Error) Unwrap() error { return e.cause }

// WithDescription returns a copy with another fixed description.
func (e *Error) WithDescription(d string) *Error {
	c := *e
	c.Description = d
	return &c
}

// Wrap returns a copy that remembers cause for the log.
func (e *Error) Wrap(cause error) *Error {
	c := *e
	c.cause = cause
	return &c
}

// The error codes come from go-oauth2's error values so that both speak the
// same words; the statuses are ours, because the library's are off RFC 6749
// §5.2 (it answers 401 for invalid_grant and unsupported_grant_type).
var (
	ErrInvalidRequest = newError(oerrors.ErrInvalidRequest, http.StatusBadRequest,
		"the request is missing a required parameter, repeats a parameter, or is otherwise malformed")
	ErrInvalidClient = newError(oerrors.ErrInvalidClient, http.StatusUnauthorized,
		"client authentication failed")
	ErrInvalidGrant = newError(oerrors.ErrInvalidGrant, http.StatusBadRequest,
		"the grant or refresh token is invalid, expired, revoked, or was issued to another client")
	ErrUnauthorizedClient = newError(oerrors.ErrUnauthorizedClient, http.StatusBadRequest,
		"the client is not allowed to use this grant type")
	ErrUnsupportedGrantType = newError(oerrors.ErrUnsupportedGrantType, http.StatusBadRequest,
		"the grant type is not supported")
	ErrInvalidScope = newError(oerrors.ErrInvalidScope, http.StatusBadRequest,
		"the requested scope is invalid, unknown, or exceeds what was granted")
	ErrTooManyRequests = newError(oerrors.ErrInvalidRequest, http.StatusTooManyRequests,
		"too many attempts; retry later")
	ErrRequestTooLarge = newError(oerrors.ErrInvalidRequest, http.StatusRequestEntityTooLarge,
		"the request body is too large")
	ErrServerError = newError(oerrors.ErrServerError, http.StatusInternalServerError,
		"the server encountered an unexpected condition")
	// ErrTemporarilyUnavailable answers a storage outage (503 with
	// Retry-After); the RFC 6749 §4.1.2.1 code, used at the token
	// endpoint too, where a client library reads it as "retry".
	ErrTemporarilyUnavailable = newError(oerrors.ErrTemporarilyUnavailable, http.StatusServiceUnavailable,
		"the service is temporarily unavailable; retry later")
)

func newError(code error, status int, description string) *Error {
	return &Error{Code: code.Error(), Status: status, Description: description}
}

// asError turns any error into a protocol error; anything that is not
// already one becomes server_error and keeps the original as its cause.
//
// A storage outage, wrapped or not, becomes temporarily_unavailable: it
// is no fault of the server's code and the client may retry.
func asError(err error) *Error {
	var e *Error
	if !errors.As(err, &e) {
		e = ErrServerError.Wrap(err)
	}
	if e.Status >= 500 && e.Status != http.StatusServiceUnavailable && problem.Unavailable(err) {
		return ErrTemporarilyUnavailable.Wrap(err)
	}
	return e
}
