package backchannel

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/oauth2d/oauth2d/internal/config"
	"github.com/oauth2d/oauth2d/internal/outbound"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testredis"
	"github.com/oauth2d/oauth2d/internal/token"
)

func TestMain(m *testing.M) { testredis.Main(m) }

const issuer = "https://op.example"

// clock is a settable now shared by the sender and the test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func newClock() *clock               { return &clock{t: time.Now()} }

// receiver is a relying party's back-channel logout endpoint answering
// with the statuses given, then 200; it keeps the logout tokens it got.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	tokens   []string
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	r := &receiver{statuses: statuses}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost || !strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.tokens = append(r.tokens, req.PostFormValue("logout_token"))
		status := http.StatusOK
		if len(r.statuses) > 0 {
			status, r.statuses = r.statuses[0], r.statuses[1:]
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.tokens...)
}

type fixture struct {
	store *storage.Store
	keys  *token.KeySet
	clock *clock
	// guard lets the sender reach the test receivers on 127.0.0.1, as an
	// operator lists an internal receiver in outbound.allow_internal.
	guard *outbound.Guard
	redis string // the store's Redis URL
}

// guard is the outbound guard of a configuration with these
// outbound.allow_internal entries.
func guard(t *testing.T, allowInternal ...string) *outbound.Guard {
	t.Helper()
	cfg := config.Default()
	cfg.Outbound.AllowInternal = allowInternal
	g, err := outbound.New(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func newFixture(t *testing.T, clients map[string]string) *fixture {
	rs := testredis.New(t)
	store, err := storage.Open(context.Background(), storage.Options{URL: rs.URL, Prefix: rs.Prefix, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	for id, uri := range clients {
		c := &storage.Client{ID: id, GrantTypes: []string{"authorization_code"}, BackchannelLogoutURI: uri}
		if err := store.CreateClient(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := token.NewDevKeySet(token.AlgES256, token.AlgRS256, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{store: store, keys: keys, clock: newClock(), guard: guard(t, "127.0.0.1"), redis: rs.URL}
}

func (f *fixture) sender(t *testing.T, cfg SenderConfig) *Sender {
	s, err := NewSender(SenderDeps{Config: cfg, Store: f.store, Minter: token.NewMinter(f.keys, issuer, nil, f.clock.Now), Outbound: f.guard, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (f *fixture) enqueue(t *testing.T, ds ...*storage.LogoutDelivery) {
	if err := f.store.EnqueueLogouts(context.Background(), ds, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
}

func delivery(id, client string) *storage.LogoutDelivery {
	return &storage.LogoutDelivery{ID: id, ClientID: client, Subject: "u1", SID: "s-" + id, CreatedAt: time.Now()}
}

// verify checks a logout token as an RP must (OIDC Back-Channel Logout
// 1.0 §2.6) and returns its claims.
func verify(t *testing.T, keys *token.KeySet, raw, aud string) jwt.MapClaims {
	t.Helper()
	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(raw, claims, func(tk *jwt.Token) (any, error) {
		k, ok := keys.Lookup(tk.Header["kid"].(string))
		if !ok {
			t.Fatalf("unknown kid %v", tk.Header["kid"])
		}
		return k.Public(), nil
	}, jwt.WithIssuer(issuer), jwt.WithAudience(aud), jwt.WithIssuedAt(), jwt.WithExpirationRequired())
	if err != nil {
		t.Fatalf("logout token: %v", err)
	}
	if tok.Header["typ"] != token.LogoutTokenType {
		t.Fatalf("typ %v", tok.Header["typ"])
	}
	ev, _ := claims["events"].(map[string]any)
	if _, ok := ev[token.BackchannelLogoutEvent]; !ok || claims["jti"] == "" || claims["nonce"] != nil {
		t.Fatalf("claims %v", claims)
	}
	return claims
}

func TestSenderDelivers(t *testing.T) {
	rp := newReceiver(t)
	f := newFixture(t, map[string]string{"app": rp.URL + "/bcl", "gone": ""})
	s := f.sender(t, SenderConfig{})
	f.enqueue(t, delivery("d1", "app"), delivery("d2", "gone"), delivery("d3", "unknown"))
	s.drainOnce(context.Background())
	got := rp.got()
	if len(got) != 1 {
		t.Fatalf("the receiver got %d tokens, want 1", len(got))
	}
	if c := verify(t, f.keys, got[0], "app"); c["sid"] != "s-d1" || c["sub"] != "u1" {
		t.Fatalf("claims %v", c)
	}
	if n := testutil.ToFloat64(s.outcome.WithLabelValues(OutcomeDelivered)); n != 1 {
		t.Fatalf("delivered = %v", n)
	}
	if n := testutil.ToFloat64(s.outcome.WithLabelValues(OutcomeDropped)); n != 2 {
		t.Fatalf("dropped = %v", n)
	}
	f.clock.Add(time.Hour)
	if s.drainOnce(context.Background()); len(rp.got()) != 1 {
		t.Fatal("a delivered token was sent again")
	}
}

func TestSenderRetriesWithBackoffThenGivesUp(t *testing.T) {
	rp := newReceiver(t, 503, 503, 200)
	bad := newReceiver(t, 400)
	down := newReceiver(t)
	down.Close() // connection refused
	f := newFixture(t, map[string]string{"app": rp.URL, "refuses": bad.URL, "down": down.URL})
	s := f.sender(t, SenderConfig{RetryFor: 10 * time.Minute})
	f.enqueue(t, delivery("d1", "app"), delivery("d2", "refuses"), delivery("d3", "down"))
	ctx := context.Background()
	s.drainOnce(ctx)
	if len(rp.got()) != 1 || len(bad.got()) != 1 {
		t.Fatal("first attempt not made")
	}
	s.drainOnce(ctx)
	if len(rp.got()) != 1 {
		t.Fatal("retried before the backoff")
	}
	f.clock.Add(backoff(1))
	s.drainOnce(ctx)
	f.clock.Add(backoff(2))
	s.drainOnce(ctx)
	if len(rp.got()) != 3 || len(bad.got()) != 1 {
		t.Fatalf("attempts: app %d (want 3), refuses %d (want 1: a 400 is final)", len(rp.got()), len(bad.got()))
	}
	for range 20 {
		f.clock.Add(maxBackoff)
		s.drainOnce(ctx)
	}
	for outcome, want := range map[string]float64{OutcomeDelivered: 1, OutcomeRejected: 1, OutcomeExpired: 1} {
		if n := testutil.ToFloat64(s.outcome.WithLabelValues(outcome)); n != want {
			t.Errorf("%s = %v, want %v", outcome, n, want)
		}
	}
	if left, _ := f.store.ClaimLogouts(ctx, f.clock.Now().Add(time.Hour), time.Minute, 10); len(left) != 0 {
		t.Fatalf("%d deliveries left in the queue", len(left))
	}
}

// Two instances on one queue send every delivery once; a delivery whose
// sender died (claimed, never settled) is sent by the other after the
// lease.
func TestTwoSendersShareTheQueue(t *testing.T) {
	var hits atomic.Int64
	seen := sync.Map{}
	var dup atomic.Int64
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		claims := jwt.MapClaims{}
		_, _, _ = jwt.NewParser().ParseUnverified(r.PostFormValue("logout_token"), claims)
		if _, loaded := seen.LoadOrStore(claims["sid"], true); loaded {
			dup.Add(1)
		}
		time.Sleep(time.Millisecond)
	}))
	t.Cleanup(rp.Close)
	f := newFixture(t, map[string]string{"app": rp.URL})
	a, b := f.sender(t, SenderConfig{Batch: 3}), f.sender(t, SenderConfig{Batch: 3})
	var ds []*storage.LogoutDelivery
	for i := range 30 {
		ds = append(ds, delivery(string(rune('A'+i)), "app"))
	}
	f.enqueue(t, ds...)
	// A "dies" holding one delivery.
	held, err := f.store.ClaimLogouts(context.Background(), f.clock.Now(), a.lease(), 1)
	if err != nil || len(held) != 1 {
		t.Fatal(held, err)
	}
	var wg sync.WaitGroup
	for _, s := range []*Sender{a, b} {
		wg.Go(func() {
			for s.drainOnce(context.Background()) {
			}
		})
	}
	wg.Wait()
	if hits.Load() != 29 || dup.Load() != 0 {
		t.Fatalf("hits %d (want 29), duplicates %d", hits.Load(), dup.Load())
	}
	f.clock.Add(a.lease())
	b.drainOnce(context.Background())
	if hits.Load() != 30 || dup.Load() != 0 {
		t.Fatalf("after the lease: hits %d (want 30), duplicates %d", hits.Load(), dup.Load())
	}
}

// A logout token goes to an internal address only when the configuration
// allows it, checked when connecting: a registered name that resolves to
// loopback ("localhost" here, as a DNS name rebound to 127.0.0.1 would)
// is refused as the literal address is. A refusal is final.
func TestSenderRefusesInternalDestinations(t *testing.T) {
	rp := newReceiver(t)
	byName := strings.Replace(rp.URL, "127.0.0.1", "localhost", 1) + "/bcl"
	for _, tc := range []struct {
		name  string
		guard *outbound.Guard
		uri   string
		want  string
	}{
		{"loopback address", guard(t), rp.URL + "/bcl", OutcomeRefused},
		{"name resolving to loopback", guard(t), byName, OutcomeRefused},
		{"another internal address allowed", guard(t, "10.0.0.0/8"), rp.URL + "/bcl", OutcomeRefused},
		{"loopback address allowed", guard(t, "127.0.0.1"), rp.URL + "/bcl", OutcomeDelivered},
		{"name resolving to an allowed address", guard(t, "127.0.0.1"), byName, OutcomeDelivered},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, map[string]string{"app": tc.uri})
			f.guard = tc.guard
			s := f.sender(t, SenderConfig{})
			before := len(rp.got())
			f.enqueue(t, delivery("d1", "app"))
			s.drainOnce(context.Background())
			if n := testutil.ToFloat64(s.outcome.WithLabelValues(tc.want)); n != 1 {
				t.Fatalf("%s = %v, want 1", tc.want, n)
			}
			if sent := len(rp.got()) - before; sent != map[bool]int{true: 1}[tc.want == OutcomeDelivered] {
				t.Fatalf("the receiver got %d tokens", sent)
			}
			f.clock.Add(time.Hour)
			if left, _ := f.store.ClaimLogouts(context.Background(), f.clock.Now(), time.Minute, 10); len(left) != 0 {
				t.Fatalf("%d deliveries left in the queue: a refusal is final", len(left))
			}
		})
	}
}

// A redirect is the receiver's answer, not a place to send the token to.
func TestSenderFollowsNoRedirect(t *testing.T) {
	target := newReceiver(t)
	redirector := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusTemporaryRedirect))
	t.Cleanup(redirector.Close)
	f := newFixture(t, map[string]string{"app": redirector.URL})
	s := f.sender(t, SenderConfig{})
	f.enqueue(t, delivery("d1", "app"))
	s.drainOnce(context.Background())
	if len(target.got()) != 0 {
		t.Fatal("the redirect was followed")
	}
	if n := testutil.ToFloat64(s.outcome.WithLabelValues(OutcomeRejected)); n != 1 {
		t.Fatalf("rejected = %v, want 1", n)
	}
}

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		attempts int
		want     time.Duration
	}{{1, 2 * time.Second}, {2, 4 * time.Second}, {5, 32 * time.Second}, {9, maxBackoff}, {100, maxBackoff}} {
		if got := backoff(tc.attempts); got != tc.want {
			t.Errorf("backoff(%d) = %v, want %v", tc.attempts, got, tc.want)
		}
	}
}

// failFinish is the store with its first FinishLogout failing as a Redis
// that stopped answering fails it: after the send.
type failFinish struct {
	QueueStore
	mu     sync.Mutex
	failed bool
}

func (f *failFinish) FinishLogout(ctx context.Context, d *storage.LogoutDelivery) error {
	f.mu.Lock()
	first := !f.failed
	f.failed = true
	f.mu.Unlock()
	if first {
		return errors.New("redis: i/o timeout")
	}
	return f.QueueStore.FinishLogout(ctx, d)
}

// A delivery sent whose removal from the queue failed comes due again
// when its lease runs out; the sender that sent it removes it then
// without sending it twice (issue 21).
func TestSenderDoesNotResendWhenTheFinishFailed(t *testing.T) {
	rp := newReceiver(t)
	f := newFixture(t, map[string]string{"app": rp.URL + "/bcl"})
	s, err := NewSender(SenderDeps{Config: SenderConfig{}, Store: &failFinish{QueueStore: f.store},
		Minter: token.NewMinter(f.keys, issuer, nil, f.clock.Now), Outbound: f.guard, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	f.enqueue(t, delivery("d1", "app"))
	s.drainOnce(context.Background())
	f.clock.Add(s.lease() + time.Second)
	s.drainOnce(context.Background())
	if got := len(rp.got()); got != 1 {
		t.Fatalf("the receiver got %d tokens, want 1", got)
	}
	f.clock.Add(time.Hour)
	if ds, err := f.store.ClaimLogouts(context.Background(), f.clock.Now(), time.Minute, 10); err != nil || len(ds) != 0 {
		t.Fatalf("the delivery is still queued: %v %v", ds, err)
	}
}
