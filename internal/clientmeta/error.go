package clientmeta

import (
	"net/http"
	"time"

	"github.com/oauth2d/oauth2d/internal/storage"
)

// Reasons a document is refused: fixed texts, safe to show on the error
// page and in error_description, that tell the client's developer what
// to fix. The detail (which may hold what the document said) goes to the
// log only.
const (
	ReasonBadURL      = "the client_id is not a valid client ID metadata document URL (https, with a path, no fragment, no userinfo)"
	ReasonInternal    = "the client_id URL points at an internal address, which the server does not fetch"
	ReasonUnreachable = "the client ID metadata document could not be fetched"
	ReasonRedirect    = "the client ID metadata document URL answered with a redirect, which is not followed"
	ReasonStatus      = "the client ID metadata document URL did not answer 200 OK"
	ReasonTooLarge    = "the client ID metadata document is too large"
	ReasonTooSlow     = "the client ID metadata document took too long to fetch"
	ReasonContentType = "the client ID metadata document is not served as application/json"
	ReasonMalformed   = "the client ID metadata document is not a JSON object of client metadata"
	ReasonMismatch    = "the client ID metadata document's client_id is not the URL it was fetched from"
	ReasonSecret      = "a client ID metadata document client cannot use a client secret (token_endpoint_auth_method must be none)"
	ReasonAuthMethod  = "the client ID metadata document names a token_endpoint_auth_method this server does not support for it (use none)"
	ReasonGrantTypes  = "the client ID metadata document names grant types other than authorization_code and refresh_token"
	ReasonInvalid     = "the client ID metadata document does not describe a valid client (check redirect_uris, client_name and client_uri)"
	ReasonThrottled   = "too many client ID metadata documents were looked up from your address; try again later"
)

// Error is a URL client id that could not be resolved: its document could
// not be fetched or was not acceptable, or the caller's budget of fetches
// is spent. It matches storage.ErrNotFound.
type Error struct {
	Reason     string        // one of the Reason* texts
	Err        error         // the detail, for the log
	RetryAfter time.Duration // ReasonThrottled: when the budget has room again
}

func (e *Error) Error() string {
	if e.Err == nil {
		return "clientmeta: " + e.Reason
	}
	return "clientmeta: " + e.Reason + ": " + e.Err.Error()
}

// Unwrap makes errors.Is(err, storage.ErrNotFound) true, and reaches the
// detail.
func (e *Error) Unwrap() []error { return []error{storage.ErrNotFound, e.Err} }

// Status is the HTTP status of a page that shows the error: 429 when the
// budget is spent, else 400 (the document is the client's to fix).
func (e *Error) Status() int {
	if e.Reason == ReasonThrottled {
		return http.StatusTooManyRequests
	}
	return http.StatusBadRequest
}
