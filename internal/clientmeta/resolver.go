package clientmeta

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/outbound"
	"github.com/oauth2d/oauth2d/internal/ratelimit"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// Draft is the revision of the specification this package follows.
const Draft = "draft-ietf-oauth-client-id-metadata-document-03"

// MaxURLLen bounds a URL client id: it is kept in grants and sessions
// (storage.MaxIDLen allows 256 bytes).
const MaxURLLen = 255

// Lookup finds clients by id; storage.Store and storage.ClientCache are
// ones.
type Lookup interface {
	GetClient(ctx context.Context, id string) (*storage.Client, error)
}

// Config holds the limits (config.ClientIDMetadata).
type Config struct {
	Scopes       []string      // the scopes a document client may have
	MaxBytes     int64         // largest document body
	Timeout      time.Duration // one whole fetch
	CacheMin     time.Duration
	CacheMax     time.Duration
	CacheEntries int
}

// Deps are what a Resolver is built from. Next, Guard and Address are
// required.
type Deps struct {
	Config Config
	// Next answers every id that is not an https URL.
	Next Lookup
	// Guard is the outbound guard every fetch goes through.
	Guard *outbound.Guard
	// Policy validates the client a document describes, as a
	// registration is validated.
	Policy account.Policy
	// Budget is the per-address budget of lookups that miss the cache
	// (Limits.PerIP); nil: none.
	Budget *ratelimit.Limiter
	// Address is the requesting client's address, as recorded in ctx
	// ("" when unknown: such lookups share one budget).
	Address func(ctx context.Context) string
	Logger  *slog.Logger
	Now     func() time.Time
}

// Resolver answers GetClient for URL client ids from their documents and
// for the others from Next. It is safe for concurrent use.
type Resolver struct {
	d      Deps
	fetch  *fetcher
	flight singleflight.Group

	mu      sync.Mutex
	entries map[string]entry
}

type entry struct {
	client  *storage.Client
	expires time.Time
}

// New returns a resolver.
func New(d Deps) (*Resolver, error) {
	if d.Next == nil || d.Guard == nil || d.Address == nil {
		return nil, errors.New("clientmeta: incomplete dependencies")
	}
	if d.Config.MaxBytes <= 0 || d.Config.Timeout <= 0 || d.Config.CacheEntries <= 0 || d.Config.CacheMin <= 0 || d.Config.CacheMax < d.Config.CacheMin {
		return nil, errors.New("clientmeta: limits must be positive")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Resolver{d: d, entries: make(map[string]entry),
		fetch: &fetcher{client: d.Guard.Client(d.Config.Timeout), maxBytes: d.Config.MaxBytes, now: d.Now}}, nil
}

// IsURLClientID reports whether id is meant as a metadata document's URL:
// registered ids never contain ':' (account.ValidateClient), so there is
// no overlap.
func IsURLClientID(id string) bool { return strings.HasPrefix(id, "https://") }

// GetClient returns the client id names. A URL id whose document cannot be
// fetched or accepted gives an *Error, which matches storage.ErrNotFound:
// every caller that treats an unknown client as the client's mistake
// (an error page, invalid_client) does so for it too.
func (r *Resolver) GetClient(ctx context.Context, id string) (*storage.Client, error) {
	if !IsURLClientID(id) {
		return r.d.Next.GetClient(ctx, id)
	}
	if c, ok := r.cached(id); ok {
		return c, nil
	}
	u, err := r.checkURL(id)
	if err != nil {
		return nil, err
	}
	if err := r.spend(ctx); err != nil {
		return nil, err
	}
	// The fetch is shared by every lookup of id meanwhile, so no one
	// caller's cancellation may end it; the client's timeout bounds it.
	shared := context.WithoutCancel(ctx)
	res, err, _ := r.flight.Do(id, func() (any, error) {
		if c, ok := r.cached(id); ok { // another flight just ended
			return c, nil
		}
		doc, ttl, err := r.fetch.get(shared, u)
		if err != nil {
			return nil, err
		}
		c, err := r.client(id, doc)
		if err != nil {
			return nil, err
		}
		r.store(id, c, ttl)
		return c, nil
	})
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			r.d.Logger.InfoContext(ctx, "clientmeta: client id metadata document refused", "client_id", id, "reason", e.Reason, "err", e.Err)
		}
		return nil, err
	}
	return res.(*storage.Client), nil
}

func (r *Resolver) cached(id string) (*storage.Client, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.entries[id]
	if !ok {
		return nil, false
	}
	if !r.d.Now().Before(e.expires) {
		delete(r.entries, id)
		return nil, false
	}
	return e.client, true
}

// store keeps c for ttl clamped to the configured bounds. A full cache
// first drops what has expired, then arbitrary entries: a dropped entry
// costs one more fetch, never a wrong answer.
func (r *Resolver) store(id string, c *storage.Client, ttl time.Duration) {
	ttl = min(max(ttl, r.d.Config.CacheMin), r.d.Config.CacheMax)
	now := r.d.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.entries) >= r.d.Config.CacheEntries {
		for k, e := range r.entries {
			if !now.Before(e.expires) {
				delete(r.entries, k)
			}
		}
		for k := range r.entries {
			if len(r.entries) < r.d.Config.CacheEntries {
				break
			}
			delete(r.entries, k)
		}
	}
	r.entries[id] = entry{client: c, expires: now.Add(ttl)}
}

// spend takes one unit of the caller's address budget for a lookup that
// may fetch.
func (r *Resolver) spend(ctx context.Context) error {
	if r.d.Budget == nil {
		return nil
	}
	ok, wait, err := r.d.Budget.Spend(ctx, r.d.Address(ctx))
	if err != nil {
		return fmt.Errorf("clientmeta: fetch budget: %w", err)
	}
	if !ok {
		return &Error{Reason: ReasonThrottled, RetryAfter: max(wait, time.Second)}
	}
	return nil
}

// checkURL applies §3 to a client id before anything is fetched: https,
// a path, no "." or ".." segment, no fragment, no userinfo; and, beyond
// the draft, a bounded length, visible ASCII without the braces of a
// Redis hash tag, and a host the outbound guard lets through (it checks
// again, after DNS, when connecting).
func (r *Resolver) checkURL(id string) (*url.URL, error) {
	bad := func(format string, args ...any) error {
		return &Error{Reason: ReasonBadURL, Err: fmt.Errorf(format, args...)}
	}
	if len(id) > MaxURLLen {
		return nil, bad("longer than %d bytes", MaxURLLen)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c >= 0x7f || c == '{' || c == '}' || c == '#' || c == '\\' {
			return nil, bad("character %q is not allowed", c)
		}
	}
	u, err := url.Parse(id)
	if err != nil {
		return nil, bad("%v", err)
	}
	if u.Scheme != "https" || u.Host == "" || u.Opaque != "" {
		return nil, bad("not an https URL with a host")
	}
	if u.User != nil {
		return nil, bad("has a username or password")
	}
	if u.Path == "" || !strings.HasPrefix(u.EscapedPath(), "/") {
		return nil, bad("has no path")
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == "." || seg == ".." {
			return nil, bad("has a dot segment")
		}
	}
	if err := r.d.Guard.CheckHost(u.Hostname()); err != nil {
		return nil, &Error{Reason: ReasonInternal, Err: err}
	}
	return u, nil
}

// Generation is the stable Client.Generation of the document client id:
// every fetch of the same URL gives the same, so grants made before a
// re-fetch stay the client's.
func Generation(id string) string {
	sum := sha256.Sum256([]byte(id))
	return "cimd-" + base64.RawURLEncoding.EncodeToString(sum[:12])
}
