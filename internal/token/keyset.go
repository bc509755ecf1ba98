package token

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// KeyState is where a key is in its life (storage.SigningKey.State).
type KeyState string

// Key states. Only active keys sign; all three are published in the JWKS
// and accepted by the Verifier, so a token signed by a key that another
// instance has already promoted to active verifies here too.
const (
	StateNext    KeyState = "next"    // published ahead of use, does not sign yet
	StateActive  KeyState = "active"  // signs new tokens
	StateRetired KeyState = "retired" // no longer signs; published until NotAfter
)

// ErrNoActiveKey is returned when the set has no active key for an
// algorithm it must sign with.
var ErrNoActiveKey = errors.New("token: no active signing key")

// KeyEntry is a key with its state, as handed to KeySet.Replace.
type KeyEntry struct {
	Key   *Key
	State KeyState
	// CreatedAt and ActivatedAt order keys: if two keys of one algorithm
	// are active (a rotation seen half-way), the most recently activated
	// signs, on every instance alike.
	CreatedAt   time.Time
	ActivatedAt time.Time
	// NotAfter ends a retired key's publication; zero means no end.
	NotAfter time.Time
}

// KeySet is the set of keys an instance signs and verifies with. It is
// safe for concurrent use: readers see an immutable snapshot that Replace
// swaps atomically, so signing and verifying never take a lock.
type KeySet struct {
	accessAlg string
	idAlg     string
	snap      atomic.Pointer[keySnapshot]
}

type keySnapshot struct {
	entries []KeyEntry
	signers map[string]*Key // alg → the active key that signs
	byKID   map[string]*Key // every published key
	jwks    []byte
}

// NewKeySet returns an empty set that signs access tokens with accessAlg
// and ID tokens with idTokenAlg (OIDC Core §3.1.3.7 expects RS256 unless
// the client registered otherwise). It holds no keys until Replace.
func NewKeySet(accessAlg, idTokenAlg string) (*KeySet, error) {
	for _, alg := range []string{accessAlg, idTokenAlg} {
		if !slices.Contains(Algorithms(), alg) {
			return nil, fmt.Errorf("%w: %q", ErrUnsupportedAlgorithm, alg)
		}
	}
	s := &KeySet{accessAlg: accessAlg, idAlg: idTokenAlg}
	s.snap.Store(&keySnapshot{jwks: []byte(`{"keys":[]}`)})
	return s, nil
}

// AccessAlgorithm is the alg access tokens are signed with.
func (s *KeySet) AccessAlgorithm() string { return s.accessAlg }

// IDTokenAlgorithm is the alg ID tokens are signed with (discovery's
// id_token_signing_alg_values_supported).
func (s *KeySet) IDTokenAlgorithm() string { return s.idAlg }

// SigningAlgorithms lists the distinct algorithms the set signs with.
func (s *KeySet) SigningAlgorithms() []string {
	if s.accessAlg == s.idAlg {
		return []string{s.accessAlg}
	}
	return []string{s.accessAlg, s.idAlg}
}

// Replace installs a new set of keys. Retired keys whose NotAfter is not
// after now are dropped. It fails, leaving the current keys in place, if
// a kid repeats or an algorithm the set signs with has no active key.
func (s *KeySet) Replace(entries []KeyEntry, now time.Time) error {
	next := &keySnapshot{
		signers: make(map[string]*Key, 2),
		byKID:   make(map[string]*Key, len(entries)),
	}
	for _, e := range entries {
		if e.Key == nil {
			return errors.New("token: key entry without a key")
		}
		if stateRank(e.State) == 2 && e.State != StateRetired {
			return fmt.Errorf("token: key %s has unknown state %q", e.Key.ID(), e.State)
		}
		if e.State == StateRetired && !e.NotAfter.IsZero() && !e.NotAfter.After(now) {
			continue
		}
		if _, dup := next.byKID[e.Key.ID()]; dup {
			return fmt.Errorf("token: key %s appears twice", e.Key.ID())
		}
		next.byKID[e.Key.ID()] = e.Key
		next.entries = append(next.entries, e)
	}
	slices.SortFunc(next.entries, compareEntries)
	for _, alg := range s.SigningAlgorithms() {
		for _, e := range next.entries { // sorted: the first active one wins
			if e.State == StateActive && e.Key.Algorithm() == alg {
				next.signers[alg] = e.Key
				break
			}
		}
		if next.signers[alg] == nil {
			return fmt.Errorf("%w for %s", ErrNoActiveKey, alg)
		}
	}
	jwks, err := marshalJWKS(next.entries)
	if err != nil {
		return err
	}
	next.jwks = jwks
	s.snap.Store(next)
	return nil
}

// compareEntries orders active before next before retired, then the most
// recently activated and created first, then by kid so the order (and the
// JWKS bytes) are the same on every instance.
func compareEntries(a, b KeyEntry) int {
	if c := cmp.Compare(stateRank(a.State), stateRank(b.State)); c != 0 {
		return c
	}
	if c := b.ActivatedAt.Compare(a.ActivatedAt); c != 0 {
		return c
	}
	if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
		return c
	}
	return cmp.Compare(a.Key.ID(), b.Key.ID())
}

func stateRank(s KeyState) int {
	switch s {
	case StateActive:
		return 0
	case StateNext:
		return 1
	}
	return 2
}

func marshalJWKS(entries []KeyEntry) ([]byte, error) {
	// Non-nil so that an empty set reads {"keys":[]}, not {"keys":null}.
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(entries))}
	for _, e := range entries {
		set.Keys = append(set.Keys, e.Key.jwk)
	}
	raw, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("token: marshal JWKS: %w", err)
	}
	return raw, nil
}

// JWKS returns the RFC 7517 JWK Set of every published key (next, active,
// retired until NotAfter): public members only, with kid, alg and use. The
// bytes are computed by Replace and shared: callers must not modify them.
func (s *KeySet) JWKS() []byte { return s.snap.Load().jwks }

// Active returns the key that signs for alg.
func (s *KeySet) Active(alg string) (*Key, error) {
	if k := s.snap.Load().signers[alg]; k != nil {
		return k, nil
	}
	return nil, fmt.Errorf("%w for %s", ErrNoActiveKey, alg)
}

// Lookup returns the published key with this kid. It implements KeyLookup.
func (s *KeySet) Lookup(kid string) (*Key, bool) {
	k, ok := s.snap.Load().byKID[kid]
	return k, ok
}

// Entries returns the published keys in JWKS order.
func (s *KeySet) Entries() []KeyEntry { return slices.Clone(s.snap.Load().entries) }

var _ KeyLookup = (*KeySet)(nil)
