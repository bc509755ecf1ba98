package secret

import (
	"crypto/rand"
	"strings"
)

// User codes of the device authorization grant (RFC 8628 §6.1): eight
// characters of a base-20 alphabet without vowels (no words can be
// spelled) or look-alike letters, shown as XXXX-XXXX. That is 20^8, about
// 2^34.6, codes: enough only because wrong entries spend a per-address
// budget and a code lives minutes.
const (
	UserCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"
	UserCodeLen      = 8
	// maxUserCodeInput bounds what NormalizeUserCode looks at: a code
	// with its dash and a few spaces.
	maxUserCodeInput = 32
)

// NewUserCode draws a user code, uniformly over the alphabet, in its
// canonical form (NormalizeUserCode's: no dash).
func NewUserCode() string {
	var out [UserCodeLen]byte
	var buf [1]byte
	for i := 0; i < UserCodeLen; {
		_, _ = rand.Read(buf[:]) // never fails (crypto/rand)
		// 240 = 12 × 20: reject the top 16 values so every letter is as
		// likely as any other.
		if buf[0] >= 240 {
			continue
		}
		out[i] = UserCodeAlphabet[buf[0]%20]
		i++
	}
	return string(out[:])
}

// NormalizeUserCode reads what a person typed: case, dashes and spaces do
// not matter (RFC 8628 §6.1). It returns the canonical code and true, or
// false when the input cannot be one of ours.
func NormalizeUserCode(in string) (string, bool) {
	if len(in) > maxUserCodeInput {
		return "", false
	}
	var b strings.Builder
	for _, r := range strings.ToUpper(in) {
		switch {
		case r == '-' || r == ' ':
		case r < 128 && strings.IndexByte(UserCodeAlphabet, byte(r)) >= 0:
			b.WriteRune(r)
		default:
			return "", false
		}
	}
	if b.Len() != UserCodeLen {
		return "", false
	}
	return b.String(), true
}

// FormatUserCode shows a canonical user code as XXXX-XXXX.
func FormatUserCode(code string) string {
	if len(code) != UserCodeLen {
		return code
	}
	return code[:4] + "-" + code[4:]
}
