package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/oauth2d/oauth2d/internal/config"
)

// Signing algorithms. They are defined once, in config, which validates
// the configured algorithm without importing this package; these names
// let callers of token say token.AlgES256. Nothing else is accepted
// anywhere in this package: no "none", no HMAC.
const (
	AlgES256 = config.AlgES256
	AlgRS256 = config.AlgRS256
	AlgPS256 = config.AlgPS256
	AlgEdDSA = config.AlgEdDSA
)

// RSA key sizes in bits. Below MinRSABits is refused (RFC 7518 §3.3).
const (
	MinRSABits     = 2048
	DefaultRSABits = 3072
)

// Algorithms lists the supported signing algorithms
// (config.SigningAlgorithms).
func Algorithms() []string { return config.SigningAlgorithms() }

// ErrUnsupportedAlgorithm is returned for an algorithm outside Algorithms
// or a key that does not fit the algorithm.
var ErrUnsupportedAlgorithm = errors.New("token: unsupported signing algorithm")

// Key is one parsed signing key. It is immutable and safe for concurrent
// use. Its ID is the RFC 7638 thumbprint of the public key.
type Key struct {
	id     string
	alg    string
	signer crypto.Signer
	public crypto.PublicKey
	method jwt.SigningMethod
	jwk    jose.JSONWebKey // public key only, with kid, alg and use "sig"
	// Precomputed base64url JOSE headers: the header never changes for a
	// key, so it is not marshalled per token.
	atHeader string // typ at+jwt
	idHeader string // typ JWT
	loHeader string // typ logout+jwt
	tiHeader string // typ token-introspection+jwt
}

// ID returns the key id (kid): the base64url RFC 7638 SHA-256 thumbprint.
func (k *Key) ID() string { return k.id }

// Algorithm returns the JWS alg the key signs with.
func (k *Key) Algorithm() string { return k.alg }

// Signer returns the private key.
func (k *Key) Signer() crypto.Signer { return k.signer }

// Public returns the public key (*ecdsa.PublicKey, *rsa.PublicKey or
// ed25519.PublicKey).
func (k *Key) Public() crypto.PublicKey { return k.public }

// GenerateKey creates a fresh key for alg; RSA keys get DefaultRSABits.
func GenerateKey(alg string) (*Key, error) {
	return GenerateRSAKey(alg, DefaultRSABits)
}

// GenerateRSAKey is GenerateKey with an explicit RSA modulus size
// (at least MinRSABits); rsaBits is ignored for ES256 and EdDSA.
func GenerateRSAKey(alg string, rsaBits int) (*Key, error) {
	var (
		signer crypto.Signer
		err    error
	)
	switch alg {
	case AlgES256:
		signer, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case AlgRS256, AlgPS256:
		if rsaBits < MinRSABits {
			return nil, errRSATooSmall(rsaBits)
		}
		signer, err = rsa.GenerateKey(rand.Reader, rsaBits)
	case AlgEdDSA:
		_, signer, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedAlgorithm, alg)
	}
	if err != nil {
		return nil, fmt.Errorf("token: generate %s key: %w", alg, err)
	}
	return NewKey(signer, alg)
}

// NewKey wraps a private key. alg may be empty to infer it from the key
// type: P-256 → ES256, RSA → RS256, Ed25519 → EdDSA. A key that does not
// fit alg (wrong curve, RSA below MinRSABits) is refused.
func NewKey(signer crypto.Signer, alg string) (*Key, error) {
	if alg == "" {
		alg = inferAlgorithm(signer)
	}
	if err := checkKeyFits(signer, alg); err != nil {
		return nil, err
	}
	k := &Key{alg: alg, signer: signer, public: signer.Public(), method: jwt.GetSigningMethod(alg)}
	id, err := keyID(k.public)
	if err != nil {
		return nil, err
	}
	k.id = id
	k.jwk = jose.JSONWebKey{Key: k.public, KeyID: id, Algorithm: alg, Use: "sig"}
	k.atHeader = encodeHeader(alg, k.id, "at+jwt")
	k.idHeader = encodeHeader(alg, k.id, "JWT")
	k.loHeader = encodeHeader(alg, k.id, LogoutTokenType)
	k.tiHeader = encodeHeader(alg, k.id, IntrospectionTokenType)
	return k, nil
}

func inferAlgorithm(signer crypto.Signer) string {
	switch signer.(type) {
	case *ecdsa.PrivateKey:
		return AlgES256
	case *rsa.PrivateKey:
		return AlgRS256
	case ed25519.PrivateKey:
		return AlgEdDSA
	}
	return ""
}

func checkKeyFits(signer crypto.Signer, alg string) error {
	switch key := signer.(type) {
	case *ecdsa.PrivateKey:
		if alg == AlgES256 && key.Curve == elliptic.P256() {
			return nil
		}
	case *rsa.PrivateKey:
		if alg == AlgRS256 || alg == AlgPS256 {
			if bits := key.N.BitLen(); bits < MinRSABits {
				return errRSATooSmall(bits)
			}
			return nil
		}
	case ed25519.PrivateKey:
		if alg == AlgEdDSA {
			return nil
		}
	}
	return fmt.Errorf("%w: %q with a %T key", ErrUnsupportedAlgorithm, alg, signer)
}

func errRSATooSmall(bits int) error {
	return fmt.Errorf("token: RSA key of %d bits is below the minimum %d", bits, MinRSABits)
}

// ParsePEM parses one PEM private key: PKCS#8 ("PRIVATE KEY"), SEC 1
// ("EC PRIVATE KEY") or PKCS#1 ("RSA PRIVATE KEY"). alg may be empty to
// infer it (see NewKey).
func ParsePEM(data []byte, alg string) (*Key, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("token: no PEM block found")
	}
	var (
		parsed any
		err    error
	)
	switch block.Type {
	case "PRIVATE KEY":
		parsed, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		parsed, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		parsed, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("token: unsupported PEM block %q (want PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY)", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("token: parse %s: %w", block.Type, err)
	}
	return newKeyFromParsed(parsed, alg)
}

// ParsePKCS8 parses a DER PKCS#8 private key (the form kept in storage).
func ParsePKCS8(der []byte, alg string) (*Key, error) {
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("token: parse PKCS#8: %w", err)
	}
	return newKeyFromParsed(parsed, alg)
}

func newKeyFromParsed(parsed any, alg string) (*Key, error) {
	signer, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: %T is not a signing key", ErrUnsupportedAlgorithm, parsed)
	}
	return NewKey(signer, alg)
}

// MarshalPKCS8 returns the private key as DER PKCS#8.
func (k *Key) MarshalPKCS8() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.signer)
	if err != nil {
		return nil, fmt.Errorf("token: marshal key %s: %w", k.id, err)
	}
	return der, nil
}

// MarshalPEM returns the private key as a PKCS#8 "PRIVATE KEY" PEM block,
// the format LoadDir reads.
func (k *Key) MarshalPEM() ([]byte, error) {
	der, err := k.MarshalPKCS8()
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// keyID is the RFC 7638 SHA-256 thumbprint of the public key, base64url
// without padding: derived from the key alone, so every instance names a
// key alike without agreeing on anything.
func keyID(pub crypto.PublicKey) (string, error) {
	sum, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("token: thumbprint of a %T key: %w", pub, err)
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}

func encodeHeader(alg, kid, typ string) string {
	raw, _ := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{alg, kid, typ}) // strings only: cannot fail
	return base64.RawURLEncoding.EncodeToString(raw)
}
