package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Purposes of sealed values: each is sealed with its own label, so a value
// sealed for one purpose never opens as another.
const (
	PurposeAuthRequest = "oauth2d pending authorization request v1"
	PurposeLoginForm   = "oauth2d login form v1"
	PurposeLogoutForm  = "oauth2d logout confirmation form v1"
	// PurposePasskeyCeremony seals a WebAuthn ceremony's state into its
	// page (package web, passkeys.go).
	PurposePasskeyCeremony = "oauth2d passkey ceremony v1"
)

// MaxSealedLen bounds what Open reads: a value from the browser longer than
// this is refused before it is decoded.
const MaxSealedLen = 8 << 10

// ErrUnsealable is Open's one error: the value was not sealed by this key
// for this purpose, was changed, is too long, or has expired. Callers treat
// it as "no such thing".
var ErrUnsealable = errors.New("secret: sealed value invalid or expired")

// Box seals small values that the browser keeps for the server instead of
// Redis (the pending authorization request of an anonymous visitor, the
// login form's CSRF token, the token of a sign-out confirmation shown
// without a session), so that anonymous traffic stores nothing
// (DESIGN.md §4). A sealed value is AES-256-GCM over its expiry and JSON,
// with the purpose as additional data: the browser can neither read nor
// change it, nor move it to another purpose. Every instance behind one
// load balancer must use the same key.
type Box struct {
	aead cipher.AEAD
}

// NewBox derives the box key from master (at least 32 bytes, e.g. the key
// encryption key) with HKDF-SHA256, so one secret serves several uses
// without one use's key opening another's values.
func NewBox(master []byte) (*Box, error) {
	if len(master) < 32 {
		return nil, fmt.Errorf("secret: box master key is %d bytes, want at least 32", len(master))
	}
	key, err := hkdf.Key(sha256.New, master, nil, "oauth2d browser state box v1", 32)
	if err != nil {
		return nil, fmt.Errorf("secret: box key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret: box: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret: box: %w", err)
	}
	return &Box{aead: aead}, nil
}

// NewRandomBox is a box with a fresh random key: what one process alone
// can open. For tests and a single development instance.
func NewRandomBox() *Box {
	b, err := NewBox([]byte(NewToken(32)))
	if err != nil {
		panic(err) // a 43-byte master key cannot fail
	}
	return b
}

// Seal returns v as JSON, sealed for purpose until expires, in base64url.
func (b *Box) Seal(purpose string, v any, expires time.Time) (string, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("secret: seal: %w", err)
	}
	plain := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(body)), uint64(expires.Unix()))
	plain = append(plain, body...)
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("secret: seal: %w", err)
	}
	sealed := b.aead.Seal(nonce, nonce, plain, []byte(purpose))
	out := base64.RawURLEncoding.EncodeToString(sealed)
	if len(out) > MaxSealedLen {
		return "", fmt.Errorf("secret: seal: %d bytes is more than a browser should carry", len(out))
	}
	return out, nil
}

// Open reads a value Seal made for purpose into v, or returns
// ErrUnsealable. Its cost is linear in len(sealed), which is bounded.
func (b *Box) Open(purpose, sealed string, now time.Time, v any) error {
	if len(sealed) > MaxSealedLen {
		return ErrUnsealable
	}
	raw, err := base64.RawURLEncoding.DecodeString(sealed)
	ns := b.aead.NonceSize()
	if err != nil || len(raw) < ns+8+b.aead.Overhead() {
		return ErrUnsealable
	}
	plain, err := b.aead.Open(nil, raw[:ns], raw[ns:], []byte(purpose))
	if err != nil {
		return ErrUnsealable
	}
	if int64(binary.BigEndian.Uint64(plain[:8])) <= now.Unix() {
		return ErrUnsealable
	}
	if err := json.Unmarshal(plain[8:], v); err != nil {
		return ErrUnsealable
	}
	return nil
}
