package token

import (
	"crypto/elliptic"
	"errors"
	"fmt"
	"math/big"

	"github.com/golang-jwt/jwt/v5"
)

// ECDSA signatures are malleable: if (r, s) verifies, so does (r, n-s), a
// second string for the same token that a cache keyed by the token's text,
// or a deny list of token strings, would see as another token. Our tokens
// carry only the low-S form (s <= n/2, as Bitcoin's BIP 62 and libsecp256k1
// require), and VerifyAccess refuses the other.

var errHighS = errors.New("token: ECDSA signature not in canonical low-S form")

// ecdsaOrder is the group order of the curve an ES* method signs with, or
// nil for a method that is not ECDSA.
func ecdsaOrder(m jwt.SigningMethod) *big.Int {
	switch m.Alg() {
	case jwt.SigningMethodES256.Alg():
		return elliptic.P256().Params().N
	case jwt.SigningMethodES384.Alg():
		return elliptic.P384().Params().N
	case jwt.SigningMethodES512.Alg():
		return elliptic.P521().Params().N
	}
	return nil
}

// lowS rewrites a JWS ECDSA signature (r||s, fixed width) to its low-S
// form in place; other signatures are left alone.
func lowS(m jwt.SigningMethod, sig []byte) {
	n := ecdsaOrder(m)
	if n == nil || len(sig)%2 != 0 {
		return
	}
	half := len(sig) / 2
	s := new(big.Int).SetBytes(sig[half:])
	if s.Cmp(new(big.Int).Rsh(n, 1)) > 0 {
		s.Sub(n, s).FillBytes(sig[half:])
	}
}

// checkLowS refuses an ECDSA signature whose s is above n/2.
func checkLowS(m jwt.SigningMethod, sig []byte) error {
	n := ecdsaOrder(m)
	if n == nil {
		return nil
	}
	if len(sig)%2 != 0 {
		return errHighS
	}
	s := new(big.Int).SetBytes(sig[len(sig)/2:])
	if s.Cmp(new(big.Int).Rsh(n, 1)) > 0 {
		return errHighS
	}
	return nil
}

// SignJWS signs a JWS signing input (base64url header "." base64url
// payload) with k and returns the signature in its JWS form, low-S for
// ECDSA: what VerifyAccess accepts. Tests that craft tokens with our keys
// should sign through it; jwt's own Sign yields a high-S signature half
// the time.
func (k *Key) SignJWS(signingInput string) ([]byte, error) {
	sig, err := k.method.Sign(signingInput, k.signer)
	if err != nil {
		return nil, fmt.Errorf("token: sign with %s: %w", k.id, err)
	}
	lowS(k.method, sig)
	return sig, nil
}
