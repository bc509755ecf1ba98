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
	UpdateUser(ctx context.Context, u *storage.User) error
	GetResource(ctx context.Context, id string) (*storage.Resource, error)
	UpsertResource(ctx context.Context, r *storage.Resource) error
	UpdateResource(ctx context.Context, r *storage.Resource) error
	storage.BootstrapStore
}

var _ Store = (*storage.Store)(nil)

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

// Result counts what Apply did. Released counts the records an earlier
// file declared and this one no longer does.
type Result struct {
	Created, Updated, Unchanged, Released int
}

// Apply validates f and upserts its clients, users and resources, each marked
// storage.ManagedByBootstrap: the file owns them, and the admin API and
// the CLI refuse to change or delete them. A record of the same client id
// or username made through the admin API or the CLI is taken over (and
// the takeover logged): the operator who wrote the file said what it is.
// A record an earlier file declared and f does not is released: left as
// it is, but no longer marked, so that an administrator may change or
// delete it.
//
// Running it again with the same file writes nothing: a stored hash that
// still verifies against the clear secret is kept (hashes are salted, so
// re-hashing would change them needlessly), and a user keeps its ID.
func (a *Applier) Apply(ctx context.Context, f *File, p account.Policy) (Result, error) {
	var res Result
	if err := f.Validate(p); err != nil {
		return res, err
	}
	prevClients, prevUsers, err := a.store.BootstrapDeclared(ctx)
	if err != nil {
		return res, fmt.Errorf("bootstrap: %w", err)
	}
	clientIDs, usernames := f.names()
	// Listed before any record is marked, so that a run cut short leaves
	// every record it may have marked on the list the next run releases
	// from.
	if err := a.declare(ctx, prevClients, prevUsers, union(prevClients, clientIDs), union(prevUsers, usernames)); err != nil {
		return res, err
	}
	if err := a.upsertAll(ctx, f, &res); err != nil {
		return res, err
	}
	if err := a.releaseDropped(ctx, dropped(prevClients, clientIDs), dropped(prevUsers, usernames), &res); err != nil {
		return res, err
	}
	if err := a.declare(ctx, union(prevClients, clientIDs), union(prevUsers, usernames), clientIDs, usernames); err != nil {
		return res, err
	}
	if err := a.applyResources(ctx, f, &res); err != nil {
		return res, err
	}
	a.logger.Info("bootstrap applied", "created", res.Created, "updated", res.Updated, "unchanged", res.Unchanged,
		"released", res.Released)
	return res, nil
}

// declare stores the lists of declared client ids and usernames unless
// they are what is stored already (so that an unchanged file writes
// nothing).
func (a *Applier) declare(ctx context.Context, storedClients, storedUsers, clientIDs, usernames []string) error {
	if slices.Equal(storedClients, clientIDs) && slices.Equal(storedUsers, usernames) {
		return nil
	}
	if err := a.store.SetBootstrapDeclared(ctx, clientIDs, usernames); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	return nil
}

func (a *Applier) upsertAll(ctx context.Context, f *File, res *Result) error {
	for _, c := range f.Clients {
		outcome, err := a.applyClient(ctx, c)
		if err != nil {
			return err
		}
		res.count(outcome)
	}
	for _, u := range f.Users {
		outcome, err := a.applyUser(ctx, u)
		if err != nil {
			return err
		}
		res.count(outcome)
	}
	return nil
}

func (a *Applier) releaseDropped(ctx context.Context, clientIDs, usernames []string, res *Result) error {
	for _, id := range clientIDs {
		released, err := a.releaseClient(ctx, id)
		if err != nil {
			return err
		}
		res.countReleased(released)
	}
	for _, username := range usernames {
		released, err := a.releaseUser(ctx, username)
		if err != nil {
			return err
		}
		res.countReleased(released)
	}
	return nil
}

func (r *Result) countReleased(released bool) {
	if released {
		r.Released++
	}
}

// names lists the client ids and usernames f declares.
func (f *File) names() (clientIDs, usernames []string) {
	clientIDs, usernames = make([]string, 0, len(f.Clients)), make([]string, 0, len(f.Users))
	for _, c := range f.Clients {
		clientIDs = append(clientIDs, c.ID)
	}
	for _, u := range f.Users {
		usernames = append(usernames, u.Username)
	}
	return clientIDs, usernames
}

// union is a followed by the members of b it lacks.
func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// dropped lists the members of prev that now lacks.
func dropped(prev, now []string) []string {
	var out []string
	for _, s := range prev {
		if !slices.Contains(now, s) {
			out = append(out, s)
		}
	}
	return out
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
		if old.ManagedBy != storage.ManagedByBootstrap {
			a.logger.Warn("bootstrap: the file takes over a client it did not manage (made through the admin API or the CLI, or by a version before managed_by)",
				"client_id", c.ID)
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
	if want.PasswordHash, err = a.keepOrHash(account.NormalizePassword(u.Password), oldHash); err != nil {
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
		if old.ManagedBy != storage.ManagedByBootstrap {
			a.logger.Warn("bootstrap: the file takes over a user it did not manage (made through the admin API or the CLI, or by a version before managed_by)",
				"username", u.Username, "user_id", old.ID)
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

// releaseClient unmarks the client id if the file managed it, and
// reports whether it did.
func (a *Applier) releaseClient(ctx context.Context, id string) (bool, error) {
	c, err := a.store.GetClient(ctx, id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("bootstrap: release client %q: %w", id, err)
	case c.ManagedBy != storage.ManagedByBootstrap:
		return false, nil
	}
	c.ManagedBy = ""
	if err := a.store.UpsertClient(ctx, c); err != nil {
		return false, fmt.Errorf("bootstrap: release client %q: %w", id, err)
	}
	a.logger.Info("bootstrap: client no longer in the file; the admin API and the CLI may change or delete it now", "client_id", id)
	return true, nil
}

// releaseUser is releaseClient for a user. UpdateUser, not UpsertUser: an
// administrator's delete in between must not be undone.
func (a *Applier) releaseUser(ctx context.Context, username string) (bool, error) {
	u, err := a.store.GetUserByUsername(ctx, username)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("bootstrap: release user %q: %w", username, err)
	case u.ManagedBy != storage.ManagedByBootstrap:
		return false, nil
	}
	u.ManagedBy = ""
	err = a.store.UpdateUser(ctx, u)
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrConflict) {
		return false, nil // deleted or renamed meanwhile: nothing of the file's is left
	}
	if err != nil {
		return false, fmt.Errorf("bootstrap: release user %q: %w", username, err)
	}
	a.logger.Info("bootstrap: user no longer in the file; the admin API and the CLI may change or delete it now",
		"username", username, "user_id", u.ID)
	return true, nil
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
		a.RequirePushedAuthorizationRequests == b.RequirePushedAuthorizationRequests &&
		slices.Equal(a.IntrospectionAudiences, b.IntrospectionAudiences) &&
		a.InsecureSkipConsentForNativeRedirects == b.InsecureSkipConsentForNativeRedirects &&
		a.TokenEndpointAuthMethod == b.TokenEndpointAuthMethod && a.JWKS == b.JWKS && a.JWKSURI == b.JWKSURI &&
		a.ManagedBy == b.ManagedBy
}

func sameUser(a, b *storage.User) bool {
	return a.PasswordHash == b.PasswordHash && slices.Equal(a.Roles, b.Roles) &&
		a.Name == b.Name && a.Email == b.Email && a.EmailVerified == b.EmailVerified &&
		a.ManagedBy == b.ManagedBy
}
