package oauth_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/config"
	"github.com/oauth2d/oauth2d/internal/oauth"
	"github.com/oauth2d/oauth2d/internal/ratelimit"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testenv"
)

// withShippedBudgets puts the brute-force budgets of the built-in
// configuration in place, built as serve builds them (server.loginLimiter),
// with maxWait for rate_limit.login_max_wait.
func withShippedBudgets(maxWait time.Duration) serverOption {
	return func(d *oauth.Deps, _ *ratelimit.Limits) {
		rl := config.Default().RateLimit
		store := d.Store.(*storage.Store)
		d.Limiter = ratelimit.New(store.Redis(), store.Prefix(), ratelimit.Limits{
			PerUsernameIP: rl.LoginPerUsernameIP, PerIP: rl.LoginPerIP, PerUsername: rl.LoginPerUsername,
		}, ratelimit.WithMaxPending(rl.LoginMaxPending), ratelimit.WithMaxWait(maxWait))
	}
}

// A first-party backend signs its users in from one address, many at
// once. With the shipped budgets, none of those right passwords may be
// answered "too many failed attempts": only failures spend the budgets
// (DESIGN §8), and an attempt still being checked is not a failure.
func TestRightPasswordsConcurrentlyFromOneAddress(t *testing.T) {
	tests := []struct {
		name  string
		users int
	}{
		{"one user", 1},
		{"three users", 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Every one of these attempts gets checked, two argon2id
			// hashes a request (client secret, password), which under
			// -race on a small shared machine queue for longer than the
			// shipped wait: that is overload shedding's business (503),
			// tested apart; this is about the budgets.
			s := newServer(t, withShippedBudgets(time.Minute))
			var usernames []string
			for i := range tc.users {
				name := fmt.Sprintf("backend-user-%d", i)
				u := &storage.User{ID: "u-" + name, Username: name, PasswordHash: testenv.Hash(t, name+"-password"), Roles: []string{"user"}}
				if err := s.Store.CreateUser(context.Background(), u); err != nil {
					t.Fatal(err)
				}
				usernames = append(usernames, name)
			}
			const total, atOnce = 64, 32
			statuses := make([]int, total)
			errs := make([]error, total)
			slots := make(chan struct{}, atOnce)
			var wg sync.WaitGroup
			for i := range total {
				slots <- struct{}{}
				wg.Go(func() {
					defer func() { <-slots }()
					name := usernames[i%len(usernames)]
					f := url.Values{"grant_type": {"password"}, "username": {name}, "password": {name + "-password"}}
					res, err := s.tryPost("/oauth2/token", f, firstPartyID, firstPartySecret)
					statuses[i], errs[i] = res.Status, err
				})
			}
			wg.Wait()
			counts := map[int]int{}
			for i, st := range statuses {
				if errs[i] != nil {
					t.Fatal(errs[i])
				}
				counts[st]++
			}
			if counts[http.StatusOK] != total {
				t.Fatalf("statuses of %d right passwords, %d at once, from one address: %v; want all 200", total, atOnce, counts)
			}
		})
	}
}

// Past the bound on password attempts an instance holds at once, the
// token endpoint sheds the next with 503 temporarily_unavailable and
// Retry-After (RFC 6749 §4.1.2.1's code, as for a storage outage): not a
// wrong password, not a spent budget, and the client may come back.
func TestPasswordGrantShedsOverload(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	checker, err := secret.NewChecker(4, func(hash, presented string) (bool, error) {
		if presented == alicePassword {
			once.Do(func() { close(entered); <-release })
		}
		return secret.Verify(hash, presented)
	})
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, func(d *oauth.Deps, _ *ratelimit.Limits) {
		d.Checker = checker
		store := d.Store.(*storage.Store)
		d.Limiter = ratelimit.New(store.Redis(), store.Prefix(), ratelimit.Limits{PerUsernameIP: 5, PerIP: 20, PerUsername: 30},
			ratelimit.WithMaxPending(1))
	})
	var freeOnce sync.Once
	free := func() { freeOnce.Do(func() { close(release) }) }
	t.Cleanup(free) // before the server closes, which waits for alice's request
	first := make(chan response, 1)
	go func() {
		f := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePassword}}
		res, err := s.tryPost("/oauth2/token", f, firstPartyID, firstPartySecret)
		if err != nil {
			res.Raw = err.Error()
		}
		first <- res
	}()
	<-entered // alice's attempt is the one this instance may hold
	f := url.Values{"grant_type": {"password"}, "username": {"admin"}, "password": {adminPassword}}
	res := s.post("/oauth2/token", f, firstPartyID, firstPartySecret)
	wantError(t, res, http.StatusServiceUnavailable, "temporarily_unavailable")
	if res.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	free()
	if res := <-first; res.Status != http.StatusOK {
		t.Fatalf("the attempt held meanwhile: %d %s", res.Status, res.Raw)
	}
	// Shedding spent nothing: admin signs in now.
	if res := s.post("/oauth2/token", f, firstPartyID, firstPartySecret); res.Status != http.StatusOK {
		t.Fatalf("after the overload: %d %s", res.Status, res.Raw)
	}
}
