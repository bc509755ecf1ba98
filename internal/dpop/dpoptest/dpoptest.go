// Package dpoptest makes DPoP proofs (RFC 9449 §4.2) for tests, with
// go-jose, as a client library would, and lets a test bend any part of
// one to play an attacker.
package dpoptest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Key is a client's DPoP key pair.
type Key struct {
	Private crypto.Signer
	Alg     jose.SignatureAlgorithm
	JWK     jose.JSONWebKey // the public key
}

// NewKey returns a fresh P-256 key (ES256).
func NewKey(t testing.TB) *Key {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &Key{Private: priv, Alg: jose.ES256, JWK: jose.JSONWebKey{Key: priv.Public(), Algorithm: "ES256"}}
}

// Thumbprint is the key's RFC 7638 SHA-256 thumbprint, base64url (cnf.jkt).
func (k *Key) Thumbprint(t testing.TB) string {
	t.Helper()
	sum, err := k.JWK.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(sum)
}

// Claims are a proof's claims. Zero fields are filled by Proof: a random
// jti and iat = now.
type Claims struct {
	JTI   string `json:"jti"`
	HTM   string `json:"htm"`
	HTU   string `json:"htu"`
	IAT   int64  `json:"iat"`
	ATH   string `json:"ath,omitempty"`
	Nonce string `json:"nonce,omitempty"`
}

// For returns the claims of a proof for method and url.
func For(method, url string) Claims { return Claims{HTM: method, HTU: url} }

// WithToken sets ath to the hash of accessToken.
func (c Claims) WithToken(accessToken string) Claims { c.ATH = ATH(accessToken); return c }

// WithNonce sets the nonce.
func (c Claims) WithNonce(nonce string) Claims { c.Nonce = nonce; return c }

// At sets iat.
func (c Claims) At(iat time.Time) Claims { c.IAT = iat.Unix(); return c }

// ATH is the ath of an access token: base64url(SHA-256(token)).
func ATH(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Proof signs c with k, typ dpop+jwt and k's public jwk in the header.
func (k *Key) Proof(t testing.TB, c Claims) string {
	t.Helper()
	if c.JTI == "" {
		c.JTI = rand.Text()
	}
	if c.IAT == 0 {
		c.IAT = time.Now().Unix()
	}
	return k.sign(t, c)
}

// SignClaims signs arbitrary claims with k under an honest header, for
// claims of the wrong type or missing ones, which Claims cannot express.
func (k *Key) SignClaims(t testing.TB, claims map[string]any) string {
	t.Helper()
	return k.sign(t, claims)
}

// sign signs the JSON of claims with k, typ dpop+jwt and k's public jwk
// in the header.
func (k *Key) sign(t testing.TB, claims any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.Alg, Key: k.Private},
		(&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// Header is the JOSE header an honest client sends with k, as a map a
// test can bend before SignHeader.
func (k *Key) Header(t testing.TB) map[string]any {
	t.Helper()
	pub, err := json.Marshal(k.JWK)
	if err != nil {
		t.Fatal(err)
	}
	var jwk map[string]any
	if err := json.Unmarshal(pub, &jwk); err != nil {
		t.Fatal(err)
	}
	return map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}
}

// SignHeader signs c under header with k's P-256 key (an ES256
// signature whatever the header says).
func (k *Key) SignHeader(t testing.TB, header map[string]any, c Claims) string {
	t.Helper()
	if c.JTI == "" {
		c.JTI = rand.Text()
	}
	if c.IAT == 0 {
		c.IAT = time.Now().Unix()
	}
	unsigned := Raw(t, header, c, nil)
	unsigned = unsigned[:len(unsigned)-1] // drop the "." of the empty signature
	sum := sha256.Sum256([]byte(unsigned))
	r, s, err := ecdsa.Sign(rand.Reader, k.Private.(*ecdsa.PrivateKey), sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return unsigned + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// Raw assembles a JWS from a header and claims of the caller's choosing
// and an arbitrary signature, for proofs no honest library would make.
func Raw(t testing.TB, header map[string]any, c Claims, signature []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	p, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(h) + "." + enc.EncodeToString(p) + "." + enc.EncodeToString(signature)
}
