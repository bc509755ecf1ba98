package account_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/config"
	"github.com/oauth2d/oauth2d/internal/problem"
	"github.com/oauth2d/oauth2d/internal/ratelimit"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testredis"
)

func TestMain(m *testing.M) { testredis.Main(m) }

// users has everyone: a username's password is "<username>-password"
// (the fake verify below knows this).
type users struct{}

func (users) GetUserByUsername(_ context.Context, name string) (*storage.User, error) {
	return &storage.User{ID: "u-" + name, Username: name, PasswordHash: name + "-password"}, nil
}

// countingChecker is the password checker with verify replaced: it counts
// the checks that ran, each taking a while as argon2id does.
func countingChecker(t *testing.T, checks *atomic.Int64) *secret.Checker {
	t.Helper()
	c, err := secret.NewChecker(16, func(hash, presented string) (bool, error) {
		checks.Add(1)
		time.Sleep(5 * time.Millisecond)
		return hash == presented, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// shippedLimiter is the login limiter as serve builds it from the
// built-in configuration, one per instance.
func shippedLimiter(t *testing.T, rs *testredis.Server, now func() time.Time) *ratelimit.Limiter {
	rl := config.Default().RateLimit
	return ratelimit.New(rs.Client(t), rs.Prefix, ratelimit.Limits{
		PerUsernameIP: rl.LoginPerUsernameIP, PerIP: rl.LoginPerIP, PerUsername: rl.LoginPerUsername,
	}, ratelimit.WithMaxPending(rl.LoginMaxPending), ratelimit.WithMaxWait(rl.LoginMaxWait), ratelimit.WithClock(now))
}

// However many wrong guesses arrive at once, at two instances, the
// passwords actually checked within a window never exceed the budget
// (the allowance for attempts in flight is zero: they wait for a place),
// and every one not checked is refused for the spent budget.
func TestLoginConcurrentWrongGuessesStayWithinBudget(t *testing.T) {
	rl := config.Default().RateLimit
	tests := []struct {
		name     string
		username func(i int) string
		ip       func(i int) string
		budget   int
	}{
		{"one account, one address", func(int) string { return "alice" }, func(int) string { return "192.0.2.1" }, rl.LoginPerUsernameIP},
		{"many accounts, one address", func(i int) string { return fmt.Sprint("user", i) }, func(int) string { return "192.0.2.2" }, rl.LoginPerIP},
		{"one account, many addresses", func(int) string { return "bob" }, func(i int) string { return fmt.Sprint("198.51.100.", i%16) }, rl.LoginPerUsername},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs := testredis.New(t)
			frozen := time.Unix(1_700_000_000, 0) // no unit comes back during the test
			now := func() time.Time { return frozen }
			instances := []*ratelimit.Limiter{shippedLimiter(t, rs, now), shippedLimiter(t, rs, now)}
			var checks atomic.Int64
			checker := countingChecker(t, &checks)
			const guesses = 200
			errs := make([]error, guesses)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range guesses {
				wg.Go(func() {
					<-start
					_, errs[i] = account.Login(context.Background(), instances[i%2], users{}, checker, tc.username(i), "guess", tc.ip(i))
				})
			}
			close(start)
			wg.Wait()
			bad, throttled := 0, 0
			for _, err := range errs {
				var th *ratelimit.Throttled
				switch {
				case errors.Is(err, account.ErrBadCredentials):
					bad++
				case errors.As(err, &th):
					throttled++
				default:
					t.Fatalf("a guess ended with %v", err)
				}
			}
			if n := checks.Load(); n > int64(tc.budget) || bad != int(n) {
				t.Fatalf("%d passwords checked (%d answered wrong) of %d concurrent guesses; the budget is %d", n, bad, guesses, tc.budget)
			}
			if bad != tc.budget || throttled != guesses-tc.budget {
				t.Fatalf("%d wrong, %d throttled; want the budget (%d) wrong and the rest throttled", bad, throttled, tc.budget)
			}
		})
	}
}

// A login refused for overload is answered as an outage is (503 with
// Retry-After, problem.Unavailable), is not a wrong password or a spent
// budget, and checks nothing.
func TestLoginOverloadIsUnavailable(t *testing.T) {
	rs := testredis.New(t)
	lim := ratelimit.New(rs.Client(t), rs.Prefix, ratelimit.Limits{PerUsernameIP: 5}, ratelimit.WithMaxPending(1))
	entered, release := make(chan struct{}), make(chan struct{})
	var checks atomic.Int64
	checker, err := secret.NewChecker(4, func(hash, presented string) (bool, error) {
		if checks.Add(1) == 1 {
			close(entered)
			<-release
		}
		return hash == presented, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var freeOnce sync.Once
	free := func() { freeOnce.Do(func() { close(release) }) }
	t.Cleanup(free)
	first := make(chan error, 1)
	go func() {
		_, err := account.Login(context.Background(), lim, users{}, checker, "carol", "carol-password", "192.0.2.3")
		first <- err
	}()
	<-entered // the one attempt this instance may hold is being checked
	_, err = account.Login(context.Background(), lim, users{}, checker, "dave", "dave-password", "192.0.2.4")
	var th *ratelimit.Throttled
	if !problem.Unavailable(err) || !errors.Is(err, ratelimit.ErrBusy) || errors.Is(err, account.ErrBadCredentials) || errors.As(err, &th) {
		t.Fatalf("login while overloaded: %v; want an outage (503), not a refusal", err)
	}
	free()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if n := checks.Load(); n != 1 {
		t.Fatalf("%d passwords checked, want 1 (the overloaded login's was not)", n)
	}
}
