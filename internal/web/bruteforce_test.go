package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/oauth2d/oauth2d/internal/oauth"
	"github.com/oauth2d/oauth2d/internal/ratelimit"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// The brute-force rules (DESIGN.md §8, package ratelimit) at both places a
// password is checked, the password grant and the login page, from real
// loopback addresses: 127.0.0.1 is the attacker unless said otherwise.

const (
	passwordClientID     = "password-app"
	passwordClientSecret = "password-app-secret-0123456789"
)

// productionLimits are the defaults of configs/oauth2d.yaml.
var productionLimits = ratelimit.Limits{PerUsernameIP: 5, PerIP: 20, PerUsername: 30}

// cheapHash keeps seeding many users fast; verification reads the
// parameters from the hash.
func cheapHash(t *testing.T, pw string) string {
	t.Helper()
	h, err := secret.NewHasher(secret.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}).Hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func newBruteForceServer(t *testing.T, limits ratelimit.Limits) *webtest.Server {
	t.Helper()
	s := webtest.New(t, webtest.Options{Limits: limits})
	err := s.Store.CreateClient(context.Background(), &storage.Client{ID: passwordClientID, SecretHash: cheapHash(t, passwordClientSecret),
		FirstParty: true, GrantTypes: []string{"password"}, Scopes: webtest.AllScopes})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// transportFrom connects from a loopback address of its own, so the
// server sees another client address.
func transportFrom(ip string) *http.Transport {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Transport{DialContext: d.DialContext}
}

func browserFrom(t *testing.T, s *webtest.Server, ip string) *webtest.Browser {
	b := s.NewBrowser(t)
	b.Client.Transport = transportFrom(ip)
	return b
}

type tokenAnswer struct {
	status     int
	retryAfter string
	errorCode  string
}

// passwordGrant asks for a token with username and password from ip.
func passwordGrant(t *testing.T, s *webtest.Server, ip, username, password string) tokenAnswer {
	t.Helper()
	form := url.Values{"grant_type": {"password"}, "username": {username}, "password": {password}, "scope": {"openid"}}
	req, err := http.NewRequest(http.MethodPost, s.URL+oauth.TokenPath, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(passwordClientID, passwordClientSecret)
	resp, err := (&http.Client{Transport: transportFrom(ip)}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var e struct {
		Error string `json:"error"`
	}
	if resp.StatusCode != http.StatusOK {
		if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
			t.Fatalf("status %d with a body that is not an RFC 6749 error: %q", resp.StatusCode, body)
		}
	}
	return tokenAnswer{resp.StatusCode, resp.Header.Get("Retry-After"), e.Error}
}

func checkThrottledToken(t *testing.T, a tokenAnswer) {
	t.Helper()
	if a.status != http.StatusTooManyRequests || a.errorCode != "invalid_request" {
		t.Fatalf("throttled answer: %+v", a)
	}
	if n, err := strconv.Atoi(a.retryAfter); err != nil || n < 1 || n > 60 {
		t.Fatalf("Retry-After %q", a.retryAfter)
	}
}

func checkThrottledPage(t *testing.T, p *webtest.Page) {
	t.Helper()
	if p.Status != http.StatusTooManyRequests || !strings.Contains(p.Body, "Too many failed sign-in attempts") {
		t.Fatalf("throttled page: %d %.200q", p.Status, p.Body)
	}
	if n, err := strconv.Atoi(p.Header.Get("Retry-After")); err != nil || n < 1 || n > 60 {
		t.Fatalf("Retry-After %q", p.Header.Get("Retry-After"))
	}
}

// Done when (issue 9): 30 users with the right password from one address
// within a minute all get in, at the token endpoint and at the login page.
func TestManyUsersFromOneAddress(t *testing.T) {
	s := newBruteForceServer(t, productionLimits)
	ctx := context.Background()
	const n = 30
	for i := range n {
		u := &storage.User{ID: fmt.Sprintf("u-nat-%d", i), Username: fmt.Sprintf("nat%d", i), PasswordHash: cheapHash(t, "right-password")}
		if err := s.Store.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if a := passwordGrant(t, s, "127.0.0.1", fmt.Sprintf("nat%d", i), "right-password"); a.status != http.StatusOK {
			t.Fatalf("password grant of user %d: %+v", i, a)
		}
	}
	for i := range n {
		b := s.NewBrowser(t)
		if p := b.SubmitLogin(b.Get("/login"), fmt.Sprintf("nat%d", i), "right-password"); p.Status != http.StatusOK || !signedIn(t, b) {
			t.Fatalf("login of user %d: %d", i, p.Status)
		}
	}
}

// checkFewGuessesJudged makes 40 wrong guesses with guess, which checks
// its answer and reports whether the password was judged (rather than
// throttled), and fails unless 1 to 15 of them were: the budget lets a
// few through, then throttles the rest.
func checkFewGuessesJudged(t *testing.T, guess func(i int) (judged bool)) {
	t.Helper()
	judged := 0
	for i := range 40 {
		if guess(i) {
			judged++
		}
	}
	if judged > 15 || judged < 1 {
		t.Fatalf("%d of 40 guesses judged, want 1..15", judged)
	}
	t.Logf("%d of 40 guesses judged", judged)
}

// Done when (issue 9): 40 wrong passwords in a row for one user from one
// address are judged at most 15 times, the rest are 429 with Retry-After;
// right afterwards the owner gets in from another address.
func TestGuessingIsThrottledWithoutLockout(t *testing.T) {
	s := newBruteForceServer(t, productionLimits)
	t.Run("token endpoint", func(t *testing.T) {
		checkFewGuessesJudged(t, func(i int) bool {
			a := passwordGrant(t, s, "127.0.0.1", "alice", fmt.Sprintf("guess-%d", i))
			if a.status != http.StatusBadRequest {
				checkThrottledToken(t, a)
				return false
			}
			if a.errorCode != "invalid_grant" {
				t.Fatalf("attempt %d: %+v", i, a)
			}
			return true
		})
		if a := passwordGrant(t, s, "127.0.0.1", "alice", webtest.AlicePassword); a.status != http.StatusTooManyRequests {
			t.Fatalf("the right password from the guessing address passed: %+v", a)
		}
		if a := passwordGrant(t, s, "127.0.0.2", "alice", webtest.AlicePassword); a.status != http.StatusOK {
			t.Fatalf("the owner from another address: %+v", a)
		}
	})
	t.Run("login page", func(t *testing.T) {
		attacker := s.NewBrowser(t)
		checkFewGuessesJudged(t, func(i int) bool {
			p := attacker.SubmitLogin(attacker.Get("/login"), "bob", fmt.Sprintf("guess-%d", i))
			if p.Status != http.StatusBadRequest {
				checkThrottledPage(t, p)
				return false
			}
			if !strings.Contains(p.Body, "Incorrect username or password.") {
				t.Fatalf("attempt %d: %.200q", i, p.Body)
			}
			return true
		})
		owner := browserFrom(t, s, "127.0.0.2")
		if p := owner.SubmitLogin(owner.Get("/login"), "bob", webtest.BobPassword); p.Status != http.StatusOK || !signedIn(t, owner) {
			t.Fatalf("the owner from another address: %d", p.Status)
		}
	})
}

// The budgets are shared by the two places: failures at the token
// endpoint count at the login page and back.
func TestBudgetsAreSharedByGrantAndPage(t *testing.T) {
	s := newBruteForceServer(t, ratelimit.Limits{PerUsernameIP: 4, PerIP: 100, PerUsername: 100})
	for i := range 2 {
		if a := passwordGrant(t, s, "127.0.0.1", "alice", fmt.Sprintf("guess-%d", i)); a.status != http.StatusBadRequest {
			t.Fatalf("guess %d: %+v", i, a)
		}
	}
	b := s.NewBrowser(t)
	for i := range 2 {
		if p := b.SubmitLogin(b.Get("/login"), "alice", fmt.Sprintf("guess-page-%d", i)); p.Status != http.StatusBadRequest {
			t.Fatalf("page guess %d: %d", i, p.Status)
		}
	}
	checkThrottledToken(t, passwordGrant(t, s, "127.0.0.1", "alice", "guess-x"))
	checkThrottledPage(t, b.SubmitLogin(b.Get("/login"), "alice", "guess-y"))
}

// The per-address budget stops password spraying: one guess at each of
// many accounts.
func TestPerAddressBudget(t *testing.T) {
	s := newBruteForceServer(t, ratelimit.Limits{PerUsernameIP: 5, PerIP: 6, PerUsername: 100})
	for i := range 3 {
		if a := passwordGrant(t, s, "127.0.0.3", fmt.Sprintf("sprayed%d", i), "Winter2024!"); a.status != http.StatusBadRequest {
			t.Fatalf("token guess %d: %+v", i, a)
		}
	}
	b := browserFrom(t, s, "127.0.0.3")
	for i := 3; i < 6; i++ {
		if p := b.SubmitLogin(b.Get("/login"), fmt.Sprintf("sprayed%d", i), "Winter2024!"); p.Status != http.StatusBadRequest {
			t.Fatalf("page guess %d: %d", i, p.Status)
		}
	}
	checkThrottledToken(t, passwordGrant(t, s, "127.0.0.3", "sprayed7", "Winter2024!"))
	checkThrottledPage(t, b.SubmitLogin(b.Get("/login"), "sprayed8", "Winter2024!"))
	// Other addresses are not affected.
	if a := passwordGrant(t, s, "127.0.0.4", "alice", webtest.AlicePassword); a.status != http.StatusOK {
		t.Fatalf("another address: %+v", a)
	}
}

// The per-username budget stops guessing at one account spread over many
// addresses; each address spends at most its per-(username, address)
// budget of it.
func TestPerUsernameBudget(t *testing.T) {
	s := newBruteForceServer(t, ratelimit.Limits{PerUsernameIP: 2, PerIP: 100, PerUsername: 5})
	var got []int
	for i := range 4 {
		ip := fmt.Sprintf("127.0.1.%d", i+1)
		for range 2 {
			got = append(got, passwordGrant(t, s, ip, "admin", "guess").status)
		}
	}
	want := []int{400, 400, 400, 400, 400, 429, 429, 429}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
	b := browserFrom(t, s, "127.0.1.9")
	checkThrottledPage(t, b.SubmitLogin(b.Get("/login"), "admin", "guess"))
}

// Done when (issue 9): 50 password grants with 60,000-character usernames
// are 4xx and grow Redis by at most 256 KiB. A username longer than any
// registered one is refused before any hash or Redis work, so it makes no
// budget key; the same at the login page.
func TestOverlongUsername(t *testing.T) {
	s := newBruteForceServer(t, productionLimits)
	rdb := s.Store.Redis()
	long := strings.Repeat("u", 60000)
	before := usedMemory(t, rdb)
	for i := range 50 {
		if a := passwordGrant(t, s, "127.0.0.1", long, "pw"); a.status != http.StatusBadRequest || a.errorCode != "invalid_request" {
			t.Fatalf("token endpoint #%d: %+v", i, a)
		}
	}
	b := s.NewBrowser(t)
	form := b.Get("/login")
	for i := range 50 {
		p := b.SubmitLogin(form, long, "pw")
		if p.Status != http.StatusBadRequest || strings.Contains(p.Body, long) {
			t.Fatalf("login page #%d: %d, %d bytes", i, p.Status, len(p.Body))
		}
	}
	grown := usedMemory(t, rdb) - before
	t.Logf("Redis used_memory grew by %d bytes over 50 password grants and 50 login posts with 60,000-character usernames", grown)
	if grown > 256<<10 {
		t.Fatalf("Redis grew by %d bytes, want at most 256 KiB", grown)
	}
	// Nor do they spend budget: the owner is not throttled.
	if a := passwordGrant(t, s, "127.0.0.1", "alice", webtest.AlicePassword); a.status != http.StatusOK {
		t.Fatalf("alice after the long names: %+v", a)
	}
}
