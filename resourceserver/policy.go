package resourceserver

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A Requirement is what a route asks of a token beyond being valid and
// unrevoked: Audience, Scopes, ACR, MaxAge or a Check of its own.
type Requirement func(*Policy)

// Scopes requires every one of scopes in the token's scope claim; a token
// lacking one is answered 403 insufficient_scope naming them (RFC 6750
// §3.1).
func Scopes(scopes ...string) Requirement {
	return func(p *Policy) { p.scopes = append(p.scopes, scopes...) }
}

// Audience requires the token's aud to name one of audience, for a
// Verifier that accepts tokens of several resources (oauth2d's own, which
// serves the comments API, the admin API and userinfo): a token for
// another resource is answered 401 invalid_token (RFC 8707, RFC 9068 §4).
func Audience(audience ...string) Requirement {
	return func(p *Policy) { p.audience = append(p.audience, audience...) }
}

// ACR requires the token's acr claim to be one of values (RFC 9470 step
// up): otherwise 401 insufficient_user_authentication with acr_values, so
// the client can send the user to sign in again at that level. A token
// without acr does not meet it.
func ACR(values ...string) Requirement {
	return func(p *Policy) { p.acr = append(p.acr, values...) }
}

// MaxAge requires the user to have authenticated at most maxAge before
// the request (the token's auth_time, RFC 9470): otherwise 401
// insufficient_user_authentication with max_age. A token without
// auth_time does not meet it.
func MaxAge(maxAge time.Duration) Requirement {
	return func(p *Policy) { p.maxAge = maxAge }
}

// ResourceMetadata names url in the route's 401 challenges as its
// protected resource metadata (RFC 9728 §5.1), instead of
// Config.ResourceMetadataURL: for a Resource that serves several
// resources (oauth2d's own), each route names its own document.
func ResourceMetadata(url string) Requirement {
	return func(p *Policy) { p.metadataURL = url }
}

// Check runs check on every request once the token has passed the other
// requirements. Its error is answered as Resource.Reject answers it; nil
// lets the request through. oauth2d's userinfo endpoint uses one to ask
// its store whether the token was revoked a moment ago.
func Check(check func(ctx context.Context, c *Claims) error) Requirement {
	return func(p *Policy) { p.checks = append(p.checks, check) }
}

// Policy is a Resource's requirements for one route, with its challenges
// rendered once. Most callers use Resource.Require; adapters for other
// routers (package ginrs) use Authorize.
type Policy struct {
	rs          *Resource
	chal        *challenges // rs's, or rs's naming metadataURL
	metadataURL string
	audience    []string
	scopes      []string
	acr         []string
	maxAge      time.Duration
	checks      []func(context.Context, *Claims) error

	scopeHeader, scopeHeaderDPoP   string
	stepUpHeader, stepUpHeaderDPoP string
}

// Policy returns the policy of reqs.
func (rs *Resource) Policy(reqs ...Requirement) *Policy {
	p := &Policy{rs: rs}
	for _, r := range reqs {
		r(p)
	}
	p.chal = rs.chal
	if p.metadataURL != "" {
		p.chal = rs.chal.withMetadata(p.metadataURL)
	}
	scope := ""
	if len(p.scopes) > 0 {
		scope = `, scope=` + quote(strings.Join(p.scopes, " "))
	}
	p.scopeHeader = p.chal.render(failScope, scope)
	p.scopeHeaderDPoP = p.chal.renderScheme(schemeDPoP, failScope, scope)
	var stepUp string
	if len(p.acr) > 0 {
		stepUp += `, acr_values=` + quote(strings.Join(p.acr, " "))
	}
	if p.maxAge > 0 {
		stepUp += `, max_age=` + quote(strconv.FormatInt(int64(p.maxAge/time.Second), 10))
	}
	p.stepUpHeader = p.chal.render(failStepUp, stepUp)
	p.stepUpHeaderDPoP = p.chal.renderScheme(schemeDPoP, failStepUp, stepUp)
	return p
}

// Middleware lets a request through to next only when Authorize does.
func (p *Policy) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r, ok := p.Authorize(w, r); ok {
			next.ServeHTTP(w, r)
		}
	})
}

// Authorize checks r against the policy. It returns r with the claims in
// its context and true, or false once it has written the answer (401,
// 403, 400 or 503 with its challenge).
func (p *Policy) Authorize(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	rs := p.rs
	claims, ok := verifiedBy(r.Context(), rs)
	if !ok {
		var f *failure
		if claims, f = rs.authenticate(r); f != nil {
			p.chal.write(w, f, rs.usedDPoP(r), "")
			return nil, false
		}
		r = r.WithContext(context.WithValue(r.Context(), claimsKey{}, &verified{by: rs, claims: claims}))
	}
	if len(p.audience) > 0 && !slices.ContainsFunc(claims.Audience, func(aud string) bool { return slices.Contains(p.audience, aud) }) {
		p.chal.write(w, failInvalid, rs.usedDPoP(r), "")
		return nil, false
	}
	for _, s := range p.scopes {
		if !slices.Contains(claims.Scope, s) {
			p.answer(w, r, failScope, p.scopeHeader, p.scopeHeaderDPoP)
			return nil, false
		}
	}
	if !p.authenticatedEnough(claims) {
		p.answer(w, r, failStepUp, p.stepUpHeader, p.stepUpHeaderDPoP)
		return nil, false
	}
	for _, check := range p.checks {
		if err := check(r.Context(), claims); err != nil {
			f := failureFor(err)
			if f == failServer {
				rs.log.ErrorContext(r.Context(), "resourceserver: check failed", "err", err)
			}
			p.chal.write(w, f, rs.usedDPoP(r), "")
			return nil, false
		}
	}
	return r, true
}

// authenticatedEnough applies ACR and MaxAge; a claim that is absent
// fails a requirement on it.
func (p *Policy) authenticatedEnough(c *Claims) bool {
	if len(p.acr) > 0 && !slices.Contains(p.acr, c.ACR) {
		return false
	}
	if p.maxAge > 0 && (c.AuthTime.IsZero() || p.rs.now().Sub(c.AuthTime) > p.maxAge) {
		return false
	}
	return true
}

func (p *Policy) answer(w http.ResponseWriter, r *http.Request, f *failure, bearer, dpop string) {
	if p.rs.usedDPoP(r) {
		p.chal.write(w, f, true, dpop)
	} else {
		p.chal.write(w, f, false, bearer)
	}
}
