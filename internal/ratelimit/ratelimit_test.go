package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth2d/oauth2d/internal/ratelimit"
	"github.com/oauth2d/oauth2d/internal/testredis"
)

func TestMain(m *testing.M) { testredis.Main(m) }

// clock is a fake clock the tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	lim       *ratelimit.Limiter
	clock     *clock
	rs        *testredis.Server
	throttled map[string]int
	mu        sync.Mutex
}

func newFixture(t *testing.T, limits ratelimit.Limits) *fixture {
	t.Helper()
	rs := testredis.New(t)
	f := &fixture{clock: &clock{t: time.Unix(1_700_000_000, 0)}, rs: rs, throttled: map[string]int{}}
	f.lim = ratelimit.New(rs.Client(t), rs.Prefix, limits, ratelimit.WithClock(f.clock.now),
		ratelimit.WithThrottleObserver(func(b string) { f.mu.Lock(); f.throttled[b]++; f.mu.Unlock() }))
	return f
}

var (
	pass = func(context.Context) (bool, error) { return true, nil }
	fail = func(context.Context) (bool, error) { return false, nil }
)

// attempt runs one guarded check and says how it ended: "ok", "bad", or
// the budget that throttled it.
func (f *fixture) attempt(t *testing.T, user, ip string, check func(context.Context) (bool, error)) string {
	t.Helper()
	judged := false
	ok, err := f.lim.Guard(context.Background(), user, ip, func(ctx context.Context) (bool, error) {
		judged = true
		return check(ctx)
	})
	var th *ratelimit.Throttled
	switch {
	case errors.As(err, &th):
		if judged {
			t.Fatal("a throttled attempt was judged")
		}
		if th.RetryAfter < time.Second || th.RetryAfter > time.Minute {
			t.Fatalf("RetryAfter = %v", th.RetryAfter)
		}
		return th.Budget
	case err != nil:
		t.Fatal(err)
	case ok:
		return "ok"
	}
	return "bad"
}

func repeat(n int, s string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestBudgets(t *testing.T) {
	limits := ratelimit.Limits{PerUsernameIP: 3, PerIP: 5, PerUsername: 7}
	t.Run("per username and address", func(t *testing.T) {
		f := newFixture(t, limits)
		var got []string
		for range 5 {
			got = append(got, f.attempt(t, "alice", "192.0.2.1", fail))
		}
		want := append(repeat(3, "bad"), repeat(2, ratelimit.BudgetUsernameIP)...)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("got %v, want %v", got, want)
		}
		// The right password from the same address waits too...
		if r := f.attempt(t, "alice", "192.0.2.1", pass); r != ratelimit.BudgetUsernameIP {
			t.Fatalf("right password from the guessing address: %s", r)
		}
		// ...but not from the owner's address: the refused attempts spent
		// nothing of the per-username budget.
		if r := f.attempt(t, "alice", "198.51.100.7", pass); r != "ok" {
			t.Fatalf("owner from another address: %s", r)
		}
		// One failure regained every minute/limit.
		f.clock.add(20 * time.Second)
		if r := f.attempt(t, "alice", "192.0.2.1", fail); r != "bad" {
			t.Fatalf("after 20s: %s", r)
		}
		if r := f.attempt(t, "alice", "192.0.2.1", fail); r != ratelimit.BudgetUsernameIP {
			t.Fatalf("second after 20s: %s", r)
		}
	})
	t.Run("per address across usernames", func(t *testing.T) {
		f := newFixture(t, limits)
		var got []string
		for _, u := range []string{"a", "b", "c", "d", "e", "f", "g"} {
			got = append(got, f.attempt(t, u, "192.0.2.2", fail))
		}
		want := append(repeat(5, "bad"), repeat(2, ratelimit.BudgetIP)...)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("got %v, want %v", got, want)
		}
		if r := f.attempt(t, "h", "192.0.2.3", fail); r != "bad" {
			t.Fatalf("another address: %s", r)
		}
		// A refused attempt gave back the per-(username, address) unit it
		// had taken: "f" has its whole budget.
		f.clock.add(time.Minute)
		for range 3 {
			if r := f.attempt(t, "f", "192.0.2.2", fail); r != "bad" {
				t.Fatalf("f after a minute: %s", r)
			}
		}
	})
	t.Run("per username across addresses", func(t *testing.T) {
		f := newFixture(t, limits)
		var got []string
		for i := range 9 {
			got = append(got, f.attempt(t, "bob", "203.0.113."+string(rune('1'+i)), fail))
		}
		want := append(repeat(7, "bad"), repeat(2, ratelimit.BudgetUsername)...)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("got %v, want %v", got, want)
		}
		if f.throttled[ratelimit.BudgetUsername] != 2 {
			t.Fatalf("observer saw %v", f.throttled)
		}
	})
	t.Run("successes spend nothing", func(t *testing.T) {
		f := newFixture(t, limits)
		for i := range 50 {
			if r := f.attempt(t, "user"+string(rune('A'+i)), "192.0.2.9", pass); r != "ok" {
				t.Fatalf("success %d: %s", i, r)
			}
			if r := f.attempt(t, "alice", "192.0.2.9", pass); r != "ok" {
				t.Fatalf("alice's success %d: %s", i, r)
			}
		}
		for range 3 {
			if r := f.attempt(t, "alice", "192.0.2.9", fail); r != "bad" {
				t.Fatalf("failure after successes: %s", r)
			}
		}
	})
	t.Run("errors of the check spend nothing", func(t *testing.T) {
		f := newFixture(t, limits)
		boom := errors.New("boom")
		for range 10 {
			_, err := f.lim.Guard(context.Background(), "carol", "192.0.2.10", func(context.Context) (bool, error) { return false, boom })
			if !errors.Is(err, boom) {
				t.Fatalf("err = %v", err)
			}
		}
		if r := f.attempt(t, "carol", "192.0.2.10", fail); r != "bad" {
			t.Fatalf("after errors: %s", r)
		}
	})
	t.Run("a zero budget is off", func(t *testing.T) {
		f := newFixture(t, ratelimit.Limits{PerUsernameIP: 2})
		for range 2 {
			f.attempt(t, "dave", "192.0.2.11", fail)
		}
		if r := f.attempt(t, "dave", "192.0.2.11", fail); r != ratelimit.BudgetUsernameIP {
			t.Fatalf("third: %s", r)
		}
		for i := range 20 {
			if r := f.attempt(t, "dave"+string(rune('a'+i)), "192.0.2.11", fail); r != "bad" {
				t.Fatalf("no per-address budget, attempt %d: %s", i, r)
			}
		}
	})
}

func TestRetryAfter(t *testing.T) {
	f := newFixture(t, ratelimit.Limits{PerUsernameIP: 2})
	f.attempt(t, "erin", "192.0.2.12", fail)
	f.attempt(t, "erin", "192.0.2.12", fail)
	_, err := f.lim.Guard(context.Background(), "erin", "192.0.2.12", pass)
	var th *ratelimit.Throttled
	if !errors.As(err, &th) {
		t.Fatalf("err = %v", err)
	}
	// Two failures at once: the next unit is free one interval (30s) on.
	if th.RetryAfter != 30*time.Second || th.RetryAfterSeconds() != "30" {
		t.Fatalf("RetryAfter = %v (%s)", th.RetryAfter, th.RetryAfterSeconds())
	}
	f.clock.add(29*time.Second + 500*time.Millisecond)
	_, err = f.lim.Guard(context.Background(), "erin", "192.0.2.12", pass)
	if !errors.As(err, &th) || th.RetryAfterSeconds() != "1" {
		t.Fatalf("half a second before: %v", err)
	}
	f.clock.add(time.Second)
	if r := f.attempt(t, "erin", "192.0.2.12", pass); r != "ok" {
		t.Fatalf("after the wait: %s", r)
	}
}

// Keys live under the prefix, have a fixed length whatever the username,
// never hold it in clear, and expire.
func TestKeys(t *testing.T) {
	f := newFixture(t, ratelimit.Limits{PerUsernameIP: 5, PerIP: 5, PerUsername: 5})
	long := strings.Repeat("x", 60000) + "secret-name"
	f.attempt(t, long, "192.0.2.14", fail)
	f.attempt(t, "grace", "192.0.2.14", fail)
	rdb := f.rs.Client(t)
	ctx := context.Background()
	keys := allKeys(t, rdb)
	var mine int
	for _, k := range keys {
		if !strings.HasPrefix(k, f.rs.Prefix) {
			continue
		}
		mine++
		if !strings.HasPrefix(k, f.rs.Prefix+"budget:") || len(k) > len(f.rs.Prefix)+60 {
			t.Errorf("key %.80q", k)
		}
		if strings.Contains(k, "grace") || strings.Contains(k, "secret-name") || strings.Contains(k, "192.0.2") {
			t.Errorf("key holds the username or address: %q", k)
		}
		if ttl := rdb.PTTL(ctx, k).Val(); ttl <= 0 || ttl > time.Minute {
			t.Errorf("key %q has TTL %v", k, ttl)
		}
	}
	// username_ip ×2, ip ×1, username ×2
	if mine != 5 {
		t.Fatalf("%d keys under the prefix, want 5: %v", mine, keys)
	}
	for _, k := range keys {
		if strings.HasPrefix(k, "rate:") {
			t.Errorf("a key outside the prefix: %q", k)
		}
	}
}

// allKeys lists every key, on every master of a Cluster.
func allKeys(t *testing.T, rdb redis.UniversalClient) []string {
	t.Helper()
	keys, err := testredis.Keys(context.Background(), rdb, "*")
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// An IPv6 client is counted by its /64: one subscriber's addresses share a
// budget. IPv4, and IPv4-mapped IPv6, by the address.
func TestIPv6CountedBySlash64(t *testing.T) {
	tests := []struct {
		name    string
		spend   [2]string // two failures that use up the budget of PerIP: 2
		same    string    // counted with them: throttled
		another string    // counted apart: judged
	}{
		{"IPv6 by the /64", [2]string{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9"}, "2001:db8:1:2:abcd::1", "2001:db8:1:3::1"},
		{"IPv4-mapped IPv6 as IPv4", [2]string{"192.0.2.50", "::ffff:192.0.2.50"}, "192.0.2.50", "192.0.2.51"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, ratelimit.Limits{PerIP: 2})
			f.attempt(t, "a", tc.spend[0], fail)
			f.attempt(t, "b", tc.spend[1], fail)
			if r := f.attempt(t, "c", tc.same, fail); r != ratelimit.BudgetIP {
				t.Fatalf("%s after %v: %s, want %s", tc.same, tc.spend, r, ratelimit.BudgetIP)
			}
			if r := f.attempt(t, "d", tc.another, fail); r != "bad" {
				t.Fatalf("%s after %v: %s, want bad", tc.another, tc.spend, r)
			}
		})
	}
}

// The same budgets kept by several instances: attempts of all of them,
// at once, still get no more failed checks than the budget, and a right
// password among them is never refused for the others still in flight.
func TestConcurrentAttemptsAcrossInstances(t *testing.T) {
	limits := ratelimit.Limits{PerUsernameIP: 5, PerIP: 20, PerUsername: 30}
	tests := []struct {
		name      string
		user, ip  func(i int) string
		right     bool
		maxJudged int // failed checks the budget allows; 0: every attempt is judged
	}{
		{"wrong guesses at one account from one address",
			func(int) string { return "frank" }, func(int) string { return "192.0.2.13" }, false, 5},
		{"wrong guesses at many accounts from one address",
			func(i int) string { return fmt.Sprint("user", i) }, func(int) string { return "192.0.2.14" }, false, 20},
		{"wrong guesses at one account from many addresses",
			func(int) string { return "grace" }, func(i int) string { return fmt.Sprint("198.51.100.", i%8) }, false, 30},
		{"right passwords of one account from one address",
			func(int) string { return "heidi" }, func(int) string { return "192.0.2.15" }, true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, limits)
			// A second instance: its own Limiter on the same keys.
			other := ratelimit.New(f.rs.Client(t), f.rs.Prefix, limits, ratelimit.WithClock(f.clock.now))
			var judged, inCheck, mostInCheck atomic.Int32
			var wg sync.WaitGroup
			const attempts = 120
			outcomes := make([]error, attempts)
			for i := range attempts {
				lim := f.lim
				if i%2 == 1 {
					lim = other
				}
				wg.Go(func() {
					_, outcomes[i] = lim.Guard(context.Background(), tc.user(i), tc.ip(i), func(context.Context) (bool, error) {
						judged.Add(1)
						n := inCheck.Add(1)
						for m := mostInCheck.Load(); n > m && !mostInCheck.CompareAndSwap(m, n); m = mostInCheck.Load() {
						}
						time.Sleep(5 * time.Millisecond) // a hash check takes a while
						inCheck.Add(-1)
						return tc.right, nil
					})
				})
			}
			wg.Wait()
			for _, err := range outcomes {
				var th *ratelimit.Throttled
				if err != nil && (tc.right || !errors.As(err, &th)) {
					t.Fatalf("an attempt ended with %v", err)
				}
			}
			if tc.right {
				if n := judged.Load(); n != attempts {
					t.Fatalf("%d of %d right passwords were judged", n, attempts)
				}
				// They took turns: never more in flight than the budget.
				if m := mostInCheck.Load(); int(m) > limits.PerUsernameIP {
					t.Fatalf("%d checks ran at once, budget %d", m, limits.PerUsernameIP)
				}
				return
			}
			if n := judged.Load(); int(n) != tc.maxJudged {
				t.Fatalf("%d of %d concurrent wrong guesses were checked, want the budget, %d", n, attempts, tc.maxJudged)
			}
		})
	}
}

// An instance that dies during a check holds its place in the budgets
// until the place's lease (a minute past the wait bound) runs out: the
// place is not a failure, and then it is not held any more.
func TestPlaceOfAVanishedAttemptExpires(t *testing.T) {
	f := newFixture(t, ratelimit.Limits{PerUsernameIP: 1})
	lim := ratelimit.New(f.rs.Client(t), f.rs.Prefix, ratelimit.Limits{PerUsernameIP: 1},
		ratelimit.WithClock(f.clock.now), ratelimit.WithMaxWait(time.Second))
	entered, hang := make(chan struct{}), make(chan struct{})
	defer close(hang)
	go func() {
		_, _ = f.lim.Guard(context.Background(), "ivan", "192.0.2.16", func(context.Context) (bool, error) {
			close(entered)
			<-hang // never ends while the test runs: its instance is gone
			return false, nil
		})
	}()
	<-entered
	if _, err := lim.Guard(context.Background(), "ivan", "192.0.2.16", pass); !errors.Is(err, ratelimit.ErrBusy) {
		t.Fatalf("while the only place is held: %v, want ErrBusy", err)
	}
	f.clock.add(time.Minute + time.Second + time.Millisecond) // the lease: wait bound + a minute
	if ok, err := lim.Guard(context.Background(), "ivan", "192.0.2.16", pass); !ok || err != nil {
		t.Fatalf("after the lease: %v, %v", ok, err)
	}
}

// Overload is ErrBusy, never a spent budget, and spends nothing: too many
// attempts held at once, or a wait for a turn past the bound (for places
// held by attempts in flight, or inside the check, where the password
// checker's queue takes Guard's context).
func TestOverloadIsBusy(t *testing.T) {
	limits := ratelimit.Limits{PerUsernameIP: 1, PerIP: 10, PerUsername: 10}
	blocked := func(entered chan<- struct{}, release <-chan struct{}) func(context.Context) (bool, error) {
		return func(context.Context) (bool, error) {
			entered <- struct{}{}
			<-release
			return true, nil
		}
	}
	tests := []struct {
		name   string
		opts   []ratelimit.Option
		second func(ctx context.Context) (bool, error) // the second attempt's check, from the same user and address
	}{
		{"more attempts than max pending", []ratelimit.Option{ratelimit.WithMaxPending(1)}, pass},
		{"waiting for a place past max wait", []ratelimit.Option{ratelimit.WithMaxWait(100 * time.Millisecond)}, pass},
		{"waiting in the check past max wait", []ratelimit.Option{ratelimit.WithMaxWait(100 * time.Millisecond)},
			func(ctx context.Context) (bool, error) { <-ctx.Done(); return false, ctx.Err() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, limits)
			lim := ratelimit.New(f.rs.Client(t), f.rs.Prefix, limits, append(tc.opts, ratelimit.WithClock(f.clock.now))...)
			entered, release := make(chan struct{}), make(chan struct{})
			var freeOnce sync.Once
			free := func() { freeOnce.Do(func() { close(release) }) }
			t.Cleanup(free)
			first := make(chan error, 1)
			go func() {
				_, err := lim.Guard(context.Background(), "judy", "192.0.2.17", blocked(entered, release))
				first <- err
			}()
			<-entered
			user := "judy"
			if strings.Contains(tc.name, "in the check") {
				user = "judy2" // a place of its own, so that it reaches its check
			}
			// Bounded here too, so that a Limiter that never sheds fails
			// the test instead of hanging it.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			start := time.Now()
			ok, err := lim.Guard(ctx, user, "192.0.2.17", tc.second)
			if ok || !errors.Is(err, ratelimit.ErrBusy) {
				t.Fatalf("second attempt: %v, %v; want ErrBusy", ok, err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("ErrBusy after %v", d)
			}
			free()
			if err := <-first; err != nil {
				t.Fatal(err)
			}
			// Nothing was spent: the budget of one failure is whole.
			if r := f.attempt(t, "judy", "192.0.2.17", fail); r != "bad" {
				t.Fatalf("after the overload: %s", r)
			}
		})
	}
}
