package dpop

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// MinNonceSecret is the least length of the secret nonces are made with.
const MinNonceSecret = 32

// Nonces makes and checks server nonces (RFC 9449 §8, §9) without storing
// anything: a nonce is base64url(step || HMAC-SHA256(secret, step)[:16]),
// where step counts Lifetime-long periods since the Unix epoch. A nonce is
// accepted during its own step and the next one (and one step early, for
// instances whose clocks differ a little), so a client holding the nonce
// of the last response never fails for timing alone, and every nonce dies
// within two lifetimes. Instances that share the secret accept each
// other's nonces. It is safe for concurrent use.
type Nonces struct {
	key      []byte
	lifetime time.Duration
	now      func() time.Time
}

// NewNonces returns Nonces keyed by secret (at least MinNonceSecret bytes,
// the same on every instance) that rotate every lifetime (at least a
// second).
func NewNonces(secret []byte, lifetime time.Duration, now func() time.Time) (*Nonces, error) {
	if len(secret) < MinNonceSecret {
		return nil, errors.New("dpop: the nonce secret must be at least 32 bytes")
	}
	if lifetime < time.Second || now == nil {
		return nil, errors.New("dpop: nonces need a lifetime of a second or more and a clock")
	}
	return &Nonces{key: append([]byte(nil), secret...), lifetime: lifetime, now: now}, nil
}

// Current is the nonce to send in a DPoP-Nonce header now.
func (n *Nonces) Current() string { return n.make(n.step()) }

// Valid reports whether s is a nonce of the current step, the previous
// one or the next one.
func (n *Nonces) Valid(s string) bool {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(raw) != 8+16 {
		return false
	}
	step := int64(binary.BigEndian.Uint64(raw[:8]))
	if d := n.step() - step; d < -1 || d > 1 {
		return false
	}
	return hmac.Equal(raw[8:], n.mac(step))
}

func (n *Nonces) step() int64 { return n.now().UnixNano() / int64(n.lifetime) }

func (n *Nonces) make(step int64) string {
	buf := make([]byte, 8, 8+16)
	binary.BigEndian.PutUint64(buf, uint64(step))
	return base64.RawURLEncoding.EncodeToString(append(buf, n.mac(step)...))
}

func (n *Nonces) mac(step int64) []byte {
	m := hmac.New(sha256.New, n.key)
	m.Write([]byte("oauth2d dpop nonce v1"))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(step))
	m.Write(b[:])
	return m.Sum(nil)[:16]
}
