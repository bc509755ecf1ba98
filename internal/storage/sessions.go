package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// BrowserSession is the server side of a browser's session cookie (the
// login state of the authorization server's own pages). It is stored under
// sha256 of the cookie value, so a copy of Redis holds no usable cookie.
type BrowserSession struct {
	// UserID is empty while the browser has not signed in: such a session
	// only carries the CSRF token of the login form.
	UserID string `json:"user_id,omitempty"`
	// AuthTime is when the user last proved their password (OIDC auth_time).
	AuthTime  time.Time `json:"auth_time"`
	CSRFToken string    `json:"csrf"`
	CreatedAt time.Time `json:"created_at"`
	LastSeen  time.Time `json:"last_seen"`
	// ExpiresAt is the absolute end of the session, however active it is.
	ExpiresAt time.Time `json:"expires_at"`
}

// AuthRequest is a validated authorization request (RFC 6749 §4.1.1) that
// waits for the user to sign in or to consent. The login and consent forms
// refer to it by ID only, so a replayed or forged form cannot change what
// is asked (scope, redirect URI, PKCE challenge): those come from here.
type AuthRequest struct {
	ID                  string   `json:"id"`
	ClientID            string   `json:"client_id"`
	RedirectURI         string   `json:"redirect_uri"`
	RedirectURIOmitted  bool     `json:"redirect_uri_omitted,omitempty"`
	RequestedScope      []string `json:"requested_scope,omitempty"` // empty: the client's default
	State               string   `json:"state,omitempty"`
	Nonce               string   `json:"nonce,omitempty"`
	CodeChallenge       string   `json:"code_challenge,omitempty"`
	CodeChallengeMethod string   `json:"code_challenge_method,omitempty"`
	Prompt              []string `json:"prompt,omitempty"`
	// MaxAge is the OIDC max_age in seconds; nil when the request had none.
	MaxAge    *int      `json:"max_age,omitempty"`
	LoginHint string    `json:"login_hint,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`

	// Set by the authorize endpoint before it asks for consent: the scope
	// that would be granted to UserID (it depends on the user's roles).
	UserID string   `json:"user_id,omitempty"`
	Scope  []string `json:"scope,omitempty"`

	// Set by the consent page: "allow" or "deny", and by whom.
	Decision  string `json:"decision,omitempty"`
	DecidedBy string `json:"decided_by,omitempty"`
}

// SessionStore keeps browser sessions.
type SessionStore interface {
	// SaveSession creates or replaces the session stored under idHash. It
	// expires after ttl, or at s.ExpiresAt if that comes first.
	SaveSession(ctx context.Context, idHash string, s *BrowserSession, ttl time.Duration) error
	GetSession(ctx context.Context, idHash string) (*BrowserSession, error) // ErrNotFound if absent or expired
	DeleteSession(ctx context.Context, idHash string) error                 // idempotent
}

// AuthRequestStore keeps pending authorization requests.
type AuthRequestStore interface {
	// SaveAuthRequest creates or replaces r (by r.ID) until r.ExpiresAt.
	SaveAuthRequest(ctx context.Context, r *AuthRequest) error
	GetAuthRequest(ctx context.Context, id string) (*AuthRequest, error) // ErrNotFound if absent or expired
	// TakeAuthRequest reads and deletes r in one step, so one request is
	// answered once however often the browser comes back.
	TakeAuthRequest(ctx context.Context, id string) (*AuthRequest, error)
}

var (
	_ SessionStore     = (*Store)(nil)
	_ AuthRequestStore = (*Store)(nil)
)

// Keys (p = prefix), each a STRING of JSON with a TTL:
//
//	p session:<sha256 of cookie>   BrowserSession
//	p authreq:<id>                 AuthRequest
func (s *Store) kSession(hash string) string   { return s.prefix + "session:" + hash }
func (s *Store) kAuthRequest(id string) string { return s.prefix + "authreq:" + id }

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
	raw, err := s.rdb.GetDel(ctx, s.kAuthRequest(id)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("storage: take authorization request: %w", err)
	}
	return s.liveAuthRequest(decode[AuthRequest](raw, "authorization request"))
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
