package clientmeta

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/config"
	"github.com/oauth2d/oauth2d/internal/outbound"
	"github.com/oauth2d/oauth2d/internal/storage"
)

type noClients struct{}

func (noClients) GetClient(context.Context, string) (*storage.Client, error) {
	return nil, storage.ErrNotFound
}

func newResolver(t *testing.T, now func() time.Time) *Resolver {
	t.Helper()
	cfg := config.Default()
	guard, err := outbound.New(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Deps{
		Config: Config{Scopes: []string{"openid", "profile", "offline_access"}, MaxBytes: 5 << 10, Timeout: time.Second,
			CacheMin: time.Minute, CacheMax: time.Hour, CacheEntries: 3},
		Next: noClients{}, Guard: guard, Policy: account.PolicyWith(&cfg, guard),
		Address: func(context.Context) string { return "" }, Now: now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestCheckURL(t *testing.T) {
	r := newResolver(t, time.Now)
	for _, tc := range []struct {
		id     string
		reason string // "": accepted
	}{
		{"https://app.example.com/client.json", ""},
		{"https://app.example.com/", ""},
		{"https://app.example.com/c?v=2", ""},
		{"https://app.example.com:8443/c.json", ""},
		{"https://app.example.com", ReasonBadURL},
		{"https://app.example.com/a/../c.json", ReasonBadURL},
		{"https://app.example.com/./c.json", ReasonBadURL},
		{"https://app.example.com/c.json#x", ReasonBadURL},
		{"https://user:pw@app.example.com/c.json", ReasonBadURL},
		{"https://app.example.com/{tag}", ReasonBadURL},
		{"https://app.example.com/a b", ReasonBadURL},
		{"https://app.example.com/" + strings.Repeat("a", MaxURLLen), ReasonBadURL},
		{"https:///c.json", ReasonBadURL},
		{"https://127.0.0.1/c.json", ReasonInternal},
		{"https://localhost/c.json", ReasonInternal},
		{"https://169.254.169.254/latest", ReasonInternal},
		{"https://[::1]/c.json", ReasonInternal},
	} {
		t.Run(tc.id, func(t *testing.T) {
			_, err := r.checkURL(tc.id)
			var e *Error
			switch {
			case tc.reason == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.reason != "" && (!errors.As(err, &e) || e.Reason != tc.reason):
				t.Fatalf("got %v, want %q", err, tc.reason)
			case err != nil && !errors.Is(err, storage.ErrNotFound):
				t.Fatalf("%v does not match storage.ErrNotFound", err)
			}
		})
	}
}

func TestDocumentRules(t *testing.T) {
	r := newResolver(t, time.Now)
	const id = "https://app.example.com/c.json"
	base := func() *document {
		return &document{ClientID: id, RedirectURIs: []string{"https://app.example.com/cb"}, Scope: "openid offline_access admin"}
	}
	for _, tc := range []struct {
		name   string
		change func(*document)
		reason string
	}{
		{"minimal", func(*document) {}, ""},
		{"mismatch", func(d *document) { d.ClientID = id + "?" }, ReasonMismatch},
		{"secret", func(d *document) { d.ClientSecret = []byte(`"s"`) }, ReasonSecret},
		{"basic", func(d *document) { d.TokenEndpointAuthMethod = "client_secret_basic" }, ReasonSecret},
		{"post", func(d *document) { d.TokenEndpointAuthMethod = "client_secret_post" }, ReasonSecret},
		{"private_key_jwt, not yet", func(d *document) { d.TokenEndpointAuthMethod = "private_key_jwt" }, ReasonAuthMethod},
		{"client_credentials", func(d *document) { d.GrantTypes = []string{"client_credentials"} }, ReasonGrantTypes},
		{"password", func(d *document) { d.GrantTypes = []string{"authorization_code", "password"} }, ReasonGrantTypes},
		{"implicit", func(d *document) { d.ResponseTypes = []string{"token"} }, ReasonGrantTypes},
		{"no redirect", func(d *document) { d.RedirectURIs = nil }, ReasonInvalid},
		{"javascript redirect", func(d *document) { d.RedirectURIs = []string{"javascript:alert(1)"} }, ReasonInvalid},
		{"http redirect", func(d *document) { d.RedirectURIs = []string{"http://app.example.com/cb"} }, ReasonInvalid},
		{"refresh alone", func(d *document) { d.GrantTypes = []string{"refresh_token"} }, ReasonInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := base()
			tc.change(d)
			c, err := r.client(id, d)
			if tc.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				want := &storage.Client{ID: id, Public: true, SelfRegistered: true, Generation: Generation(id)}
				if c.ID != want.ID || !c.Public || c.FirstParty || !c.SelfRegistered || c.Generation != want.Generation ||
					strings.Join(c.Scopes, " ") != "openid offline_access" || strings.Join(c.GrantTypes, " ") != "authorization_code" {
					t.Fatalf("client %+v", c)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Reason != tc.reason {
				t.Fatalf("got %v, want %q", err, tc.reason)
			}
		})
	}
}

func TestLifetime(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	f := &fetcher{now: func() time.Time { return now }}
	for _, tc := range []struct {
		header http.Header
		want   time.Duration
	}{
		{http.Header{}, 0},
		{http.Header{"Cache-Control": {"public, max-age=600"}}, 10 * time.Minute},
		{http.Header{"Cache-Control": {"max-age=600, no-store"}}, 0},
		{http.Header{"Cache-Control": {"no-cache, max-age=600"}}, 0},
		{http.Header{"Cache-Control": {"max-age=-5"}}, 0},
		{http.Header{"Cache-Control": {"max-age=99999999999999999999"}}, 0},
		{http.Header{"Expires": {now.Add(time.Hour).Format(http.TimeFormat)}}, time.Hour},
		{http.Header{"Expires": {now.Add(-time.Hour).Format(http.TimeFormat)}}, 0},
		{http.Header{"Cache-Control": {"max-age=60"}, "Expires": {now.Add(time.Hour).Format(http.TimeFormat)}}, time.Minute},
	} {
		if got := f.lifetime(tc.header); got != tc.want {
			t.Errorf("lifetime(%v) = %v, want %v", tc.header, got, tc.want)
		}
	}
}

// The cache never holds more than CacheEntries, and clamps lifetimes.
func TestCacheBounds(t *testing.T) {
	now := time.Now()
	r := newResolver(t, func() time.Time { return now })
	for i := range 10 {
		id := "https://app.example.com/" + strings.Repeat("x", i+1)
		r.store(id, &storage.Client{ID: id}, time.Duration(i)*time.Second)
		if n := len(r.entries); n > r.d.Config.CacheEntries {
			t.Fatalf("%d entries, bound %d", n, r.d.Config.CacheEntries)
		}
	}
	r.store("https://a.example/long", &storage.Client{}, 1000*time.Hour)
	if e := r.entries["https://a.example/long"]; e.expires != now.Add(time.Hour) {
		t.Fatalf("expires %v, want cache_max", e.expires)
	}
	now = now.Add(time.Hour)
	if _, ok := r.cached("https://a.example/long"); ok {
		t.Fatal("an entry served at its expiry")
	}
}
