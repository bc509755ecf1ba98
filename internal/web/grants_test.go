package web_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testenv"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// The account page lists every application that holds access to the
// user's account, whatever gave it, and removing one ends its refresh
// tokens: a first-party app (its consent is skipped, so nothing is
// remembered) through the code flow or the password grant, and a
// third-party app the user allowed without remembering the decision.
func TestAccountListsEveryGrant(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	const cliID, cliSecret = "first-party-cli", "first-party-cli-secret-0123456789"
	if err := s.Store.CreateClient(t.Context(), &storage.Client{ID: cliID, Name: "Command Line", FirstParty: true,
		SecretHash: testenv.Hash(t, cliSecret), GrantTypes: []string{"password", "refresh_token"},
		Scopes: []string{"openid", "profile", "offline_access"}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, clientID, clientName, secret string
		// grant signs alice in on b, has clientID granted "openid
		// profile offline_access", and returns its refresh token.
		grant func(t *testing.T, b *webtest.Browser) string
	}{
		{"first-party app, code flow", webtest.FirstPartyID, "First Party App", webtest.FirstPartySecret,
			func(t *testing.T, b *webtest.Browser) string {
				params, verifier := webtest.CodeRequest(webtest.FirstPartyID, "openid profile offline_access")
				cb := s.Callback(t, b.SubmitLogin(b.Authorize(params), "alice", webtest.AlicePassword))
				return s.Exchange(t, cb.Get("code"), verifier, webtest.FirstPartyID, webtest.FirstPartySecret).Str("refresh_token")
			}},
		{"first-party app, password grant", cliID, "Command Line", cliSecret,
			func(t *testing.T, b *webtest.Browser) string {
				signIn(t, b, "alice", webtest.AlicePassword)
				return s.PostToken(t, url.Values{"grant_type": {"password"}, "username": {"alice"},
					"password": {webtest.AlicePassword}, "scope": {"openid profile offline_access"}}, cliID, cliSecret).Str("refresh_token")
			}},
		{"third-party app, decision not remembered", webtest.ThirdPartyID, "Third Party App", webtest.ThirdPartySecret,
			func(t *testing.T, b *webtest.Browser) string {
				params, verifier := webtest.CodeRequest(webtest.ThirdPartyID, "openid profile offline_access")
				consent := b.SubmitLogin(b.Authorize(params), "alice", webtest.AlicePassword)
				cb := s.Callback(t, b.Follow(b.Post("/consent", url.Values{"decision": {"allow"}, "remember": {"no"},
					"csrf_token": {consent.Hidden("csrf_token")}, "req": {consent.Hidden("req")}})))
				return s.Exchange(t, cb.Get("code"), verifier, webtest.ThirdPartyID, webtest.ThirdPartySecret).Str("refresh_token")
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := s.NewBrowser(t)
			refresh := tc.grant(t, b)
			if refresh == "" {
				t.Fatal("no refresh token issued")
			}
			if _, err := s.Store.GetConsent(t.Context(), s.Alice.ID, tc.clientID); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("a consent is stored (%v): this case is about grants without one", err)
			}
			page := b.Get("/account/consents")
			if page.Status != http.StatusOK {
				t.Fatalf("account page: %d %s", page.Status, page.Body)
			}
			for _, want := range []string{"<h2>" + tc.clientName + "</h2>", revokeInput(tc.clientID),
				`<span class="scope-title">See your username and name</span>`, "It stays signed in without you: 1 active sign-in, the last on "} {
				if !strings.Contains(page.Body, want) {
					t.Fatalf("account page lacks %q:\n%s", want, page.Body)
				}
			}
			removed := b.Post("/account/consents/revoke", url.Values{"client_id": {tc.clientID}, "csrf_token": {page.Hidden("csrf_token")}})
			if removed.Status != http.StatusSeeOther {
				t.Fatalf("remove access: %d %s", removed.Status, removed.Body)
			}
			after := s.PostToken(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, tc.clientID, tc.secret)
			if after.Status != http.StatusBadRequest || after.Str("error") != "invalid_grant" {
				t.Fatalf("refresh after removing access: %d %s, want 400 invalid_grant", after.Status, after.Raw)
			}
			if page := b.Get("/account/consents"); strings.Contains(page.Body, revokeInput(tc.clientID)) {
				t.Fatalf("the application is still listed after its access was removed:\n%s", page.Body)
			}
		})
	}
}

// A remembered consent is listed even when nothing it allowed holds a
// refresh token (no offline_access), as it lets the app sign the user in
// again without asking.
func TestAccountListsConsentWithoutTokens(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	b := s.NewBrowser(t)
	params, _ := webtest.CodeRequest(webtest.ThirdPartyID, "openid profile")
	if cb := s.Callback(t, b.SubmitConsent(b.SubmitLogin(b.Authorize(params), "alice", webtest.AlicePassword), "allow")); cb.Get("code") == "" {
		t.Fatalf("callback = %v", cb)
	}
	page := b.Get("/account/consents")
	for _, want := range []string{"<h2>Third Party App</h2>", revokeInput(webtest.ThirdPartyID), `<span class="scope-title">See your username and name</span>`} {
		if !strings.Contains(page.Body, want) {
			t.Fatalf("account page lacks %q:\n%s", want, page.Body)
		}
	}
	if strings.Contains(page.Body, "stays signed in") {
		t.Fatalf("an app without refresh tokens is said to stay signed in:\n%s", page.Body)
	}
	removed := b.Post("/account/consents/revoke", url.Values{"client_id": {webtest.ThirdPartyID}, "csrf_token": {page.Hidden("csrf_token")}})
	if removed.Status != http.StatusSeeOther {
		t.Fatalf("remove access: %d %s", removed.Status, removed.Body)
	}
	if _, err := s.Store.GetConsent(t.Context(), s.Alice.ID, webtest.ThirdPartyID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("consent after removing access: %v, want storage.ErrNotFound", err)
	}
	if page := b.Get("/account/consents"); !strings.Contains(page.Body, "No application has access to your account.") {
		t.Fatalf("account page after removing access:\n%s", page.Body)
	}
}

// A user with more live logins than the store reads
// (storage.MaxGrantFamilies) is told that the list may miss some; what
// was read, and every remembered consent, is still listed.
func TestAccountSaysWhenGrantsAreCut(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	b := s.NewBrowser(t)
	params, _ := webtest.CodeRequest(webtest.ThirdPartyID, "openid profile")
	if cb := s.Callback(t, b.SubmitConsent(b.SubmitLogin(b.Authorize(params), "alice", webtest.AlicePassword), "allow")); cb.Get("code") == "" {
		t.Fatalf("callback = %v", cb)
	}
	const note = "You have signed in more often than this page can list"
	if page := b.Get("/account/consents"); strings.Contains(page.Body, note) {
		t.Fatalf("the page says it is cut for a user with no refresh tokens:\n%s", page.Body)
	}
	// Index entries of logins that live a day (their records need not
	// exist for the count).
	until := float64(time.Now().Add(24 * time.Hour).UnixMilli())
	logins := make([]redis.Z, storage.MaxGrantFamilies+1)
	for i := range logins {
		logins[i] = redis.Z{Score: until, Member: "login" + strconv.Itoa(i)}
	}
	if err := s.Store.Redis().ZAdd(t.Context(), s.Store.Prefix()+"user-fams:"+s.Alice.ID, logins...).Err(); err != nil {
		t.Fatal(err)
	}
	page := b.Get("/account/consents")
	for _, want := range []string{note, revokeInput(webtest.ThirdPartyID)} {
		if page.Status != http.StatusOK || !strings.Contains(page.Body, want) {
			t.Fatalf("account page (%d) lacks %q:\n%s", page.Status, want, page.Body)
		}
	}
}

// When Redis does not answer the reads of the user's refresh families,
// the account page is the 503 page with Retry-After, not a 500.
func TestAccountGrantsWhenRedisStalls(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	b := s.NewBrowser(t)
	params, verifier := webtest.CodeRequest(webtest.FirstPartyID, "openid offline_access")
	cb := s.Callback(t, b.SubmitLogin(b.Authorize(params), "alice", webtest.AlicePassword))
	if s.Exchange(t, cb.Get("code"), verifier, webtest.FirstPartyID, webtest.FirstPartySecret).Str("refresh_token") == "" {
		t.Fatal("no refresh token issued")
	}
	s.Store.Redis().AddHook(stallFamilies{prefix: s.Store.Prefix() + "rt:{"})
	p := b.Get("/account/consents")
	if p.Status != http.StatusServiceUnavailable || p.Header.Get("Retry-After") == "" {
		t.Fatalf("got %d Retry-After=%q, want 503 with Retry-After:\n%s", p.Status, p.Header.Get("Retry-After"), p.Body)
	}
}

// stallFamilies fails every pipeline that reads a refresh family as a
// Redis that stopped answering does: with a network timeout.
type stallFamilies struct{ prefix string }

func (stallFamilies) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (stallFamilies) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (h stallFamilies) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			if args := cmd.Args(); len(args) > 1 {
				if key, _ := args[1].(string); strings.HasPrefix(key, h.prefix) {
					err := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
					for _, c := range cmds {
						c.SetErr(err)
					}
					return err
				}
			}
		}
		return next(ctx, cmds)
	}
}

// revokeInput is the hidden input of the form that removes clientID.
func revokeInput(clientID string) string {
	return `<input type="hidden" name="client_id" value="` + clientID + `">`
}
