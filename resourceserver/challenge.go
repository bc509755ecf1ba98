package resourceserver

import (
	"encoding/json"
	"net/http"
	"strings"
)

// RFC 6750 §3.1 and RFC 9470 §3 error codes.
const (
	errInvalidRequest    = "invalid_request"
	errInvalidToken      = "invalid_token"
	errInsufficientScope = "insufficient_scope"
	errInsufficientAuthn = "insufficient_user_authentication"
)

// retryAfterSeconds is the Retry-After of a 503: the revocation state or
// a store is expected back within seconds.
const retryAfterSeconds = "2"

// failure is why a request was not let through. Descriptions are fixed,
// safe text: the precise reason goes to the debug log.
type failure struct {
	status int
	code   string // empty: no credentials, so no error code (RFC 6750 §3)
	desc   string
	dpop   bool   // answered with a DPoP challenge whatever the request's scheme
	body   []byte // the JSON body, rendered once
}

func newFailure(status int, code, desc string, dpop bool) *failure {
	f := &failure{status: status, code: code, desc: desc, dpop: dpop}
	if code != "" {
		f.body, _ = json.Marshal(map[string]string{"error": code, "error_description": desc})
	}
	return f
}

var (
	failNoToken     = newFailure(http.StatusUnauthorized, "", "", false)
	failQuery       = newFailure(http.StatusBadRequest, errInvalidRequest, "access tokens are accepted only in the Authorization header", false)
	failMalformed   = newFailure(http.StatusBadRequest, errInvalidRequest, "the Authorization header is malformed", false)
	failInvalid     = newFailure(http.StatusUnauthorized, errInvalidToken, "the access token is invalid or expired", false)
	failRevoked     = newFailure(http.StatusUnauthorized, errInvalidToken, "the access token has been revoked", false)
	failUnknownUser = newFailure(http.StatusUnauthorized, errInvalidToken, "the access token's user no longer exists", false)
	failServer      = newFailure(http.StatusInternalServerError, "server_error", "the server encountered an unexpected condition", false)
	failNotReady    = newFailure(http.StatusServiceUnavailable, "temporarily_unavailable", "the revocation list is not loaded yet", false)
	failUnavailable = newFailure(http.StatusServiceUnavailable, "temporarily_unavailable", "the service is temporarily unavailable; retry later", false)
	failScope       = newFailure(http.StatusForbidden, errInsufficientScope, "the access token lacks a scope this request requires", false)
	failStepUp      = newFailure(http.StatusUnauthorized, errInsufficientAuthn, "the user must authenticate again, as this request requires", false)
)

// challenges renders WWW-Authenticate values for one realm; they are
// computed once per failure kind and scheme, not per request.
type challenges struct {
	realm       string // already quoted
	metadata    string // `, resource_metadata="…"` or ""
	fixed       map[*failure]string
	fixedDPoP   map[*failure]string // answers to requests that used the DPoP scheme
	algs        string              // quoted, space-separated; "" when DPoP is off
	nonce       func() string       // the DPoP-Nonce of a use_dpop_nonce answer
	requireDPoP bool                // no Bearer challenge at all
}

// newChallenges renders the challenges of realm. dpopAlgs, when not
// empty, turns the DPoP scheme on (RFC 9449 §7.1): its challenges name
// the algorithms, and a request without credentials is offered both
// (only DPoP when requireDPoP).
func newChallenges(realm, metadataURL string, dpopAlgs []string, nonce func() string, requireDPoP bool) *challenges {
	ch := &challenges{realm: quote(realm), fixed: map[*failure]string{}, fixedDPoP: map[*failure]string{},
		nonce: nonce, requireDPoP: requireDPoP}
	if metadataURL != "" {
		ch.metadata = `, resource_metadata=` + quote(metadataURL)
	}
	if len(dpopAlgs) > 0 {
		ch.algs = quote(strings.Join(dpopAlgs, " "))
	}
	ch.renderFixed()
	return ch
}

// renderFixed renders the challenges of the failures that take no
// parameters of their own.
func (ch *challenges) renderFixed() {
	for _, f := range []*failure{failNoToken, failQuery, failMalformed, failInvalid, failRevoked, failUnknownUser,
		failProof, failProofNonce, failKeyBinding, failBoundAsBearer, failNotBound, failDPoPRequired} {
		ch.fixed[f] = ch.render(f, "")
		ch.fixedDPoP[f] = ch.renderScheme(schemeDPoP, f, "")
	}
}

// withMetadata is ch naming another resource's metadata document: for a
// Resource that serves several resources, each route names its own.
func (ch *challenges) withMetadata(metadataURL string) *challenges {
	c := *ch
	c.metadata = `, resource_metadata=` + quote(metadataURL)
	c.fixed, c.fixedDPoP = map[*failure]string{}, map[*failure]string{}
	c.renderFixed()
	return &c
}

// render builds `Bearer realm="…"[, error="…", error_description="…"]params`,
// or the DPoP challenge for the failures only DPoP has.
func (ch *challenges) render(f *failure, params string) string {
	if f.dpop || ch.requireDPoP {
		return ch.renderScheme(schemeDPoP, f, params)
	}
	return ch.renderScheme(schemeBearer, f, params)
}

// renderScheme builds the challenge of scheme; a DPoP challenge also
// names the accepted algorithms (algs="…"). params, when set, starts with
// ", ".
func (ch *challenges) renderScheme(scheme string, f *failure, params string) string {
	if f.status != http.StatusUnauthorized && f.status != http.StatusForbidden && f.status != http.StatusBadRequest {
		return "" // 5xx: not a challenge
	}
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
	b.WriteString(params)
	if f.status == http.StatusUnauthorized {
		b.WriteString(ch.metadata)
	}
	return b.String()
}

// write answers r with f. header, when set, is the challenge rendered for
// this route (a scope or step-up failure); else the fixed one. The body
// repeats the error for clients that do not parse WWW-Authenticate; a
// request without credentials gets none (RFC 6750 §3 says it carries no
// error code).
func (ch *challenges) write(w http.ResponseWriter, f *failure, usedDPoP bool, header string) {
	h := w.Header()
	if header == "" {
		header = ch.fixed[f]
		if usedDPoP {
			header = ch.fixedDPoP[f]
		}
	}
	if header != "" {
		h.Set("WWW-Authenticate", header)
	}
	if f == failNoToken && ch.algs != "" && !ch.requireDPoP {
		h.Add("WWW-Authenticate", ch.fixedDPoP[f]) // RFC 9449 §7.1: both schemes are offered
	}
	if f == failProofNonce && ch.nonce != nil {
		h.Set("DPoP-Nonce", ch.nonce())
	}
	h.Set("Cache-Control", "no-store")
	if f.status == http.StatusServiceUnavailable {
		h.Set("Retry-After", retryAfterSeconds)
	}
	if f.body == nil {
		w.WriteHeader(f.status)
		return
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(f.status)
	_, _ = w.Write(f.body)
}

// quote makes an RFC 9110 §5.6.4 quoted-string.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
