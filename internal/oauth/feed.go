package oauth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oauth2d/oauth2d/internal/storage"
)

// The revocation feed (GET RevocationFeedPath; the protocol is
// notes/feed-protocol.md, summed up in the README): resource servers
// anywhere follow every revocation, a snapshot first and then what
// changed after a cursor, long-polling so that a revocation reaches them
// within a second without a call per request they serve.

// RevocationFeedPath serves the revocation feed.
const RevocationFeedPath = "/oauth2/revocation-feed"

const (
	// MaxFeedWait is the longest wait a follower may ask for.
	MaxFeedWait = 30 * time.Second
	// DefaultFeedMaxWaiters is FeedConfig.MaxWaiters when zero.
	DefaultFeedMaxWaiters = 1024
	maxFeedCursorLen      = 64
	// maxFeedQueryLen bounds the whole query string, read before
	// anything else: the two parameters need far less.
	maxFeedQueryLen = 512
	// feedWriteSlack is how long past its wait a held request may take to
	// read Redis and write its answer.
	feedWriteSlack = 10 * time.Second
	// feedPoll is how often a held request looks for itself while no
	// subscription tells it of revocations.
	feedPoll = time.Second
)

// FeedStore is what the feed reads and listens to; *storage.Store is one.
type FeedStore interface {
	storage.RevocationFeedStore
	SubscribeRevocations(ctx context.Context, onReconnect func()) (<-chan storage.RevokedJTI, error)
	SubscribeCutoffs(ctx context.Context, onReconnect func()) (<-chan storage.Cutoff, error)
}

var _ FeedStore = (*storage.Store)(nil)

// FeedConfig tunes the feed.
type FeedConfig struct {
	// MaxWaiters bounds the requests this instance holds at once (each
	// costs a goroutine and a connection, no Redis connection); more are
	// answered 503 with Retry-After. DefaultFeedMaxWaiters when zero.
	MaxWaiters int
	Logger     *slog.Logger
}

// RevocationFeed answers the feed's requests and holds those that wait
// for a revocation. One subscription per instance (Listen) wakes every
// held request at once through a broadcast: a held request costs no
// Redis connection.
type RevocationFeed struct {
	store      FeedStore
	maxWaiters int64
	waiters    atomic.Int64
	log        *slog.Logger

	mu sync.Mutex
	// changed is closed, and replaced, whenever something may have been
	// revoked: every request holding it looks again.
	changed chan struct{}
	// listening is false until Listen subscribed, and again if the
	// subscriptions end: held requests then look every feedPoll.
	listening atomic.Bool
	subs      *feedSubscriptions
	// ending is closed by EndWaits.
	ending  chan struct{}
	endOnce sync.Once
}

type feedSubscriptions struct {
	jtis <-chan storage.RevokedJTI
	cuts <-chan storage.Cutoff
	stop context.CancelFunc
}

// NewRevocationFeed builds the feed on store.
func NewRevocationFeed(store FeedStore, cfg FeedConfig) (*RevocationFeed, error) {
	if store == nil || cfg.MaxWaiters < 0 {
		return nil, errors.New("oauth: the revocation feed needs a store and a non-negative MaxWaiters")
	}
	if cfg.MaxWaiters == 0 {
		cfg.MaxWaiters = DefaultFeedMaxWaiters
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &RevocationFeed{store: store, maxWaiters: int64(cfg.MaxWaiters), log: cfg.Logger,
		changed: make(chan struct{}), ending: make(chan struct{})}, nil
}

// Listen subscribes to revocations and returns once the subscriptions
// are active; ctx bounds them: pass the server's lifetime, and run Follow
// with it.
func (f *RevocationFeed) Listen(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	wake := f.wake // after a reconnect: what was published meanwhile is lost
	jtis, err := f.store.SubscribeRevocations(ctx, wake)
	if err != nil {
		cancel()
		return err
	}
	cuts, err := f.store.SubscribeCutoffs(ctx, wake)
	if err != nil {
		cancel() // and with it the first subscription
		return err
	}
	f.mu.Lock()
	f.subs = &feedSubscriptions{jtis: jtis, cuts: cuts, stop: cancel}
	f.mu.Unlock()
	f.listening.Store(true)
	return nil
}

// Follow wakes the held requests on every revocation until ctx ends; serve
// runs it under its errgroup. It returns nil when ctx ends.
func (f *RevocationFeed) Follow(ctx context.Context) error {
	f.mu.Lock()
	subs := f.subs
	f.mu.Unlock()
	if subs == nil {
		return errors.New("oauth: revocation feed: Follow before Listen")
	}
	defer subs.stop()
	jtis, cuts := subs.jtis, subs.cuts
	for jtis != nil || cuts != nil {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-jtis:
			if !ok {
				jtis = nil
			}
		case _, ok := <-cuts:
			if !ok {
				cuts = nil
			}
		}
		f.wake()
	}
	// Against the storage contract (the channels close only when ctx
	// ends); held requests fall back to looking every feedPoll.
	if ctx.Err() == nil {
		f.listening.Store(false)
		f.log.Error("oauth: revocation feed subscriptions ended; held requests poll Redis")
	}
	return nil
}

// EndWaits answers every held request now and holds no more: the server
// is shutting down, and a request held for up to MaxFeedWait must not
// outlast its drain. Register it with http.Server.RegisterOnShutdown.
func (f *RevocationFeed) EndWaits() { f.endOnce.Do(func() { close(f.ending) }) }

// Waiting is how many requests the feed holds now.
func (f *RevocationFeed) Waiting() int { return int(f.waiters.Load()) }

func (f *RevocationFeed) wake() {
	f.mu.Lock()
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
}

func (f *RevocationFeed) changes() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}

func (f *RevocationFeed) ended() bool {
	select {
	case <-f.ending:
		return true
	default:
		return false
	}
}

// errFeedBusy: the instance holds as many requests as it may.
var errFeedBusy = ErrTemporarilyUnavailable.WithDescription("too many requests are waiting for revocations; retry later")

// errNotResourceServer: only a resource server (a confidential client
// with an introspection audience) may read the feed.
var errNotResourceServer = &Error{Code: ErrUnauthorizedClient.Code, Status: http.StatusForbidden,
	Description: "only a resource server (a client with introspection audiences) may read the revocation feed"}

// errNoFeed answers when the handler was built without a feed.
var errNoFeed = &Error{Code: "not_found", Status: http.StatusNotFound, Description: "this server has no revocation feed"}

// AddRevocationFeed advertises the revocation feed: call it when the
// Handler serving RevocationFeedPath has a feed.
func (m *Metadata) AddRevocationFeed() {
	m.RevocationFeedEndpoint = m.Issuer + RevocationFeedPath
}

// feedQuery is a feed request's parameters.
type feedQuery struct {
	cursor string // "": a snapshot
	wait   time.Duration
}

// feedAnswer is the 200 answer (notes/feed-protocol.md).
type feedAnswer struct {
	Cursor   string       `json:"cursor"`
	Snapshot bool         `json:"snapshot"`
	JTIs     []feedJTI    `json:"jtis"`
	Cutoffs  []feedCutoff `json:"cutoffs"`
}

type feedJTI struct {
	JTI string `json:"jti"`
	Exp int64  `json:"exp"` // unix ms
}

type feedCutoff struct {
	Kind      string `json:"kind"` // the principal's kind: "sub" or "client"
	ID        string `json:"id"`
	NotBefore int64  `json:"not_before"` // unix ms
	Until     int64  `json:"until"`      // unix ms
}

// ServeRevocationFeed serves GET RevocationFeedPath: client-authenticated
// with HTTP Basic, for resource servers only.
func (h *Handler) ServeRevocationFeed(w http.ResponseWriter, r *http.Request) {
	ans, err := h.revocationFeed(w, r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ans)
}

func (h *Handler) revocationFeed(w http.ResponseWriter, r *http.Request) (*feedAnswer, *Error) {
	if h.feed == nil {
		return nil, errNoFeed
	}
	q, err := readFeedQuery(r)
	if err != nil {
		return nil, err
	}
	// Basic only: credentials never travel in a URL.
	cc, err := readClientCredentials(r, form{})
	if err != nil {
		return nil, err
	}
	client, err := h.clients.authenticate(r.Context(), cc)
	if err != nil {
		return nil, err
	}
	if client.Public || len(client.IntrospectionAudiences) == 0 {
		return nil, errNotResourceServer
	}
	if q.wait > 0 {
		// The server's read and write timeouts are shorter than a wait
		// may be; past them the connection would be cut.
		rc := http.NewResponseController(w)
		deadline := time.Now().Add(q.wait + feedWriteSlack)
		_ = rc.SetReadDeadline(deadline)
		_ = rc.SetWriteDeadline(deadline)
	}
	return h.feed.answer(r.Context(), q)
}

// readFeedQuery checks the sizes before it parses anything; unknown
// parameters are ignored.
func readFeedQuery(r *http.Request) (feedQuery, *Error) {
	if len(r.URL.RawQuery) > maxFeedQueryLen {
		return feedQuery{}, ErrInvalidRequest.WithDescription("the query string is too long")
	}
	values, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return feedQuery{}, ErrInvalidRequest.WithDescription("the query string is not valid form encoding")
	}
	if len(values["cursor"]) > 1 || len(values["wait"]) > 1 {
		return feedQuery{}, ErrInvalidRequest.WithDescription("a parameter is repeated")
	}
	var q feedQuery
	if q.cursor = url.Values(values).Get("cursor"); len(q.cursor) > maxFeedCursorLen {
		return feedQuery{}, ErrInvalidRequest.WithDescription("cursor is too long")
	}
	if s := url.Values(values).Get("wait"); s != "" {
		// Digits only (Atoi would take a sign), and few of them.
		n, err := strconv.Atoi(s)
		if len(s) > 2 || strings.Trim(s, "0123456789") != "" || err != nil || time.Duration(n)*time.Second > MaxFeedWait {
			return feedQuery{}, ErrInvalidRequest.WithDescription("wait must be a whole number of seconds from 0 to 30")
		}
		q.wait = time.Duration(n) * time.Second
	}
	return q, nil
}

// answer reads what changed after q.cursor; with nothing new it holds the
// request until a revocation, q.wait, the client going away or the
// server's shutdown, whichever is first.
func (f *RevocationFeed) answer(ctx context.Context, q feedQuery) (*feedAnswer, *Error) {
	if q.cursor == "" {
		return f.snapshot(ctx)
	}
	deadline := time.Now().Add(q.wait)
	held := false
	defer func() {
		if held {
			f.waiters.Add(-1)
		}
	}()
	for {
		// Taken before the read: a revocation stored after the read is
		// published after it too, and closes this channel.
		changed := f.changes()
		ev, next, snapshot, err := f.store.RevocationsSince(ctx, q.cursor)
		if err != nil {
			return nil, ErrServerError.Wrap(err)
		}
		if snapshot {
			return f.snapshot(ctx)
		}
		left := time.Until(deadline)
		if !ev.Empty() || left <= 0 || f.ended() {
			return newFeedAnswer(ev, next, false), nil
		}
		if !held {
			if f.waiters.Add(1) > f.maxWaiters {
				f.waiters.Add(-1)
				return nil, errFeedBusy
			}
			held = true
		}
		if !f.listening.Load() {
			left = min(left, feedPoll)
		}
		timer := time.NewTimer(left)
		select {
		case <-changed:
		case <-timer.C:
		case <-f.ending:
			// Nothing new, as at the end of the wait; the server closes
			// the connection after this answer.
			timer.Stop()
			return newFeedAnswer(storage.RevocationEvents{}, q.cursor, false), nil
		case <-ctx.Done(): // the client went away: nobody reads the answer
			timer.Stop()
			return newFeedAnswer(storage.RevocationEvents{}, q.cursor, false), nil
		}
		timer.Stop()
	}
}

func (f *RevocationFeed) snapshot(ctx context.Context) (*feedAnswer, *Error) {
	ev, cursor, err := f.store.RevocationSnapshot(ctx)
	if err != nil {
		return nil, ErrServerError.Wrap(err)
	}
	return newFeedAnswer(ev, cursor, true), nil
}

func newFeedAnswer(ev storage.RevocationEvents, cursor string, snapshot bool) *feedAnswer {
	ans := &feedAnswer{Cursor: cursor, Snapshot: snapshot,
		JTIs: make([]feedJTI, 0, len(ev.JTIs)), Cutoffs: make([]feedCutoff, 0, len(ev.Cutoffs))}
	for _, r := range ev.JTIs {
		ans.JTIs = append(ans.JTIs, feedJTI{JTI: r.JTI, Exp: r.ExpiresAt.UnixMilli()})
	}
	for _, c := range ev.Cutoffs {
		// A principal is "<kind>:<id>" (storage.SubjectCutoff,
		// storage.ClientCutoff).
		kind, id, ok := strings.Cut(c.Principal, ":")
		if !ok {
			continue
		}
		ans.Cutoffs = append(ans.Cutoffs, feedCutoff{Kind: kind, ID: id,
			NotBefore: c.NotBefore.UnixMilli(), Until: c.Until.UnixMilli()})
	}
	return ans
}
