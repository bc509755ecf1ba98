package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/oauth2d/oauth2d/internal/secret"
)

// MaxProofTTL bounds how long RecordProof remembers a DPoP proof: proofs
// are accepted for seconds or minutes, never for hours, so a larger ttl is
// a caller's bug, refused rather than allowed to fill Redis.
const MaxProofTTL = time.Hour

// RecordProof remembers a DPoP proof id (RFC 9449 §11.1) for ttl and
// reports whether it was new. One SET NX: of concurrent calls with the
// same id on any instance, exactly one sees true, and a retry of a call
// whose answer was lost sees false (the proof is then refused, which
// costs the client one fresh proof and never admits a replay). The id is
// hashed before it becomes part of a key.
func (s *Store) RecordProof(ctx context.Context, id string, ttl time.Duration) (bool, error) {
	if id == "" || ttl <= 0 || ttl > MaxProofTTL {
		return false, errors.New("storage: a proof needs an id and a ttl of at most an hour")
	}
	// Never re-sent (redelivery.go): a second SET NX would call the proof a replay.
	key := s.kProof(secret.SHA256(id))
	rdb, err := s.noResend(ctx, key)
	if err != nil {
		return false, err
	}
	ok, err := rdb.SetNX(ctx, key, "1", ttl).Result()
	if err != nil {
		return false, fmt.Errorf("storage: record proof: %w", classify(err))
	}
	return ok, nil
}

// MaxAssertionTTL bounds how long RecordAssertion remembers a client
// assertion: the token endpoint refuses assertions that live longer than
// minutes, so more is a caller's bug.
const MaxAssertionTTL = time.Hour

// RecordAssertion remembers a client assertion's jti (RFC 7523 §3: the
// server may ensure a JWT is not replayed) for ttl and reports whether it
// was new. As RecordProof: one SET NX under a hash of client and jti,
// never re-sent, so of concurrent calls on any instance exactly one sees
// true. Only assertions whose signature verified are recorded, so only a
// client holding its key can make these keys.
func (s *Store) RecordAssertion(ctx context.Context, clientID, jti string, ttl time.Duration) (bool, error) {
	if clientID == "" || jti == "" || ttl <= 0 || ttl > MaxAssertionTTL {
		return false, errors.New("storage: an assertion needs a client, a jti and a ttl of at most an hour")
	}
	key := s.kAssertion(secret.SHA256(clientID + "\x00" + jti))
	rdb, err := s.noResend(ctx, key)
	if err != nil {
		return false, err
	}
	ok, err := rdb.SetNX(ctx, key, "1", ttl).Result()
	if err != nil {
		return false, fmt.Errorf("storage: record assertion: %w", classify(err))
	}
	return ok, nil
}
