package token

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/oauth2d/oauth2d/internal/storage"
)

// DefaultReloadInterval is how often StoreSource.Run re-reads the keys, so
// a rotation made elsewhere (the CLI, another instance) reaches every
// instance well within RotationLeeway.
const DefaultReloadInterval = 30 * time.Second

// StoreSource keeps a KeySet in step with the keys in a storage.KeyStore.
type StoreSource struct {
	set    *KeySet
	store  storage.KeyStore
	enc    []byte
	logger *slog.Logger
	now    func() time.Time

	mu     sync.Mutex            // serialises reloads
	parsed map[string]parsedKey  // kid → decrypted key, so a reload decrypts only new keys
	stored []*storage.SigningKey // the records of the last good reload, for Restore
}

// parsedKey remembers the material a key was decrypted from: changed
// material under a known kid is decrypted (and checked) again.
type parsedKey struct {
	material []byte
	key      *Key
}

// NewStoreSource returns a source that fills set from store, decrypting
// key material with enc (EncryptionKeySize bytes). Call Reload once at
// start-up, then Run.
func NewStoreSource(set *KeySet, store storage.KeyStore, enc []byte, logger *slog.Logger, now func() time.Time) (*StoreSource, error) {
	if len(enc) != EncryptionKeySize {
		return nil, fmt.Errorf("token: encryption key is %d bytes, want %d", len(enc), EncryptionKeySize)
	}
	return &StoreSource{set: set, store: store, enc: enc, logger: logger, now: now, parsed: map[string]parsedKey{}}, nil
}

// Reload reads the stored keys and replaces the set. On any error (store
// down, a key that does not decrypt, no active key) the set keeps its
// current keys and the error is returned.
func (s *StoreSource) Reload(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	stored, err := s.store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("token: list keys: %w", err)
	}
	now := s.now()
	entries := make([]KeyEntry, 0, len(stored))
	parsed := make(map[string]parsedKey, len(stored))
	for _, sk := range stored {
		if sk.State == string(StateRetired) && !sk.NotAfter.IsZero() && !sk.NotAfter.After(now) {
			continue // expired; Rotate deletes it
		}
		cached := s.parsed[sk.ID]
		k := cached.key
		if k == nil || k.Algorithm() != sk.Algorithm || !bytes.Equal(cached.material, sk.Material) {
			if k, err = decryptKey(s.enc, sk); err != nil {
				return err
			}
		}
		parsed[sk.ID] = parsedKey{material: sk.Material, key: k}
		entries = append(entries, KeyEntry{
			Key: k, State: KeyState(sk.State), CreatedAt: sk.CreatedAt,
			ActivatedAt: sk.ActivatedAt, NotAfter: sk.NotAfter,
		})
	}
	if err := s.set.Replace(entries, now); err != nil {
		return err
	}
	s.parsed = parsed
	s.stored = stored
	return nil
}

// Restore puts back every key of the last good reload that the store no
// longer has, and returns how many it put back: after Redis lost its data,
// the instances still hold the shared keys in memory, and writing them
// back (the same records from every instance, so concurrent restores
// agree) keeps every token signed before valid. With nothing loaded yet
// it restores nothing; EnsureKeys then makes new keys.
func (s *StoreSource) Restore(ctx context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	have, err := s.store.ListSigningKeys(ctx)
	if err != nil {
		return 0, fmt.Errorf("token: list keys: %w", err)
	}
	n := 0
	for _, sk := range s.stored {
		if slices.ContainsFunc(have, func(h *storage.SigningKey) bool { return h.ID == sk.ID }) {
			continue
		}
		if err := s.store.PutSigningKey(ctx, sk); err != nil {
			return n, fmt.Errorf("token: restore key %s: %w", sk.ID, err)
		}
		n++
	}
	return n, nil
}

// Run reloads every interval (DefaultReloadInterval if interval <= 0)
// until ctx ends. A failed reload is logged and the last good keys stay in
// use.
func (s *StoreSource) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultReloadInterval
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			if err := s.Reload(ctx); err != nil && !errors.Is(err, context.Canceled) {
				s.logger.Error("token: reload signing keys failed; keeping the current keys", "err", err)
			}
		}
	}
}
