package clientkeys

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"
)

// Defaults of FetcherConfig.
const (
	// DefaultFetchTimeout bounds one fetch of a jwks_uri, connecting and
	// reading included; a token request waits at most this for it.
	DefaultFetchTimeout = 5 * time.Second
	// DefaultCacheTTL is how long a fetched set is used without asking
	// again.
	DefaultCacheTTL = 5 * time.Minute
	// DefaultMinRefetch is the least time between two fetches of one
	// jwks_uri: a kid the cached set does not hold (the client rotated its
	// key) fetches again, but anyone can send assertions naming unknown
	// kids, so no more often than this.
	DefaultMinRefetch = 30 * time.Second
	// DefaultMaxEntries bounds the sets kept in memory.
	DefaultMaxEntries = 1000
)

// ErrFetch wraps every failure to obtain a usable set from a jwks_uri.
var ErrFetch = errors.New("clientkeys: cannot fetch the client's JWK Set")

// FetcherConfig tunes a Fetcher; zero fields take the defaults above.
type FetcherConfig struct {
	// Client sends the requests: the outbound guard's client
	// (outbound.Guard.Client), which refuses internal destinations,
	// follows no redirect and bounds time and size. Required.
	Client       *http.Client
	FetchTimeout time.Duration
	CacheTTL     time.Duration
	MinRefetch   time.Duration
	MaxEntries   int
	Now          func() time.Time
}

// Fetcher reads clients' jwks_uri documents and keeps them for a while.
// It is safe for concurrent use; concurrent requests for one URI share
// one fetch.
type Fetcher struct {
	cfg    FetcherConfig
	flight singleflight.Group

	mu    sync.Mutex
	cache map[string]*cached
}

type cached struct {
	set     *jose.JSONWebKeySet // nil: never fetched successfully
	fetched time.Time           // when set was read
	tried   time.Time           // the last fetch attempt, successful or not
	err     error               // the last attempt's error
}

// NewFetcher returns a Fetcher with cfg's client.
func NewFetcher(cfg FetcherConfig) (*Fetcher, error) {
	if cfg.Client == nil {
		return nil, errors.New("clientkeys: a fetcher needs the outbound guard's client")
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = DefaultFetchTimeout
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = DefaultCacheTTL
	}
	if cfg.MinRefetch <= 0 {
		cfg.MinRefetch = DefaultMinRefetch
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Fetcher{cfg: cfg, cache: make(map[string]*cached)}, nil
}

// Keys returns the set at uri that should hold kid ("" when the signer
// named none). A cached set is used while fresh and holding kid; else the
// URI is fetched again, but never sooner than MinRefetch after the last
// attempt: then the cached set (or the last error) is the answer, and a
// kid it lacks is the caller's refusal.
func (f *Fetcher) Keys(ctx context.Context, uri, kid string) (*jose.JSONWebKeySet, error) {
	now := f.cfg.Now()
	f.mu.Lock()
	e := f.cache[uri]
	f.mu.Unlock()
	if e != nil {
		fresh := e.set != nil && now.Sub(e.fetched) < f.cfg.CacheTTL
		if fresh && (kid == "" || HasKeyID(e.set, kid)) {
			return e.set, nil
		}
		if now.Sub(e.tried) < f.cfg.MinRefetch {
			if e.set != nil {
				return e.set, nil
			}
			return nil, e.err
		}
	}
	ch := f.flight.DoChan(uri, func() (any, error) { return f.fetch(ctx, uri) })
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*jose.JSONWebKeySet), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %v", ErrFetch, ctx.Err())
	}
}

// fetch reads uri once and records the outcome. It runs detached from
// the request that started it (others may be waiting for it), bounded by
// FetchTimeout.
func (f *Fetcher) fetch(ctx context.Context, uri string) (*jose.JSONWebKeySet, error) {
	started := f.cfg.Now()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.cfg.FetchTimeout)
	defer cancel()
	set, err := f.get(ctx, uri)
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.cache[uri]
	if e == nil {
		f.makeRoom(started)
		e = &cached{}
		f.cache[uri] = e
	}
	e.tried, e.err = started, err
	if err != nil {
		// A set read before stays in use until it expires: a client's
		// key server being down for a moment must not lock it out.
		if e.set != nil && started.Sub(e.fetched) < f.cfg.CacheTTL {
			return e.set, nil
		}
		e.set = nil
		return nil, err
	}
	e.set, e.fetched = set, started
	return set, nil
}

func (f *Fetcher) get(ctx context.Context, uri string) (*jose.JSONWebKeySet, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFetch, err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := f.cfg.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFetch, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// A 3xx lands here too: the guard's client follows no redirect.
		return nil, fmt.Errorf("%w: %s answered %d", ErrFetch, uri, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxSetBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFetch, err)
	}
	if len(body) > MaxSetBytes {
		return nil, fmt.Errorf("%w: %s answered more than %d bytes", ErrFetch, uri, MaxSetBytes)
	}
	set, err := ParseSet(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFetch, err)
	}
	return set, nil
}

// makeRoom keeps the cache under MaxEntries: expired entries go first,
// then any (a dropped set costs one fetch).
func (f *Fetcher) makeRoom(now time.Time) {
	if len(f.cache) < f.cfg.MaxEntries {
		return
	}
	for uri, e := range f.cache {
		if now.Sub(e.tried) >= f.cfg.CacheTTL {
			delete(f.cache, uri)
		}
	}
	for uri := range f.cache {
		if len(f.cache) < f.cfg.MaxEntries {
			break
		}
		delete(f.cache, uri)
	}
}
