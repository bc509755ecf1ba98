package oauth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"strings"

	"github.com/oauth2d/oauth2d/internal/secret"
)

// A refresh token is "<family id>.<secret>": the family id in clear finds
// the family's record in one lookup, the 256-bit secret proves possession.
// Only sha256 of the whole token is stored (DESIGN.md §4).
func newRefreshToken(familyID string) string {
	return familyID + "." + secret.NewToken(32)
}

// refreshFamilyID returns the family id of a well-formed refresh token.
func refreshFamilyID(raw string) (string, bool) {
	family, sec, ok := strings.Cut(raw, ".")
	if !ok || family == "" || len(sec) < 43 || len(raw) > 256 || strings.ContainsAny(sec, ".") {
		return "", false
	}
	return family, true
}

// sealForGrace encrypts the successor refresh token under a key derived
// from the token that was presented. During the grace window only a holder
// of that token can read its successor back; the stored record alone does
// not reveal it.
func sealForGrace(presented, successor string) ([]byte, error) {
	aead, err := graceAEAD(presented)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, []byte(successor), nil), nil
}

func openForGrace(presented string, sealed []byte) (string, error) {
	aead, err := graceAEAD(presented)
	if err != nil {
		return "", err
	}
	if len(sealed) < aead.NonceSize() {
		return "", errors.New("oauth: sealed successor too short")
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], nil)
	if err != nil {
		return "", err
	}
	return string(plain), nil
}

func graceAEAD(presented string) (cipher.AEAD, error) {
	m := hmac.New(sha256.New, []byte(presented))
	m.Write([]byte("oauth2d refresh grace v1"))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
