package clientkeys

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/go-jose/go-jose/v4"
)

// Bounds of a client's key set, inline or fetched: it is read on the
// token endpoint's path, so neither its size nor its key count may grow
// a request's work without limit.
const (
	MaxSetBytes = 32 << 10
	MaxKeys     = 16
	minRSABits  = 2048
	maxRSABits  = 8192
)

// Algorithms are the JWS algorithms a client assertion may be signed
// with, in the order discovery lists them. Never "none" and never an
// HMAC: the key set is public, so an HMAC "signed" with it proves nothing.
var Algorithms = []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256, jose.ES384, jose.EdDSA}

// AlgorithmNames are Algorithms as strings, for discovery.
func AlgorithmNames() []string {
	out := make([]string, len(Algorithms))
	for i, a := range Algorithms {
		out[i] = string(a)
	}
	return out
}

// ErrInvalidSet wraps every refusal of a key set.
var ErrInvalidSet = errors.New("clientkeys: invalid JWK Set")

// ParseSet reads a JWK Set (RFC 7517 §5) and checks every key in it:
// size first, then at most MaxKeys keys, each a public signing key of a
// supported kind whose alg, if named, is one it can verify, and no two
// with the same kid.
func ParseSet(raw []byte) (*jose.JSONWebKeySet, error) {
	if len(raw) > MaxSetBytes {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrInvalidSet, MaxSetBytes)
	}
	var outer struct {
		Keys []json.RawMessage `json:"keys"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&outer); err != nil || outer.Keys == nil {
		return nil, fmt.Errorf("%w: not a JSON object with a \"keys\" array", ErrInvalidSet)
	}
	if len(outer.Keys) == 0 || len(outer.Keys) > MaxKeys {
		return nil, fmt.Errorf("%w: must hold 1 to %d keys", ErrInvalidSet, MaxKeys)
	}
	set := &jose.JSONWebKeySet{}
	for i, rawKey := range outer.Keys {
		var key jose.JSONWebKey
		if err := key.UnmarshalJSON(rawKey); err != nil {
			return nil, fmt.Errorf("%w: key %d: %v", ErrInvalidSet, i, err)
		}
		if err := checkKey(&key); err != nil {
			return nil, fmt.Errorf("%w: key %d: %v", ErrInvalidSet, i, err)
		}
		if key.KeyID != "" && slices.ContainsFunc(set.Keys, func(k jose.JSONWebKey) bool { return k.KeyID == key.KeyID }) {
			return nil, fmt.Errorf("%w: kid %q is used twice", ErrInvalidSet, key.KeyID)
		}
		set.Keys = append(set.Keys, key)
	}
	return set, nil
}

func checkKey(k *jose.JSONWebKey) error {
	if !k.IsPublic() {
		return errors.New("holds a private or symmetric key; register the public key only")
	}
	if k.Use != "" && k.Use != "sig" {
		return fmt.Errorf("use %q: a client authentication key must be for signing", k.Use)
	}
	switch pub := k.Key.(type) {
	case *rsa.PublicKey:
		if bits := pub.N.BitLen(); bits < minRSABits || bits > maxRSABits {
			return fmt.Errorf("an RSA key of %d bits: %d to %d are accepted", bits, minRSABits, maxRSABits)
		}
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() && pub.Curve != elliptic.P384() {
			return errors.New("an EC key must be on P-256 or P-384")
		}
	case ed25519.PublicKey:
	default:
		return fmt.Errorf("key type %T is not accepted (RSA, EC P-256/P-384, Ed25519)", k.Key)
	}
	if k.Algorithm != "" && !Verifies(k, jose.SignatureAlgorithm(k.Algorithm)) {
		return fmt.Errorf("alg %q is not one this key can sign client assertions with (%v)", k.Algorithm, Algorithms)
	}
	return nil
}

// Verifies reports whether k may verify a signature made with alg: alg is
// allowed, fits the key's type (and curve), and is the key's own alg if
// the key names one (RFC 7517 §4.4), so that one RSA key registered for
// PS256 is not also taken for RS256.
func Verifies(k *jose.JSONWebKey, alg jose.SignatureAlgorithm) bool {
	if !slices.Contains(Algorithms, alg) || k.Algorithm != "" && k.Algorithm != string(alg) {
		return false
	}
	switch pub := k.Key.(type) {
	case *rsa.PublicKey:
		return alg == jose.RS256 || alg == jose.PS256
	case *ecdsa.PublicKey:
		return pub.Curve == elliptic.P256() && alg == jose.ES256 || pub.Curve == elliptic.P384() && alg == jose.ES384
	case ed25519.PublicKey:
		return alg == jose.EdDSA
	}
	return false
}

// Candidates are the keys of set that may verify a signature with alg
// and key id kid: the key of that id, or, when the signer named none,
// every key that fits alg (a set of one key needs no kid).
func Candidates(set *jose.JSONWebKeySet, kid string, alg jose.SignatureAlgorithm) []*jose.JSONWebKey {
	var out []*jose.JSONWebKey
	for i := range set.Keys {
		k := &set.Keys[i]
		if (kid == "" || k.KeyID == kid) && Verifies(k, alg) {
			out = append(out, k)
		}
	}
	return out
}

// HasKeyID reports whether set holds a key with id kid.
func HasKeyID(set *jose.JSONWebKeySet, kid string) bool {
	return slices.ContainsFunc(set.Keys, func(k jose.JSONWebKey) bool { return k.KeyID == kid })
}
