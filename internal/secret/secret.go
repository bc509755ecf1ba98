package secret

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Params are argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes over memory
	Threads uint8  // lanes
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultParams returns the production parameters: the OWASP minimum for
// argon2id (19 MiB, 2 passes) spread over 2 lanes. On the 2-core
// development machine one hash costs ~20-40 ms wall time (~45-80 ms with
// 1 lane), which is cheap for a login yet makes offline guessing of a
// leaked hash expensive. Memory, not time, is what hurts GPU attackers; it
// also bounds concurrency: every verification in flight holds 19 MiB, so
// the caller rate-limits the password endpoints.
func DefaultParams() Params {
	return Params{Memory: 19 * 1024, Time: 2, Threads: 2, SaltLen: 16, KeyLen: 32}
}

// Limits on parameters read back from a stored hash, so an imported or
// tampered record cannot make one Verify allocate gigabytes.
const (
	maxMemory  = 256 * 1024 // KiB
	maxTime    = 16
	maxThreads = 16
	maxKeyLen  = 128
)

// ErrMalformed is returned by Verify for a hash it cannot parse.
var ErrMalformed = errors.New("secret: malformed hash")

// Hasher hashes and verifies secrets with fixed argon2id parameters.
type Hasher struct {
	p Params
}

// NewHasher returns a Hasher using p (tests pass cheap parameters).
func NewHasher(p Params) *Hasher {
	return &Hasher{p: p}
}

// Hash returns an argon2id PHC string for secret:
// $argon2id$v=19$m=<KiB>,t=<time>,p=<threads>$<salt>$<hash> (base64, no padding).
func (h *Hasher) Hash(secret string) (string, error) {
	if secret == "" {
		return "", errors.New("secret: empty secret")
	}
	salt := make([]byte, h.p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("secret: salt: %w", err)
	}
	key := argon2.IDKey([]byte(secret), salt, h.p.Time, h.p.Memory, h.p.Threads, h.p.KeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, h.p.Memory, h.p.Time, h.p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether secret matches hash (argon2id or bcrypt). A
// mismatch is (false, nil); an unparsable hash is an error wrapping
// ErrMalformed. The comparison is constant-time.
func (h *Hasher) Verify(hash, secret string) (bool, error) {
	switch {
	case strings.HasPrefix(hash, "$argon2id$"):
		p, salt, key, err := parseArgon2id(hash)
		if err != nil {
			return false, err
		}
		got := argon2.IDKey([]byte(secret), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
		return subtle.ConstantTimeCompare(got, key) == 1, nil
	case isBcrypt(hash):
		err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(secret))
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword), errors.Is(err, bcrypt.ErrPasswordTooLong):
			return false, nil
		default:
			return false, fmt.Errorf("%w: bcrypt: %v", ErrMalformed, err)
		}
	default:
		return false, fmt.Errorf("%w: unknown scheme", ErrMalformed)
	}
}

// NeedsRehash reports whether hash should be replaced by h.Hash of the same
// secret after a successful Verify: it is bcrypt, or argon2id with other
// parameters than h's.
func (h *Hasher) NeedsRehash(hash string) bool {
	p, _, key, err := parseArgon2id(hash)
	if err != nil {
		return true
	}
	return p.Memory != h.p.Memory || p.Time != h.p.Time || p.Threads != h.p.Threads ||
		uint32(len(key)) != h.p.KeyLen
}

func isBcrypt(hash string) bool {
	for _, p := range []string{"$2a$", "$2b$", "$2y$"} {
		if strings.HasPrefix(hash, p) {
			return true
		}
	}
	return false
}

func parseArgon2id(hash string) (Params, []byte, []byte, error) {
	var p Params
	parts := strings.Split(hash, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(parts) != 6 || parts[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("%w: not argon2id", ErrMalformed)
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, nil, nil, fmt.Errorf("%w: argon2 version %q", ErrMalformed, parts[2])
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return p, nil, nil, fmt.Errorf("%w: argon2 parameters %q", ErrMalformed, parts[3])
	}
	if p.Memory == 0 || p.Memory > maxMemory || p.Time == 0 || p.Time > maxTime ||
		p.Threads == 0 || p.Threads > maxThreads {
		return p, nil, nil, fmt.Errorf("%w: argon2 parameters out of range %q", ErrMalformed, parts[3])
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return p, nil, nil, fmt.Errorf("%w: salt", ErrMalformed)
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > maxKeyLen {
		return p, nil, nil, fmt.Errorf("%w: key", ErrMalformed)
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}

// Hash hashes secret with DefaultParams.
func Hash(secret string) (string, error) {
	return NewHasher(DefaultParams()).Hash(secret)
}

// Verify checks secret against hash; the cost comes from the hash itself.
func Verify(hash, secret string) (bool, error) {
	return NewHasher(DefaultParams()).Verify(hash, secret)
}

// NewToken returns nbytes of crypto/rand randomness, base64url without
// padding. Use at least 32 bytes (256 bits) for anything that grants access.
func NewToken(nbytes int) string {
	b := make([]byte, nbytes)
	// crypto/rand.Read never fails on supported platforms (Go 1.24+: it
	// crashes the program rather than return weak bytes).
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// SHA256 returns the lowercase hex SHA-256 of s: the at-rest form of
// authorization codes and refresh tokens (high-entropy, so no salt or
// stretching is needed).
func SHA256(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
