package oauth_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testredis"
)

type feedResult struct {
	a   feedAnswer
	res response
	err error
	at  time.Time
}

func (in *feedInstance) pollAsync(cursor string, wait int) <-chan feedResult {
	out := make(chan feedResult, 1)
	go func() {
		a, res, err := in.tryPoll(cursor, wait)
		out <- feedResult{a, res, err, time.Now()}
	}()
	return out
}

// While Redis stalls, every feed request is answered 503 with
// Retry-After within about one command timeout (past its wait for a held
// one), never left hanging.
func TestFeedAnswers503WhileRedisStalls(t *testing.T) {
	rs := testredis.NewPrivate(t)
	const timeout = 300 * time.Millisecond
	in := newFeedInstance(t, rs.URL, rs.Prefix, true, feedOptions{timeout: timeout})
	cursor := in.poll("", 0).Cursor // also puts the service in the client cache
	held := in.pollAsync(cursor, 2)
	in.waitHeld(1)
	rs.Pause(t)
	t.Cleanup(func() { rs.Resume(t) })
	for _, tc := range []struct {
		name  string
		query string
		wait  time.Duration
	}{
		{"snapshot", "", 0},
		{"since a cursor", "cursor=" + cursor, 0},
		{"since a cursor, waiting", "wait=1&cursor=" + cursor, time.Second},
	} {
		start := time.Now()
		res, err := in.tryGet(tc.query, "", "")
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > tc.wait+3*timeout+time.Second {
			t.Errorf("%s: answered after %v", tc.name, d)
		}
		wantError(t, res, http.StatusServiceUnavailable, "temporarily_unavailable")
		if res.Header.Get("Retry-After") == "" {
			t.Errorf("%s: 503 without Retry-After", tc.name)
		}
	}
	select {
	case r := <-held:
		if r.err == nil || r.res.Status != http.StatusServiceUnavailable {
			t.Fatalf("the request held through the stall: %d %s %v, want 503", r.res.Status, r.res.Raw, r.err)
		}
	case <-time.After(2*time.Second + 3*timeout + time.Second):
		t.Fatal("the request held through the stall was not answered")
	}
}

// Redis came back empty: a cursor from before names nothing it holds,
// and the follower is sent a snapshot.
func TestFeedSnapshotAfterRedisRestartedEmpty(t *testing.T) {
	rs := testredis.NewPrivate(t)
	in := newFeedInstance(t, rs.URL, rs.Prefix, true, feedOptions{timeout: time.Second})
	ctx := context.Background()
	if err := in.Store.RevokeJTI(ctx, "before", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	cursor := in.poll("", 0).Cursor
	rs.RestartEmpty(t)
	// The first command after the restart may meet a dead connection.
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := in.Store.RevokeJTI(ctx, "after", time.Now().Add(time.Hour))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	in.seed() // as the bootstrap file is applied again after a data loss
	a := in.poll(cursor, 5)
	if !a.Snapshot || !slices.Equal(a.jtis(), []string{"after"}) {
		t.Fatalf("answer = %+v, want a snapshot of what Redis holds now", a)
	}
}

// A held request is answered as soon as the server's shutdown begins, so
// that it does not keep the drain waiting.
func TestFeedEndsHeldRequestsAtShutdown(t *testing.T) {
	rs := testredis.New(t)
	var hs *http.Server
	in := newFeedInstance(t, rs.URL, rs.Prefix, true, feedOptions{serve: func(h http.Handler) string {
		hs = serveOn(t, &http.Server{Handler: h})
		return "http://" + hs.Addr
	}})
	hs.RegisterOnShutdown(in.Feed.EndWaits)
	cursor := in.poll("", 0).Cursor
	held := in.pollAsync(cursor, 30)
	in.waitHeld(1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := hs.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("shutdown took %v with a held feed request", d)
	}
	r := <-held
	if r.err != nil || r.a.Snapshot || len(r.a.JTIs) != 0 || r.a.Cursor != cursor {
		t.Fatalf("held request at shutdown: %+v %v, want nothing new and the same cursor", r.a, r.err)
	}
}

// A wait may be longer than the server's read and write timeouts (30s
// each in httpserver.NewServer, the longest wait too): the handler
// extends them for its request.
func TestFeedWaitOutlastsServerTimeouts(t *testing.T) {
	rs := testredis.New(t)
	in := newFeedInstance(t, rs.URL, rs.Prefix, true, feedOptions{serve: func(h http.Handler) string {
		return "http://" + serveOn(t, &http.Server{Handler: h, ReadTimeout: time.Second, WriteTimeout: time.Second}).Addr
	}})
	cursor := in.poll("", 0).Cursor
	start := time.Now()
	a, _, err := in.tryPoll(cursor, 2)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 2*time.Second || a.Cursor != cursor {
		t.Fatalf("after %v: %+v, want the whole wait and the same cursor", d, a)
	}
}

// serveOn serves hs on a loopback port (its Addr is set to it) until the
// test ends.
func serveOn(t *testing.T, hs *http.Server) *http.Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs.Addr = ln.Addr().String()
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	return hs
}

// Many followers long-polling while many revocations happen on two
// instances: every follower ends with every revocation (at least once),
// and with each principal's latest cutoff.
func TestFeedConcurrentFollowersMissNothing(t *testing.T) {
	rs := testredis.New(t)
	a := newFeedInstance(t, rs.URL, rs.Prefix, true, feedOptions{})
	b := newFeedInstance(t, rs.URL, rs.Prefix, false, feedOptions{})
	const followers, revokers, each = 40, 4, 40
	var want []string
	for r := range revokers {
		for i := range each {
			want = append(want, fmt.Sprintf("r%d-%d", r, i))
		}
	}
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	nbf := time.Now().Truncate(time.Millisecond)

	lastNBF := nbf.Add((each - 1) * time.Millisecond).UnixMilli()
	complete := func(jtis map[string]bool, nbfs map[string]int64) bool {
		for _, j := range want {
			if !jtis[j] {
				return false
			}
		}
		for r := range revokers {
			if nbfs[fmt.Sprint("s", r)] != lastNBF {
				return false
			}
		}
		return true
	}
	type state struct {
		jtis map[string]bool
		nbf  map[string]int64 // principal id → latest not_before
		err  error
	}
	states := make([]state, followers)
	var wg sync.WaitGroup
	done := make(chan struct{})
	for f := range followers {
		in := []*feedInstance{a, b}[f%2] // the two instances share the followers
		wg.Go(func() {
			st := state{jtis: map[string]bool{}, nbf: map[string]int64{}}
			defer func() { states[f] = st }()
			cursor := ""
			deadline := time.Now().Add(30 * time.Second)
			for {
				ans, _, err := in.tryPoll(cursor, 5)
				if err != nil {
					st.err = err
					return
				}
				for _, j := range ans.JTIs {
					st.jtis[j.JTI] = true
				}
				for _, c := range ans.Cutoffs {
					st.nbf[c.ID] = max(st.nbf[c.ID], c.NotBefore)
				}
				cursor = ans.Cursor
				select {
				case <-done:
					if complete(st.jtis, st.nbf) {
						return
					}
				default:
				}
				if time.Now().After(deadline) {
					return
				}
			}
		})
	}
	var revoking sync.WaitGroup
	errs := make(chan error, revokers)
	for r := range revokers {
		store := []*storage.Store{a.Store, b.Store}[r%2]
		revoking.Go(func() {
			for i := range each {
				if err := store.RevokeJTI(ctx, fmt.Sprintf("r%d-%d", r, i), exp); err != nil {
					errs <- err
					return
				}
				// Each revoker moves its own subject's cutoff forward.
				cut := storage.Cutoff{Principal: storage.SubjectCutoff(fmt.Sprint("s", r)), NotBefore: nbf.Add(time.Duration(i) * time.Millisecond), Until: exp}
				if err := store.SetCutoff(ctx, cut); err != nil {
					errs <- err
					return
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	revoking.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	close(done)
	wg.Wait()
	for f, st := range states {
		if st.err != nil {
			t.Fatalf("follower %d: %v", f, st.err)
		}
		for _, j := range want {
			if !st.jtis[j] {
				t.Fatalf("follower %d never saw %s (saw %d of %d)", f, j, len(st.jtis), len(want))
			}
		}
		for r := range revokers {
			if got := st.nbf[fmt.Sprint("s", r)]; got != lastNBF {
				t.Fatalf("follower %d: s%d not_before %d, want %d", f, r, got, lastNBF)
			}
		}
	}
}
