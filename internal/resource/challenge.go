package resource

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/oauth2d/oauth2d/internal/problem"
)

// RFC 6750 §3.1 error codes.
const (
	errInvalidRequest    = "invalid_request"
	errInvalidToken      = "invalid_token"
	errInsufficientScope = "insufficient_scope"
)

// failure is why a request was not let through. Descriptions are fixed,
// safe text (DESIGN.md §8): the precise reason goes to the debug log.
type failure struct {
	status int
	code   string // empty: no credentials, so no error code (RFC 6750 §3)
	desc   string
	dpop   bool // answered with a DPoP challenge whatever the request's scheme
}

var (
	failNoToken = &failure{status: http.StatusUnauthorized}
	failQuery   = &failure{status: http.StatusBadRequest, code: errInvalidRequest,
		desc: "access tokens are accepted only in the Authorization header"}
	failMalformed = &failure{status: http.StatusBadRequest, code: errInvalidRequest,
		desc: "the Authorization header is malformed"}
	failInvalid = &failure{status: http.StatusUnauthorized, code: errInvalidToken,
		desc: "the access token is invalid or expired"}
	failRevoked = &failure{status: http.StatusUnauthorized, code: errInvalidToken,
		desc: "the access token has been revoked"}
	failUnknownUser = &failure{status: http.StatusUnauthorized, code: errInvalidToken,
		desc: "the access token's user no longer exists"}
	failServer = &failure{status: http.StatusInternalServerError, code: "server_error",
		desc: "the server encountered an unexpected condition"}
	failNotReady = &failure{status: http.StatusServiceUnavailable, code: "temporarily_unavailable",
		desc: "the revocation list is not loaded yet"}
	failUnavailable = &failure{status: http.StatusServiceUnavailable, code: "temporarily_unavailable",
		desc: "the service is temporarily unavailable; retry later"}
)

// challenges renders WWW-Authenticate values for one realm; they are
// computed once per failure kind and scheme, not per request.
type challenges struct {
	realm     string // already quoted
	fixed     map[*failure]string
	fixedDPoP map[*failure]string // answers to requests that used the DPoP scheme
	algs      string              // quoted, space-separated; "" when DPoP is off
	nonce     func() string       // the DPoP-Nonce of a use_dpop_nonce answer
}

// newChallenges renders the challenges of realm. dpopAlgs, when not
// empty, turns the DPoP scheme on (RFC 9449 §7.1): its challenges name
// the algorithms, and a request without credentials is offered both.
func newChallenges(realm string, dpopAlgs []string, nonce func() string) *challenges {
	ch := &challenges{realm: quote(realm), fixed: map[*failure]string{}, fixedDPoP: map[*failure]string{}, nonce: nonce}
	if len(dpopAlgs) > 0 {
		ch.algs = quote(strings.Join(dpopAlgs, " "))
	}
	for _, f := range []*failure{failNoToken, failQuery, failMalformed, failInvalid, failRevoked, failUnknownUser,
		failProof, failProofNonce, failKeyBinding, failBoundAsBearer, failNotBound} {
		ch.fixed[f] = ch.render(f, "")
		ch.fixedDPoP[f] = ch.renderScheme(schemeDPoP, f, "")
	}
	return ch
}

// render builds `Bearer realm="…"[, error="…", error_description="…"][, scope="…"]`,
// or the DPoP challenge for the failures only DPoP has.
func (ch *challenges) render(f *failure, scope string) string {
	if f.dpop {
		return ch.renderScheme(schemeDPoP, f, scope)
	}
	return ch.renderScheme(schemeBearer, f, scope)
}

// renderScheme builds the challenge of scheme; a DPoP challenge also
// names the accepted algorithms (algs="…").
func (ch *challenges) renderScheme(scheme string, f *failure, scope string) string {
	var b strings.Builder
	b.WriteString(scheme)
	b.WriteString(` realm=`)
	b.WriteString(ch.realm)
	if scheme == schemeDPoP && ch.algs != "" {
		b.WriteString(`, algs=`)
		b.WriteString(ch.algs)
	}
	if f.code != "" {
		b.WriteString(`, error=`)
		b.WriteString(quote(f.code))
		b.WriteString(`, error_description=`)
		b.WriteString(quote(f.desc))
	}
	if scope != "" {
		b.WriteString(`, scope=`)
		b.WriteString(quote(scope))
	}
	return b.String()
}

// abort ends the request with f. The body repeats the error for clients
// that do not parse WWW-Authenticate; a request without credentials gets
// none (RFC 6750 §3 says it carries no error code).
func (ch *challenges) abort(c *gin.Context, f *failure, header string) {
	if header == "" {
		header = ch.fixed[f]
		if usedDPoP(c) {
			header = ch.fixedDPoP[f]
		}
	}
	if header != "" {
		c.Header("WWW-Authenticate", header)
	}
	if f == failNoToken && ch.algs != "" {
		c.Writer.Header().Add("WWW-Authenticate", ch.fixedDPoP[f]) // RFC 9449 §7.1: both schemes are offered
	}
	if f == failProofNonce && ch.nonce != nil {
		c.Header("DPoP-Nonce", ch.nonce())
	}
	c.Header("Cache-Control", "no-store")
	if f.status == http.StatusServiceUnavailable {
		problem.SetRetryAfter(c.Writer.Header())
	}
	if f.code == "" {
		c.AbortWithStatus(f.status)
		return
	}
	c.AbortWithStatusJSON(f.status, gin.H{"error": f.code, "error_description": f.desc})
}

// quote makes an RFC 9110 §5.6.4 quoted-string.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
