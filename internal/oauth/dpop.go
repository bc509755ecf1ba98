package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"

	"github.com/oauth2d/oauth2d/internal/dpop"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// TokenTypeDPoP is the token_type of a DPoP-bound access token (RFC 9449
// §5); bearer tokens keep "Bearer".
const TokenTypeDPoP = "DPoP"

// RFC 9449 §5 and §8 errors of the token endpoint.
var (
	ErrInvalidDPoPProof = &Error{Code: "invalid_dpop_proof", Status: http.StatusBadRequest,
		Description: "the DPoP proof is missing, invalid, or was used before"}
	ErrUseDPoPNonce = &Error{Code: "use_dpop_nonce", Status: http.StatusBadRequest,
		Description: "the DPoP proof must carry the nonce of the DPoP-Nonce header"}
)

// ProofVerifier checks DPoP proofs; *dpop.Verifier is one.
type ProofVerifier interface {
	Verify(ctx context.Context, raw string, req dpop.Request) (*dpop.Proof, error)
	Nonce() string
	Algorithms() []string
}

var _ ProofVerifier = (*dpop.Verifier)(nil)

type proofKeyKey struct{}

// proofKey is the thumbprint of the DPoP key the token request proved,
// "" for a bearer request. Every grant binds what it issues to it.
func proofKey(ctx context.Context) string {
	jkt, _ := ctx.Value(proofKeyKey{}).(string)
	return jkt
}

// tokenProof checks the DPoP proof of a token request from client (RFC
// 9449 §4.3, §5) and returns the context the grant runs in, which names
// the proven key. A client registered with dpop_bound_access_tokens (or
// any public client when DPoPRequiredForPublic is set) must send one.
// When nonces are on, every answer to a request with a proof carries the
// next nonce.
//
// A public client's proof first spends one unit of publicBudget (nil: no
// limit): verifying it records its jti in Redis, and a public client is
// anyone who knows its id, so without the budget an anonymous caller
// could have one record stored per request (DESIGN §4). A confidential
// client was authenticated before this runs and is not counted.
func (h *Handler) tokenProof(w http.ResponseWriter, r *http.Request, client *storage.Client, publicBudget AddressBudget) (context.Context, *Error) {
	ctx := r.Context()
	if h.dpop == nil {
		return ctx, nil // DPoP off: the header is ignored (RFC 9449 §5)
	}
	raw, err := dpop.FromHeader(r.Header)
	if err != nil {
		return ctx, ErrInvalidDPoPProof.Wrap(err)
	}
	if raw == "" {
		if client.DPoPBoundAccessTokens || client.Public && h.cfg.DPoPRequiredForPublic {
			return ctx, ErrInvalidDPoPProof.WithDescription("this client must send a DPoP proof")
		}
		return ctx, nil
	}
	if nonce := h.dpop.Nonce(); nonce != "" {
		w.Header().Set(dpop.NonceHeader, nonce)
	}
	if client.Public {
		if err := spend(r, publicBudget); err != nil {
			return ctx, err
		}
	}
	proof, err := h.dpop.Verify(ctx, raw, dpop.Request{Method: r.Method, URL: h.cfg.Issuer + r.URL.Path})
	switch {
	case errors.Is(err, dpop.ErrUseNonce):
		return ctx, ErrUseDPoPNonce
	case errors.Is(err, dpop.ErrInvalidProof):
		return ctx, ErrInvalidDPoPProof.Wrap(err)
	case err != nil:
		return ctx, ErrServerError.Wrap(err)
	}
	return context.WithValue(ctx, proofKeyKey{}, proof.Thumbprint), nil
}

// checkCodeBinding enforces dpop_jkt (RFC 9449 §10): a code bound to a key
// is redeemed only with a proof by that key.
func checkCodeBinding(ctx context.Context, ac *storage.AuthCode) *Error {
	if ac.DPoPJKT != "" && ac.DPoPJKT != proofKey(ctx) {
		return ErrInvalidGrant.WithDescription("the authorization code is bound to another DPoP key")
	}
	return nil
}

// thumbprintPattern is a base64url SHA-256: what dpop_jkt must look like.
var thumbprintPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// checkDPoPJKT reads the dpop_jkt authorization request parameter (RFC
// 9449 §10) into req.
func checkDPoPJKT(v url.Values, req *storage.AuthRequest) *Error {
	jkt := v.Get("dpop_jkt")
	if jkt != "" && !thumbprintPattern.MatchString(jkt) {
		return ErrInvalidRequest.WithDescription("dpop_jkt must be a base64url SHA-256 JWK thumbprint")
	}
	req.DPoPJKT = jkt
	return nil
}

// cnf is the confirmation member of an introspection answer (RFC 9449
// §6.2).
type cnf struct {
	JKT string `json:"jkt"`
}

// AddDPoP advertises DPoP (RFC 9449 §5.1): the proof algorithms the token
// endpoint and the protected resources accept.
func (m *Metadata) AddDPoP(algorithms []string) {
	m.DPoPSigningAlgValuesSupported = algorithms
}
