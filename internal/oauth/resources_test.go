package oauth_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/dpop/dpoptest"
	"github.com/oauth2d/oauth2d/internal/oauth"
	"github.com/oauth2d/oauth2d/internal/ratelimit"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// The resources of a resource test server: the comments API (the
// default resource: the server's audience, issuer + /api), the admin
// API, and two stored ones, photos (photos:read, tokens for 5 minutes)
// and vault (vault:read, DPoP-bound tokens only).
const (
	adminAPI  = "https://admin.example/api"
	photosAPI = "https://photos.example/"
	vaultAPI  = "https://vault.example/"
)

// withResources gives the server the registry above, its stored part
// read from Redis on every request.
func withResources() serverOption {
	return func(d *oauth.Deps, _ *ratelimit.Limits) {
		d.Resources = oauth.NewResources(testBuiltins(d.Config.Issuer), d.Store.(*storage.Store), d.Config.Issuer+oauth.UserinfoPath)
	}
}

// withCachedResources is withResources behind the cache the server uses
// (storage.ResourceCache), for benchmarks.
func withCachedResources(tb testing.TB) serverOption {
	return func(d *oauth.Deps, _ *ratelimit.Limits) {
		cache := storage.NewResourceCache(d.Store.(*storage.Store), time.Minute)
		ctx, cancel := context.WithCancel(context.Background())
		go func() { _ = cache.Run(ctx) }()
		tb.Cleanup(cancel)
		d.Resources = oauth.NewResources(testBuiltins(d.Config.Issuer), cache, d.Config.Issuer+oauth.UserinfoPath)
	}
}

func testBuiltins(issuer string) []*storage.Resource {
	return []*storage.Resource{
		{ID: issuer + "/api", Scopes: []string{"comments:read", "comments:write"}},
		{ID: adminAPI, Scopes: []string{"admin"}},
	}
}

func newResourceServer(t *testing.T, opts ...serverOption) *server {
	t.Helper()
	s := newServer(t, append(opts, withResources())...)
	for _, r := range []*storage.Resource{
		{ID: photosAPI, Scopes: []string{"photos:read"}, AccessTokenTTL: 5 * time.Minute},
		{ID: vaultAPI, Scopes: []string{"vault:read"}, RequireDPoP: true},
	} {
		if err := s.Store.UpsertResource(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{firstPartyID, publicID} {
		c, err := s.Store.GetClient(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		c.Scopes = append(c.Scopes, "photos:read", "vault:read", "x:unassigned")
		if err := s.Store.UpsertClient(t.Context(), c); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// tokenFor asks for alice's token with the first-party client's
// password grant, with scope and resources; it returns the answer.
func (s *server) tokenFor(scope string, resources ...string) response {
	s.t.Helper()
	f := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePassword}, "resource": resources}
	if scope != "" {
		f.Set("scope", scope)
	}
	return s.post(oauth.TokenPath, f, firstPartyID, firstPartySecret)
}

// audOf reads an access token's aud without verifying it (the other
// tests verify tokens; these look at what the policy put in).
func audOf(t *testing.T, res response) []string {
	t.Helper()
	parts := strings.Split(res.str("access_token"), ".")
	if len(parts) != 3 {
		t.Fatalf("no access token: %d %s", res.Status, res.Raw)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Aud any `json:"aud"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	switch a := c.Aud.(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, v := range a {
			out = append(out, v.(string))
		}
		return out
	}
	t.Fatalf("aud %v", c.Aud)
	return nil
}

func wantAud(t *testing.T, res response, want ...string) {
	t.Helper()
	got := audOf(t, res)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("aud = %q, want %q", got, want)
	}
}

// Without a resource parameter the audience follows the scope: each
// scope takes its token to the resource that defines it, and the scopes
// no resource defines go with the default resource, as before resources
// were registered.
func TestAudienceFollowsScope(t *testing.T) {
	s := newResourceServer(t)
	api, userinfo := s.Issuer+"/api", s.Issuer+oauth.UserinfoPath
	for _, c := range []struct {
		scope string
		aud   []string
	}{
		{"comments:read", []string{api}},
		{"photos:read", []string{photosAPI}},
		{"comments:read photos:read", []string{api, photosAPI}},
		{"x:unassigned", []string{api}},
		{"profile", []string{api}},
		{"openid comments:read", []string{api, userinfo}},
	} {
		res := s.tokenFor(c.scope)
		if res.Status != 200 || res.str("scope") != c.scope {
			t.Fatalf("scope %q: %d %s", c.scope, res.Status, res.Raw)
		}
		wantAud(t, res, c.aud...)
	}
	// alice is no admin: admin is still invalid_scope, resource or not.
	wantError(t, s.tokenFor("admin"), 400, "invalid_scope")
	wantError(t, s.tokenFor("admin", adminAPI), 400, "invalid_scope")
}

// A resource parameter makes the token for that resource alone, with
// only the scopes it defines (RFC 8707 §2).
func TestResourceIndicator(t *testing.T) {
	s := newResourceServer(t)
	api := s.Issuer + "/api"

	res := s.tokenFor("", photosAPI)
	if res.Status != 200 || res.str("scope") != "openid profile email offline_access photos:read" {
		t.Fatalf("photos, no scope: %d %s", res.Status, res.Raw)
	}
	wantAud(t, res, photosAPI, s.Issuer+oauth.UserinfoPath)
	// photos sets a 5-minute lifetime, below the server's 15.
	if exp := res.Body["expires_in"].(float64); exp > 300 || exp < 290 {
		t.Fatalf("expires_in = %v, want 300", exp)
	}

	res = s.tokenFor("comments:read", api, photosAPI)
	if res.Status != 200 {
		t.Fatalf("two resources: %d %s", res.Status, res.Raw)
	}
	wantAud(t, res, api) // photos carries none of the scope

	wantError(t, s.tokenFor("comments:read", photosAPI), 400, "invalid_scope")
	wantError(t, s.tokenFor("x:unassigned", photosAPI), 400, "invalid_scope")
	for _, bad := range [][]string{
		{"https://unknown.example/"}, {"/relative"}, {"https://photos.example/#frag"},
		{photosAPI, photosAPI}, {"https://x.example/" + strings.Repeat("a", 600)},
	} {
		wantError(t, s.tokenFor("", bad...), 400, "invalid_target")
	}
}

// A resource that takes only DPoP-bound tokens: asked for without a
// proof, by name or by its scope, the request is refused; with one, the
// token is bound. Unasked, it is left out of a token without a proof.
func TestResourceRequiresDPoP(t *testing.T) {
	s := newResourceServer(t, withDPoP(nil, false))
	wantError(t, s.tokenFor("", vaultAPI), 400, "invalid_request")
	wantError(t, s.tokenFor("vault:read"), 400, "invalid_request")

	key := dpoptest.NewKey(t)
	f := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePassword}, "resource": {vaultAPI}}
	res := s.postProof(oauth.TokenPath, f, firstPartyID, firstPartySecret, s.tokenProof(key))
	if res.Status != 200 || res.str("token_type") != "DPoP" || !strings.Contains(res.str("scope"), "vault:read") {
		t.Fatalf("vault with a proof: %d %s", res.Status, res.Raw)
	}
	wantAud(t, res, vaultAPI, s.Issuer+oauth.UserinfoPath)

	// Without a resource or scope, a token without a proof is for every
	// other resource the grant reaches, vault's scope dropped.
	res = s.tokenFor("")
	if res.Status != 200 || strings.Contains(res.str("scope"), "vault:read") || slices.Contains(audOf(t, res), vaultAPI) {
		t.Fatalf("no proof, no resource: %d %s", res.Status, res.Raw)
	}
}

// A refresh may ask for a subset of the grant's resources, never another
// (RFC 8707 §2.2), and a refusal leaves the family as it was.
func TestRefreshNarrowsResources(t *testing.T) {
	s := newResourceServer(t)
	api := s.Issuer + "/api"
	first := s.tokenFor("comments:read photos:read offline_access", api, photosAPI)
	if first.Status != 200 {
		t.Fatalf("grant: %d %s", first.Status, first.Raw)
	}
	wantAud(t, first, api, photosAPI)
	rt := first.str("refresh_token")
	refresh := func(resources ...string) response {
		return s.post(oauth.TokenPath, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "resource": resources},
			firstPartyID, firstPartySecret)
	}
	wantError(t, refresh(adminAPI), 400, "invalid_target")
	wantError(t, refresh("https://unknown.example/"), 400, "invalid_target")

	res := refresh(photosAPI)
	if res.Status != 200 || res.str("scope") != "photos:read offline_access" {
		t.Fatalf("refresh for photos: %d %s", res.Status, res.Raw)
	}
	wantAud(t, res, photosAPI)
	rt = res.str("refresh_token")
	// The family still holds both resources.
	res = refresh()
	if res.Status != 200 || res.str("scope") != "comments:read photos:read offline_access" {
		t.Fatalf("refresh for the whole grant: %d %s", res.Status, res.Raw)
	}
	wantAud(t, res, api, photosAPI)
	rt = res.str("refresh_token")

	// A resource deleted since gets no token any more; the rest goes on.
	// (Its scope, defined by no resource now, goes with the default
	// resource, as any such scope does.)
	if err := s.Store.DeleteResource(t.Context(), photosAPI); err != nil {
		t.Fatal(err)
	}
	res = refresh()
	if res.Status != 200 {
		t.Fatalf("refresh after photos was deleted: %d %s", res.Status, res.Raw)
	}
	wantAud(t, res, api)
}
