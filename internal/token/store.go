package token

import (
	"cmp"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/oauth2d/oauth2d/internal/storage"
)

// EncryptionKeySize is the size in bytes of the AES-256 key that encrypts
// signing keys at rest (OAUTH2D_KEY_ENCRYPTION_KEY, base64).
const EncryptionKeySize = 32

// RotationLeeway is added to a retired key's NotAfter beyond the longest
// token lifetime. It covers instances that keep signing with the old key
// until their next reload (StoreSource.Run's interval must be well below
// it) and clock skew between instances and resource servers.
const RotationLeeway = 5 * time.Minute

// ErrKeyDecrypt is returned when stored key material does not decrypt:
// the encryption key is wrong or the material was altered.
var ErrKeyDecrypt = errors.New("token: cannot decrypt signing key (wrong OAUTH2D_KEY_ENCRYPTION_KEY, or the stored key was altered)")

// sealedVersion prefixes the material so the format can change later.
const sealedVersion = 1

// ParseEncryptionKey decodes a base64 (standard or URL alphabet, padded
// or not) encryption key and checks it is EncryptionKeySize bytes.
func ParseEncryptionKey(s string) ([]byte, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(s); err == nil {
			if len(key) != EncryptionKeySize {
				return nil, fmt.Errorf("token: encryption key is %d bytes, want %d", len(key), EncryptionKeySize)
			}
			return key, nil
		}
	}
	return nil, errors.New("token: encryption key is not valid base64")
}

func newAEAD(enc []byte) (cipher.AEAD, error) {
	if len(enc) != EncryptionKeySize {
		return nil, fmt.Errorf("token: encryption key is %d bytes, want %d", len(enc), EncryptionKeySize)
	}
	block, err := aes.NewCipher(enc)
	if err != nil {
		return nil, fmt.Errorf("token: encryption key: %w", err)
	}
	return cipher.NewGCM(block)
}

// sealKey encrypts DER with AES-256-GCM; the kid is the additional data,
// so material copied onto another key's record does not decrypt.
func sealKey(enc []byte, kid string, der []byte) ([]byte, error) {
	aead, err := newAEAD(enc)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(der)+aead.Overhead())
	out[0] = sealedVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("token: nonce: %w", err)
	}
	return aead.Seal(out, out[1:], der, []byte(kid)), nil
}

func openKey(enc []byte, kid string, material []byte) ([]byte, error) {
	aead, err := newAEAD(enc)
	if err != nil {
		return nil, err
	}
	if len(material) < 1+aead.NonceSize() || material[0] != sealedVersion {
		return nil, fmt.Errorf("%w: key %s: unknown format", ErrKeyDecrypt, kid)
	}
	nonce, sealed := material[1:1+aead.NonceSize()], material[1+aead.NonceSize():]
	der, err := aead.Open(nil, nonce, sealed, []byte(kid))
	if err != nil {
		return nil, fmt.Errorf("%w: key %s", ErrKeyDecrypt, kid)
	}
	return der, nil
}

// decryptKey turns a stored record into a Key and checks the material is
// the key the record names.
func decryptKey(enc []byte, sk *storage.SigningKey) (*Key, error) {
	der, err := openKey(enc, sk.ID, sk.Material)
	if err != nil {
		return nil, err
	}
	k, err := ParsePKCS8(der, sk.Algorithm)
	if err != nil {
		return nil, fmt.Errorf("token: stored key %s: %w", sk.ID, err)
	}
	if k.ID() != sk.ID {
		return nil, fmt.Errorf("token: stored key %s holds key %s", sk.ID, k.ID())
	}
	return k, nil
}

func newStoredKey(enc []byte, alg string, state KeyState, now time.Time) (*storage.SigningKey, error) {
	k, err := GenerateKey(alg)
	if err != nil {
		return nil, err
	}
	der, err := k.MarshalPKCS8()
	if err != nil {
		return nil, err
	}
	material, err := sealKey(enc, k.ID(), der)
	if err != nil {
		return nil, err
	}
	sk := &storage.SigningKey{ID: k.ID(), Algorithm: alg, State: string(state), Material: material, CreatedAt: now}
	if state == StateActive {
		sk.ActivatedAt = now
	}
	return sk, nil
}

// KeyInfo describes a stored key without its material (`keys list`).
type KeyInfo struct {
	ID          string    `json:"kid"`
	Algorithm   string    `json:"alg"`
	State       KeyState  `json:"state"`
	CreatedAt   time.Time `json:"created_at"`
	ActivatedAt time.Time `json:"activated_at,omitzero"`
	RetiredAt   time.Time `json:"retired_at,omitzero"`
	NotAfter    time.Time `json:"not_after,omitzero"`
}

// List returns the stored keys, oldest first, without decrypting them.
func List(ctx context.Context, store storage.KeyStore) ([]KeyInfo, error) {
	keys, err := store.ListSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("token: list keys: %w", err)
	}
	infos := make([]KeyInfo, 0, len(keys))
	for _, k := range keys {
		infos = append(infos, KeyInfo{
			ID: k.ID, Algorithm: k.Algorithm, State: KeyState(k.State), CreatedAt: k.CreatedAt,
			ActivatedAt: k.ActivatedAt, RetiredAt: k.RetiredAt, NotAfter: k.NotAfter,
		})
	}
	return infos, nil
}

// Rotate rotates the keys of one algorithm in store:
//   - the newest "next" key becomes active (it has been published since
//     the previous rotation, so verifiers caching the JWKS know it);
//   - every other active or next key of alg is retired with NotAfter =
//     now + maxTokenLifetime + RotationLeeway (it may still sign until
//     each instance reloads, and its tokens must verify until they expire);
//   - a fresh "next" key is generated and published for the next rotation;
//   - retired keys (of any algorithm) past their NotAfter are deleted.
//
// With no key of alg at all this creates an active and a next key. With no
// next key, a fresh key is activated at once: it was not pre-published, so
// verifiers that cache the JWKS may reject its tokens until they refresh.
// Records are written new-next, then active, then retired, so a crash
// half-way leaves a usable set. Rotate is not safe to run concurrently
// with itself; run it from one place (the `keys rotate` command).
func Rotate(ctx context.Context, store storage.KeyStore, enc []byte, alg string, maxTokenLifetime time.Duration, now time.Time) ([]KeyInfo, error) {
	all, err := store.ListSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("token: list keys: %w", err)
	}
	records, err := rotation(enc, all, alg, maxTokenLifetime, now)
	if err != nil {
		return nil, err
	}
	for _, k := range records {
		if err := store.PutSigningKey(ctx, k); err != nil {
			return nil, fmt.Errorf("token: store key: %w", err)
		}
	}
	if err := deleteExpired(ctx, store, all, now); err != nil {
		return nil, err
	}
	return List(ctx, store)
}

// rotation returns the records that rotate alg's keys in all (see Rotate),
// in the order they are to be written.
func rotation(enc []byte, all []*storage.SigningKey, alg string, maxTokenLifetime time.Duration, now time.Time) ([]*storage.SigningKey, error) {
	if maxTokenLifetime <= 0 {
		return nil, errors.New("token: rotate: max token lifetime must be positive")
	}
	promote, err := pickNext(enc, all, alg)
	if err != nil {
		return nil, err
	}
	fresh, err := newStoredKey(enc, alg, StateNext, now)
	if err != nil {
		return nil, err
	}
	if promote == nil {
		if promote, err = newStoredKey(enc, alg, StateNext, now); err != nil {
			return nil, err
		}
	}
	promoted := *promote
	promoted.State, promoted.ActivatedAt = string(StateActive), now
	records := []*storage.SigningKey{fresh, &promoted}
	notAfter := now.Add(maxTokenLifetime + RotationLeeway)
	for _, k := range all {
		if k.Algorithm != alg || k.ID == promoted.ID || k.State == string(StateRetired) {
			continue
		}
		retired := *k
		retired.State, retired.RetiredAt, retired.NotAfter = string(StateRetired), now, notAfter
		records = append(records, &retired)
	}
	return records, nil
}

// pickNext returns the newest next key of alg (nil if none) after checking
// that enc decrypts it: a rotation under the wrong encryption key would
// leave keys that no instance can read.
func pickNext(enc []byte, all []*storage.SigningKey, alg string) (*storage.SigningKey, error) {
	var newest *storage.SigningKey
	for _, k := range all {
		if k.Algorithm != alg || k.State != string(StateNext) {
			continue
		}
		if newest == nil || cmp.Or(k.CreatedAt.Compare(newest.CreatedAt), strings.Compare(k.ID, newest.ID)) > 0 {
			newest = k
		}
	}
	if newest != nil {
		if _, err := decryptKey(enc, newest); err != nil {
			return nil, err
		}
	}
	return newest, nil
}

func deleteExpired(ctx context.Context, store storage.KeyStore, all []*storage.SigningKey, now time.Time) error {
	for _, k := range all {
		if k.State == string(StateRetired) && !k.NotAfter.IsZero() && !k.NotAfter.After(now) {
			if err := store.DeleteSigningKey(ctx, k.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("token: delete expired key %s: %w", k.ID, err)
			}
		}
	}
	return nil
}

// EnsureKeys makes store ready to serve: for each algorithm without an
// active key it rotates (creating active and next keys), and it adds a
// next key where one is missing. Start-up calls it with the set's
// SigningAlgorithms; it changes nothing when the keys are in place.
//
// Each of these is one decision in the store (PutSigningKeysUnless):
// instances that start at the same moment each propose keys, the first
// proposal is stored, and the others keep theirs to themselves, so every
// instance then loads, signs with and publishes the same keys.
func EnsureKeys(ctx context.Context, store storage.KeyStore, enc []byte, algs []string, maxTokenLifetime time.Duration, now time.Time) error {
	all, err := store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("token: list keys: %w", err)
	}
	for _, alg := range algs {
		has := func(state KeyState) bool {
			return slices.ContainsFunc(all, func(k *storage.SigningKey) bool {
				return k.Algorithm == alg && k.State == string(state)
			})
		}
		switch {
		case !has(StateActive):
			records, err := rotation(enc, all, alg, maxTokenLifetime, now)
			if err != nil {
				return err
			}
			stored, err := store.PutSigningKeysUnless(ctx, alg, string(StateActive), records...)
			if err != nil {
				return fmt.Errorf("token: store keys: %w", err)
			}
			if stored {
				if err := deleteExpired(ctx, store, all, now); err != nil {
					return err
				}
			}
		case !has(StateNext):
			next, err := newStoredKey(enc, alg, StateNext, now)
			if err != nil {
				return err
			}
			if _, err := store.PutSigningKeysUnless(ctx, alg, string(StateNext), next); err != nil {
				return fmt.Errorf("token: store key: %w", err)
			}
		}
	}
	return nil
}
