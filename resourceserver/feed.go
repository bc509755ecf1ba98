package resourceserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"
)

// Defaults of FeedConfig.
const (
	// DefaultMaxStaleness is how long the revocation state counts as
	// current after the feed last answered; after that every request is
	// answered 503 until it answers again.
	DefaultMaxStaleness = time.Minute
	// DefaultFeedWait is how long a request to the feed waits for news
	// (the protocol allows up to 30 s).
	DefaultFeedWait = 25 * time.Second
	// maxFeedBackoff caps the wait between failed requests.
	maxFeedBackoff = 15 * time.Second
)

// errStale: the feed has not answered within MaxStaleness (or ever).
var errStale = fmt.Errorf("%w: the revocation feed has not answered recently", ErrUnavailable)

// FeedConfig configures a FeedFollower.
type FeedConfig struct {
	// URL is oauth2d's revocation feed; empty: the
	// oauth2d_revocation_feed_endpoint of Issuer's RFC 8414 metadata.
	URL    string
	Issuer string
	// ClientID and ClientSecret authenticate this resource server (HTTP
	// Basic): a confidential client with at least one
	// introspection_audiences entry. Required.
	ClientID, ClientSecret string
	// MaxStaleness is how long the state counts as current after the
	// last answer (DefaultMaxStaleness when 0). It must exceed Wait.
	MaxStaleness time.Duration
	// Wait is how long each request may be held for news
	// (DefaultFeedWait when 0; at most 30 s).
	Wait time.Duration
	// HTTPClient makes the requests (http.DefaultClient when nil; each
	// request has its own deadline of Wait + 10 s).
	HTTPClient *http.Client
	Logger     *slog.Logger     // discards when nil
	Now        func() time.Time // time.Now when nil
}

// FeedFollower keeps a RevocationList current from oauth2d's revocation
// feed, without Redis: it long-polls the feed, so a revocation made
// anywhere reaches it within about a second. It is the Revocations of a
// Resource. While the feed has not answered for MaxStaleness (or before
// its first answer), Revoked fails, and the middleware answers 503 rather
// than accept a token that may have been revoked.
type FeedFollower struct {
	cfg    FeedConfig
	list   *RevocationList
	lastOK atomic.Int64 // unix ns of the last answer; 0: none yet
	pruned time.Time    // Run's goroutine only
}

var _ Revocations = (*FeedFollower)(nil)

// NewFeedFollower returns a follower for cfg; ctx bounds the metadata
// fetch when URL is empty. Run it for the server's lifetime.
func NewFeedFollower(ctx context.Context, cfg FeedConfig) (*FeedFollower, error) {
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("resourceserver: the revocation feed needs client credentials")
	}
	if cfg.Wait <= 0 {
		cfg.Wait = DefaultFeedWait
	}
	cfg.Wait = min(cfg.Wait, 30*time.Second)
	if cfg.MaxStaleness <= 0 {
		cfg.MaxStaleness = DefaultMaxStaleness
	}
	if cfg.MaxStaleness <= cfg.Wait {
		return nil, errors.New("resourceserver: MaxStaleness must exceed the feed's Wait")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.URL == "" {
		if cfg.Issuer == "" {
			return nil, errors.New("resourceserver: the revocation feed needs its URL or the issuer")
		}
		md, err := Discover(ctx, cfg.HTTPClient, cfg.Issuer)
		if err != nil {
			return nil, err
		}
		if md.RevocationFeedEndpoint == "" {
			return nil, errors.New("resourceserver: the issuer's metadata names no oauth2d_revocation_feed_endpoint")
		}
		cfg.URL = md.RevocationFeedEndpoint
	}
	return &FeedFollower{cfg: cfg, list: NewRevocationList()}, nil
}

// Revoked implements Revocations.
func (f *FeedFollower) Revoked(c *Claims) (bool, error) {
	last := f.lastOK.Load()
	if last == 0 || f.cfg.Now().Sub(time.Unix(0, last)) > f.cfg.MaxStaleness {
		return false, errStale
	}
	return f.list.Revoked(c), nil
}

// Ping reports whether the state is current (a readiness check).
func (f *FeedFollower) Ping(context.Context) error {
	_, err := f.Revoked(&Claims{})
	return err
}

// Run follows the feed until ctx ends, then returns nil. After a failed
// request it backs off (jittered, capped at 15 s, longer when the server
// asks with Retry-After) and keeps the state it has.
func (f *FeedFollower) Run(ctx context.Context) error {
	cursor, failures := "", 0
	for ctx.Err() == nil {
		next, retryAfter, err := f.poll(ctx, cursor)
		if err == nil {
			cursor, failures = next, 0
			continue
		}
		if ctx.Err() != nil {
			break
		}
		failures++
		delay := max(backoff(failures), retryAfter)
		f.cfg.Logger.Warn("resourceserver: revocation feed request failed; retrying", "err", err, "in", delay)
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
	}
	return nil
}

// backoff is the jittered wait after n consecutive failures: 0.5 s
// doubling, capped.
func backoff(n int) time.Duration {
	d := min(500*time.Millisecond<<min(n-1, 8), maxFeedBackoff)
	return d/2 + rand.N(d/2+1)
}

// feedAnswer is the feed's 200 answer (/work/notes/feed-protocol.md).
type feedAnswer struct {
	Cursor   string `json:"cursor"`
	Snapshot bool   `json:"snapshot"`
	JTIs     []struct {
		JTI string `json:"jti"`
		Exp int64  `json:"exp"` // unix ms
	} `json:"jtis"`
	Cutoffs []struct {
		Kind      string `json:"kind"`
		ID        string `json:"id"`
		NotBefore int64  `json:"not_before"`
		Until     int64  `json:"until"`
	} `json:"cutoffs"`
}

// poll makes one request and merges its answer: revocations are never
// undone, so a snapshot is merged like news, and what has expired is
// pruned.
func (f *FeedFollower) poll(ctx context.Context, cursor string) (next string, retryAfter time.Duration, err error) {
	q := url.Values{"wait": {strconv.Itoa(int(f.cfg.Wait / time.Second))}}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Wait+10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.cfg.URL+"?"+q.Encode(), nil)
	if err != nil {
		return "", 0, err
	}
	// RFC 6749 §2.3.1: both parts form-encoded before Basic.
	req.SetBasicAuth(url.QueryEscape(f.cfg.ClientID), url.QueryEscape(f.cfg.ClientSecret))
	req.Header.Set("Accept", "application/json")
	resp, err := f.cfg.HTTPClient.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return "", min(time.Duration(secs)*time.Second, time.Minute), fmt.Errorf("resourceserver: revocation feed: %s", resp.Status)
	}
	var a feedAnswer
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16*maxDocumentBytes)).Decode(&a); err != nil {
		return "", 0, fmt.Errorf("resourceserver: revocation feed: %w", err)
	}
	if a.Cursor == "" {
		return "", 0, errors.New("resourceserver: revocation feed: answer without a cursor")
	}
	jtis := make(map[string]time.Time, len(a.JTIs))
	for _, j := range a.JTIs {
		jtis[j.JTI] = time.UnixMilli(j.Exp)
	}
	f.list.DenyJTIs(jtis)
	for _, c := range a.Cutoffs {
		f.list.AddCutoff(Cutoff{Kind: c.Kind, ID: c.ID, NotBefore: time.UnixMilli(c.NotBefore), Until: time.UnixMilli(c.Until)})
	}
	now := f.cfg.Now()
	if a.Snapshot || now.Sub(f.pruned) > time.Minute {
		f.list.Prune(now) // expired entries can never match a valid token
		f.pruned = now
	}
	f.lastOK.Store(now.UnixNano())
	return a.Cursor, 0, nil
}
