package storage_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testredis"
)

// Fault injection on a redis-server of the test's own (testredis.Private):
// stopped with SIGSTOP, killed and restarted empty. The embedded Redis
// cannot be stopped or killed, so these tests need redis-server (skipped
// without it, failing under CI); they use a private standalone server in
// every topology because stopping a node of the shared Cluster would stall
// every other test.

const faultTimeout = 500 * time.Millisecond

func openPrivate(t *testing.T, srv *testredis.Private) *storage.Store {
	t.Helper()
	s, err := storage.Open(context.Background(), storage.Options{
		URL: srv.URL, Prefix: srv.Prefix, Timeout: faultTimeout, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func newFamily(t *testing.T, s *storage.Store) (storage.RefreshFamily, string) {
	t.Helper()
	now := time.Now()
	f := storage.RefreshFamily{ID: secret.NewToken(12), ClientID: "web", UserID: "u1", Scope: []string{"openid"},
		AuthTime: now, ExpiresAt: now.Add(time.Hour)}
	h := secret.SHA256(secret.NewToken(32))
	if err := s.CreateFamily(context.Background(), storage.NewRefresh{Family: f, TokenHash: h, Sliding: time.Hour}); err != nil {
		t.Fatal(err)
	}
	return f, h
}

func newRotation(familyID, presented string) storage.Rotation {
	succ := secret.NewToken(32)
	return storage.Rotation{FamilyID: familyID, PresentedHash: presented, NewHash: secret.SHA256(succ),
		Successor: []byte("sealed-" + succ), AccessJTI: secret.NewToken(16),
		AccessExpiresAt: time.Now().Add(5 * time.Minute), Now: time.Now(), Sliding: time.Hour,
		Grace: 30 * time.Second}
}

// During a stall, a rotation fails fast with ErrUnavailable; a copy of it
// queued on an open connection runs when Redis resumes and answers as
// the rotation did; the client's retry with the same token then succeeds
// with the successor Redis stored, and that successor works. No reuse, no
// revocation.
func TestStallRotationIsNotReuse(t *testing.T) {
	srv := testredis.NewPrivate(t)
	s := openPrivate(t, srv)
	ctx := context.Background()
	f, h := newFamily(t, s)
	r := newRotation(f.ID, h)

	// A copy of the same request sent on a connection that stays open
	// (as a client library's re-send does) waits in Redis's queue and
	// runs when Redis resumes, after or alongside the first.
	patient, err := storage.Open(ctx, storage.Options{URL: srv.URL, Prefix: srv.Prefix, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer patient.Close()
	if _, err := patient.CheckRefresh(ctx, f.ID, h); err != nil { // a connection in its pool
		t.Fatal(err)
	}

	srv.Pause(t)
	queued := make(chan error, 1)
	go func() {
		_, err := patient.Rotate(ctx, r)
		queued <- err
	}()
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			_, err := s.Rotate(ctx, r)
			if !errors.Is(err, storage.ErrUnavailable) {
				t.Errorf("Rotate during a stall = %v, want ErrUnavailable", err)
			}
			if took := time.Since(start); took > 3*faultTimeout {
				t.Errorf("Rotate during a stall took %v, want about %v", took, faultTimeout)
			}
		}()
	}
	wg.Wait()
	srv.Resume(t)
	if err := <-queued; err != nil {
		t.Fatalf("the copy queued during the stall = %v, want the rotation's answer, not reuse", err)
	}

	retry := newRotation(f.ID, h) // the client's retry: a new request, the same token
	res, err := s.Rotate(ctx, retry)
	if err != nil {
		t.Fatalf("retry after the stall = %v, want success", err)
	}
	successor := retry.NewHash
	if res.GraceSuccessor == nil {
		t.Fatal("retry rotated afresh, want the queued rotation's successor from the grace window")
	}
	if res.GraceSuccessor != nil {
		if !bytes.Equal(res.GraceSuccessor, r.Successor) {
			t.Fatalf("retry got successor %q, want the stalled rotation's %q", res.GraceSuccessor, r.Successor)
		}
		successor = r.NewHash
	}
	if _, err := s.CheckRefresh(ctx, f.ID, successor); err != nil {
		t.Fatalf("successor after the stall = %v, want current", err)
	}
	if _, err := s.Rotate(ctx, newRotation(f.ID, successor)); err != nil {
		t.Fatalf("rotating the successor = %v", err)
	}
}

// A code redeemed during a stall, its script delivered twice: once Redis
// resumes the redemption is the first one, and the same redemption
// answers as the first did, not as reuse.
func TestStallRedemptionIsNotReuse(t *testing.T) {
	srv := testredis.NewPrivate(t)
	s := openPrivate(t, srv)
	ctx := context.Background()
	h := secret.SHA256(secret.NewToken(32))
	if err := s.SaveCode(ctx, h, &storage.AuthCode{ClientID: "web", UserID: "u1", ExpiresAt: time.Now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	red := storage.CodeRedemption{FamilyID: secret.NewToken(12), AccessJTI: secret.NewToken(16), AccessExpiresAt: time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)}
	srv.Pause(t)
	for range 2 {
		if _, err := s.RedeemCode(ctx, h, red); !errors.Is(err, storage.ErrUnavailable) {
			t.Fatalf("RedeemCode during a stall = %v, want ErrUnavailable", err)
		}
	}
	srv.Resume(t)
	if got, err := s.RedeemCode(ctx, h, red); err != nil || *got != red {
		t.Fatalf("the same redemption after the stall = %+v, %v; want the first answer", got, err)
	}
}

// Every kind of call fails within about the timeout while Redis is
// stopped, reads and pub/sub-backed writes alike.
func TestStallFailsFast(t *testing.T) {
	srv := testredis.NewPrivate(t)
	s := openPrivate(t, srv)
	ctx := context.Background()
	srv.Pause(t)
	defer srv.Resume(t)
	calls := map[string]func() error{
		"GetClient": func() error { _, err := s.GetClient(ctx, "web"); return err },
		"Ping":      func() error { return s.Ping(ctx) },
		"RevokeJTI": func() error { return s.RevokeJTI(ctx, "j", time.Now().Add(time.Hour)) },
		"IsAccessRevoked": func() error {
			_, err := s.IsAccessRevoked(ctx, "j", "u1", "web", time.Now())
			return err
		},
		"DeleteClient": func() error { return s.DeleteClient(ctx, "web") },
		"DataEpoch":    func() error { _, err := s.DataEpoch(ctx); return err },
	}
	for name, call := range calls {
		start := time.Now()
		err := call()
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("%s during a stall = %v, want ErrUnavailable", name, err)
		}
		if took := time.Since(start); took > 3*faultTimeout {
			t.Errorf("%s during a stall took %v, want about %v", name, took, faultTimeout)
		}
	}
}

// A Redis restarted empty is noticed through the data markers, and
// concurrent instances that mark it again agree on one epoch.
func TestRestartEmptyLosesTheDataEpoch(t *testing.T) {
	srv := testredis.NewPrivate(t)
	a, b := openPrivate(t, srv), openPrivate(t, srv)
	ctx := context.Background()
	first, err := a.MarkDataEpoch(ctx)
	if err != nil || first == "" {
		t.Fatalf("MarkDataEpoch = %q, %v", first, err)
	}
	srv.RestartEmpty(t)
	var got string
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err = b.DataEpoch(ctx)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil || got != "" {
		t.Fatalf("DataEpoch after an empty restart = %q, %v; want \"\"", got, err)
	}
	var wg sync.WaitGroup
	epochs, errs := make([]string, 2), make([]error, 2)
	for i, s := range []*storage.Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			epochs[i], errs[i] = s.MarkDataEpoch(ctx)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if epochs[0] == "" || epochs[0] != epochs[1] || epochs[0] == first {
		t.Fatalf("epochs after healing = %q; want one new epoch (was %q)", epochs, first)
	}
}

// Each kind of data has its marker on its own slot: losing any one of
// them (a Cluster node that came back empty) is a loss, the resource
// registry's included.
func TestEachMarkerGuardsTheEpoch(t *testing.T) {
	s := open(t, testredis.New(t))
	ctx := context.Background()
	keys := s.MarkerKeys()
	if !slices.ContainsFunc(keys, func(k string) bool { return strings.Contains(k, s.ResourcesKey()) }) {
		t.Fatalf("markers %v: none beside the resource registry %s", keys, s.ResourcesKey())
	}
	for _, k := range keys {
		if _, err := s.MarkDataEpoch(ctx); err != nil {
			t.Fatal(err)
		}
		s.Redis().Del(ctx, k)
		if epoch, err := s.DataEpoch(ctx); err != nil || epoch != "" {
			t.Errorf("DataEpoch without %s = %q, %v; want \"\"", k, epoch, err)
		}
	}
}

type lockedWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *lockedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// go-redis's own lines (here: dials that fail) reach the server's slog
// logger. go-redis has one logger per process; it stays set to this
// test's after it ends, which the other tests do not mind.
func TestRedisLogsThroughSlog(t *testing.T) {
	var out lockedWriter
	storage.LogRedisTo(slog.New(slog.NewJSONHandler(&out, nil)))
	s, err := storage.Open(context.Background(), storage.Options{URL: "redis://127.0.0.1:1", Timeout: time.Second})
	if err == nil {
		_ = s.Close()
		t.Fatal("Open of a closed port succeeded")
	}
	if !strings.Contains(out.String(), `"component":"go-redis"`) {
		t.Fatalf("no go-redis line in the slog output: %q (Open: %v)", out.String(), err)
	}
}
