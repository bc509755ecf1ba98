package resource

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/dpop"
	"github.com/oauth2d/oauth2d/internal/problem"
	"github.com/oauth2d/oauth2d/internal/token"
)

// The authorization schemes this package accepts.
const (
	schemeBearer = "Bearer"
	schemeDPoP   = "DPoP"
)

// ProofVerifier checks DPoP proofs; *dpop.Verifier is one.
type ProofVerifier interface {
	Verify(ctx context.Context, raw string, req dpop.Request) (*dpop.Proof, error)
	Algorithms() []string
	Nonce() string
}

var _ ProofVerifier = (*dpop.Verifier)(nil)

// RFC 9449 §7 failures. A bound token is always answered with a DPoP
// challenge, so that a client that sent it as a bearer token learns which
// scheme to use.
var (
	failProof = &failure{status: http.StatusUnauthorized, code: "invalid_dpop_proof", dpop: true,
		desc: "the DPoP proof is missing, invalid or was used before"}
	failProofNonce = &failure{status: http.StatusUnauthorized, code: "use_dpop_nonce", dpop: true,
		desc: "the DPoP proof must carry the nonce of the DPoP-Nonce header"}
	failKeyBinding = &failure{status: http.StatusUnauthorized, code: errInvalidToken, dpop: true,
		desc: "the DPoP proof is not signed by the key the access token is bound to"}
	failBoundAsBearer = &failure{status: http.StatusUnauthorized, code: errInvalidToken, dpop: true,
		desc: "the access token is DPoP-bound: send it with the DPoP scheme and a proof"}
	failNotBound = &failure{status: http.StatusUnauthorized, code: errInvalidToken, dpop: true,
		desc: "the access token is not DPoP-bound: send it with the Bearer scheme"}
)

// checkBinding applies RFC 9449 §7 to a verified token: a bound token
// (cnf.jkt) comes only with the DPoP scheme and a fresh proof by its key
// for this request and this token (ath); a bearer token never comes with
// the DPoP scheme. key is the token's SHA-256 (its cache key), which is
// what ath is checked against.
func (a *Authenticator) checkBinding(r *http.Request, key cacheKey, scheme string, claims *token.AccessClaims) *failure {
	if scheme == schemeBearer {
		if claims.JKT != "" {
			return failBoundAsBearer
		}
		return nil
	}
	if claims.JKT == "" {
		return failNotBound
	}
	proofJWT, err := dpop.FromHeader(r.Header)
	if err != nil || proofJWT == "" {
		return failProof
	}
	ath := key // a copy here, so that a bearer request does not put key on the heap
	proof, err := a.dpop.Verify(r.Context(), proofJWT, dpop.Request{Method: r.Method, URL: a.baseURL + r.URL.EscapedPath(), AccessTokenHash: ath[:]})
	switch {
	case errors.Is(err, dpop.ErrUseNonce):
		return failProofNonce
	case errors.Is(err, dpop.ErrInvalidProof):
		a.log.DebugContext(r.Context(), "resource: DPoP proof rejected", "err", err)
		return failProof
	case problem.Unavailable(err):
		a.log.WarnContext(r.Context(), "resource: DPoP replay check: storage unavailable", "err", err)
		return failUnavailable
	case err != nil:
		a.log.ErrorContext(r.Context(), "resource: DPoP replay check", "err", err)
		return failServer
	case proof.Thumbprint != claims.JKT:
		return failKeyBinding
	}
	return nil
}

type dpopSchemeKey struct{}

// markScheme remembers that the request uses the DPoP scheme, so that
// every answer to it is a DPoP challenge.
func (a *Authenticator) markScheme(c *gin.Context) {
	if a.dpop == nil {
		return
	}
	scheme, _, _ := strings.Cut(c.Request.Header.Get("Authorization"), " ")
	if strings.EqualFold(scheme, schemeDPoP) {
		c.Set(dpopSchemeKey{}, true)
	}
}

func usedDPoP(c *gin.Context) bool {
	v, _ := c.Get(dpopSchemeKey{})
	b, _ := v.(bool)
	return b
}
