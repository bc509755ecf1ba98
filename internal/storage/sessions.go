package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// SaveSession stores the session under idHash.
func (s *Store) SaveSession(ctx context.Context, idHash string, sess *BrowserSession, ttl time.Duration) error {
	if err := checkID("session", idHash); err != nil {
		return err
	}
	if !sess.ExpiresAt.IsZero() {
		ttl = min(ttl, sess.ExpiresAt.Sub(s.now()))
	}
	if ttl <= 0 {
		return errors.New("storage: session already expired")
	}
	raw, err := encode(sess, "session")
	if err != nil {
		return err
	}
	if err := s.rdb.Set(ctx, s.kSession(idHash), raw, ttl).Err(); err != nil {
		return fmt.Errorf("storage: save session: %w", err)
	}
	return nil
}

// GetSession returns the session or ErrNotFound. A record past its
// ExpiresAt is not found even if Redis still holds it (clock skew).
func (s *Store) GetSession(ctx context.Context, idHash string) (*BrowserSession, error) {
	sess, err := getStringRecord[BrowserSession](ctx, s.rdb, s.kSession(idHash), "session")
	if err != nil {
		return nil, err
	}
	if !sess.ExpiresAt.IsZero() && !s.now().Before(sess.ExpiresAt) {
		return nil, ErrNotFound
	}
	return sess, nil
}

// GetSessions reads the sessions under idHashes in one pipeline (they
// live in different slots); nil for each that is gone or expired.
func (s *Store) GetSessions(ctx context.Context, idHashes []string) ([]*BrowserSession, error) {
	cmds := make([]*redis.StringCmd, len(idHashes))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, h := range idHashes {
			cmds[i] = p.Get(ctx, s.kSession(h))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("storage: get sessions: %w", err)
	}
	out := make([]*BrowserSession, len(idHashes))
	now := s.now()
	for i, c := range cmds {
		raw, err := c.Result()
		if err != nil {
			continue // redis.Nil: gone
		}
		sess, err := decode[BrowserSession](raw, "session")
		if err != nil {
			return nil, err
		}
		if sess.ExpiresAt.IsZero() || now.Before(sess.ExpiresAt) {
			out[i] = sess
		}
	}
	return out, nil
}

// DeleteSession forgets the session; deleting a missing one is no error.
func (s *Store) DeleteSession(ctx context.Context, idHash string) error {
	if err := s.rdb.Del(ctx, s.kSession(idHash)).Err(); err != nil {
		return fmt.Errorf("storage: delete session: %w", err)
	}
	return nil
}

// SaveAuthRequest stores r until r.ExpiresAt.
func (s *Store) SaveAuthRequest(ctx context.Context, r *AuthRequest) error {
	if err := checkID("authorization request", r.ID); err != nil {
		return err
	}
	ttl := r.ExpiresAt.Sub(s.now())
	if ttl <= 0 {
		return errors.New("storage: authorization request already expired")
	}
	raw, err := encode(r, "authorization request")
	if err != nil {
		return err
	}
	if err := s.rdb.Set(ctx, s.kAuthRequest(r.ID), raw, ttl).Err(); err != nil {
		return fmt.Errorf("storage: save authorization request: %w", err)
	}
	return nil
}

// GetAuthRequest returns the pending request or ErrNotFound.
func (s *Store) GetAuthRequest(ctx context.Context, id string) (*AuthRequest, error) {
	if checkID("authorization request", id) != nil {
		return nil, ErrNotFound
	}
	return s.liveAuthRequest(getStringRecord[AuthRequest](ctx, s.rdb, s.kAuthRequest(id), "authorization request"))
}

// TakeAuthRequest returns the pending request and deletes it (GETDEL), or
// ErrNotFound if it is gone: of two concurrent takers only one gets it.
func (s *Store) TakeAuthRequest(ctx context.Context, id string) (*AuthRequest, error) {
	if checkID("authorization request", id) != nil {
		return nil, ErrNotFound
	}
	return s.takeAuthRequest(ctx, s.kAuthRequest(id), "authorization request")
}

// takeAuthRequest reads and deletes the AuthRequest at key (GETDEL);
// ErrNotFound if it is gone or expired. Never re-sent (redelivery.go): a
// second GETDEL would find nothing.
func (s *Store) takeAuthRequest(ctx context.Context, key, what string) (*AuthRequest, error) {
	rdb, err := s.noResend(ctx, key)
	if err != nil {
		return nil, err
	}
	raw, err := rdb.GetDel(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("storage: take %s: %w", what, classify(err))
	}
	return s.liveAuthRequest(decode[AuthRequest](raw, what))
}

func (s *Store) liveAuthRequest(r *AuthRequest, err error) (*AuthRequest, error) {
	if err != nil {
		return nil, err
	}
	if !s.now().Before(r.ExpiresAt) {
		return nil, ErrNotFound
	}
	return r, nil
}

// getStringRecord reads one JSON record from a STRING key; ErrNotFound if absent.
func getStringRecord[T any](ctx context.Context, rdb redis.UniversalClient, key, what string) (*T, error) {
	raw, err := rdb.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("storage: get %s: %w", what, err)
	}
	return decode[T](raw, what)
}
