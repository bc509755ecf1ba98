package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// Store is what Apply needs from storage.
type Store interface {
	GetClient(ctx context.Context, id string) (*storage.Client, error)
	UpsertClient(ctx context.Context, c *storage.Client) error
	GetUserByUsername(ctx context.Context, username string) (*storage.User, error)
	UpsertUser(ctx context.Context, u *storage.User) error
}

// Hasher hashes secrets and passwords; *secret.Hasher is one.
type Hasher interface {
	Hash(s string) (string, error)
	Verify(hash, s string) (bool, error)
}

var _ Hasher = (*secret.Hasher)(nil)

// Applier upserts a bootstrap file into storage. It remembers the ID of
// every user it wrote or found, so that applying the file again after
// Redis lost its data recreates each user under the same ID: the tokens
// issued to them before stay theirs, and instances healing at once write
// the same records.
type Applier struct {
	store  Store
	hasher Hasher
	logger *slog.Logger
	now    func() time.Time

	mu  sync.Mutex
	ids map[string]string // username → user ID
}

// NewApplier returns an Applier writing to store.
func NewApplier(store Store, hasher Hasher, logger *slog.Logger, now func() time.Time) *Applier {
	return &Applier{store: store, hasher: hasher, logger: logger, now: now, ids: map[string]string{}}
}

func (a *Applier) knownID(username string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ids[username]
}

func (a *Applier) remember(username, id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ids[username] = id
}

// Result counts what Apply did.
type Result struct {
	Created, Updated, Unchanged int
}

// Apply validates f and upserts its clients and users. Running it again
// with the same file writes nothing: a stored hash that still verifies
// against the clear secret is kept (hashes are salted, so re-hashing would
// change them needlessly), and a user keeps its ID.
func (a *Applier) Apply(ctx context.Context, f *File, p account.Policy) (Result, error) {
	var res Result
	if err := f.Validate(p); err != nil {
		return res, err
	}
	for _, c := range f.Clients {
		outcome, err := a.applyClient(ctx, c)
		if err != nil {
			return res, err
		}
		res.count(outcome)
	}
	for _, u := range f.Users {
		outcome, err := a.applyUser(ctx, u)
		if err != nil {
			return res, err
		}
		res.count(outcome)
	}
	a.logger.Info("bootstrap applied", "created", res.Created, "updated", res.Updated, "unchanged", res.Unchanged)
	return res, nil
}

type outcome int

const (
	unchanged outcome = iota
	created
	updated
)

func (r *Result) count(o outcome) {
	switch o {
	case created:
		r.Created++
	case updated:
		r.Updated++
	default:
		r.Unchanged++
	}
}

func (a *Applier) applyClient(ctx context.Context, c Client) (outcome, error) {
	want := c.record()
	old, err := a.store.GetClient(ctx, c.ID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		old = nil
	case err != nil:
		return 0, fmt.Errorf("bootstrap: client %q: %w", c.ID, err)
	}
	oldHash := ""
	if old != nil {
		oldHash = old.SecretHash
	}
	if want.SecretHash, err = a.keepOrHash(c.Secret, oldHash); err != nil {
		return 0, fmt.Errorf("bootstrap: client %q: %w", c.ID, err)
	}
	now := a.now().UTC()
	want.CreatedAt, want.UpdatedAt = now, now
	result := created
	if old != nil {
		if sameClient(old, &want) {
			return unchanged, nil
		}
		want.CreatedAt, result = old.CreatedAt, updated
	}
	if err := a.store.UpsertClient(ctx, &want); err != nil {
		return 0, fmt.Errorf("bootstrap: client %q: %w", c.ID, err)
	}
	a.logger.Info("bootstrap client", "client_id", c.ID, "created", result == created)
	return result, nil
}

func (a *Applier) applyUser(ctx context.Context, u User) (outcome, error) {
	want := u.record()
	old, err := a.store.GetUserByUsername(ctx, u.Username)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		old = nil
	case err != nil:
		return 0, fmt.Errorf("bootstrap: user %q: %w", u.Username, err)
	}
	oldHash := ""
	if old != nil {
		oldHash = old.PasswordHash
	}
	if want.PasswordHash, err = a.keepOrHash(u.Password, oldHash); err != nil {
		return 0, fmt.Errorf("bootstrap: user %q: %w", u.Username, err)
	}
	now := a.now().UTC()
	// A new user gets its ID from storage, or the one it had before Redis
	// lost it; an existing one keeps its own.
	want.ID = a.knownID(u.Username)
	want.CreatedAt, want.UpdatedAt = now, now
	result := created
	if old != nil {
		a.remember(u.Username, old.ID)
		if sameUser(old, &want) {
			return unchanged, nil
		}
		want.ID, want.CreatedAt, result = old.ID, old.CreatedAt, updated
	}
	if err := a.store.UpsertUser(ctx, &want); err != nil {
		return 0, fmt.Errorf("bootstrap: user %q: %w", u.Username, err)
	}
	a.remember(u.Username, want.ID)
	a.logger.Info("bootstrap user", "username", u.Username, "created", result == created)
	return result, nil
}

// keepOrHash returns oldHash when it verifies clear, else a fresh hash ("" for
// an empty clear secret).
func (a *Applier) keepOrHash(clear, oldHash string) (string, error) {
	if clear == "" {
		return "", nil
	}
	if oldHash != "" {
		// A malformed old hash is simply replaced.
		if ok, err := a.hasher.Verify(oldHash, clear); err == nil && ok {
			return oldHash, nil
		}
	}
	return a.hasher.Hash(clear)
}

func sameClient(a, b *storage.Client) bool {
	return a.Name == b.Name && a.SecretHash == b.SecretHash && a.Public == b.Public &&
		a.FirstParty == b.FirstParty &&
		slices.Equal(a.RedirectURIs, b.RedirectURIs) &&
		slices.Equal(a.PostLogoutRedirectURIs, b.PostLogoutRedirectURIs) &&
		slices.Equal(a.GrantTypes, b.GrantTypes) &&
		slices.Equal(a.Scopes, b.Scopes) &&
		a.ClientURI == b.ClientURI &&
		a.BackchannelLogoutURI == b.BackchannelLogoutURI &&
		a.BackchannelLogoutSessionRequired == b.BackchannelLogoutSessionRequired &&
		a.DPoPBoundAccessTokens == b.DPoPBoundAccessTokens &&
		a.RequirePushedAuthorizationRequests == b.RequirePushedAuthorizationRequests
}

func sameUser(a, b *storage.User) bool {
	return a.PasswordHash == b.PasswordHash && slices.Equal(a.Roles, b.Roles) &&
		a.Name == b.Name && a.Email == b.Email && a.EmailVerified == b.EmailVerified
}
