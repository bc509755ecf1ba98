package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/clientmeta"
	"github.com/oauth2d/oauth2d/internal/config"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
	"github.com/redis/go-redis/v9"
)

// documentSettings are client_id_metadata's defaults with a short fetch
// timeout, so that the slow document's test is quick.
func documentSettings() *config.ClientIDMetadata {
	m := config.Default().ClientIDMetadata
	m.Timeout = time.Second
	return &m
}

// A client known only by its metadata document's URL goes through the
// whole code flow: PKCE, the consent page (as an unverified third party),
// the code, and a refresh that rotates; discovery says documents are
// supported.
func TestClientIDMetadataCodeFlow(t *testing.T) {
	docs := webtest.NewDocumentServer(t)
	s := webtest.New(t, webtest.Options{ClientIDMetadata: documentSettings(), DocumentRoots: docs.Roots})
	docs.ServeDocument(t, "/app/client.json", webtest.PublicDocument("Doc App", s.RedirectURI), nil)
	id := docs.ClientID("/app/client.json")

	res, err := s.HTTPClient().Get(s.URL + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	var md map[string]any
	_ = json.NewDecoder(res.Body).Decode(&md)
	res.Body.Close()
	if md["client_id_metadata_document_supported"] != true {
		t.Fatalf("discovery lacks client_id_metadata_document_supported: %v", md)
	}

	b := s.NewBrowser(t)
	params, verifier := webtest.CodeRequest(id, "openid profile offline_access")
	consent := b.SubmitLogin(b.Authorize(params), "alice", webtest.AlicePassword)
	if !strings.Contains(consent.Body, "Doc App") {
		t.Fatalf("the consent page does not name the document's client_name:\n%s", consent.Body)
	}
	cb := s.Callback(t, b.SubmitConsent(consent, "allow"))
	if cb.Get("state") != params.Get("state") {
		t.Fatalf("state %q, want %q", cb.Get("state"), params.Get("state"))
	}
	tok := s.Exchange(t, cb.Get("code"), verifier, id, "")
	if tok.Status != http.StatusOK || tok.Str("access_token") == "" || tok.Str("refresh_token") == "" {
		t.Fatalf("code exchange: %d %s", tok.Status, tok.Raw)
	}
	if !s.Active(t, tok.Str("access_token")) {
		t.Fatal("the access token is not active")
	}
	next := s.PostToken(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.Str("refresh_token")}}, id, "")
	if next.Status != http.StatusOK || next.Str("refresh_token") == "" || next.Str("refresh_token") == tok.Str("refresh_token") {
		t.Fatalf("refresh: %d %s", next.Status, next.Raw)
	}
	// Another client's document cannot use this one's refresh token.
	docs.ServeDocument(t, "/other.json", webtest.PublicDocument("Other", s.RedirectURI), nil)
	if r := s.PostToken(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {next.Str("refresh_token")}},
		docs.ClientID("/other.json"), ""); r.Status != http.StatusBadRequest {
		t.Fatalf("another document client refreshed this one's family: %d %s", r.Status, r.Raw)
	}
	if n := docs.Fetches("/app/client.json"); n != 1 {
		t.Fatalf("the document was fetched %d times, want once (cached)", n)
	}
}

// A document client pushes its request (PAR), is sent through login and
// consent by its request_uri, and revokes its refresh token, which then
// refreshes nothing.
func TestClientIDMetadataPushedAndRevoked(t *testing.T) {
	docs := webtest.NewDocumentServer(t)
	s := webtest.New(t, webtest.Options{ClientIDMetadata: documentSettings(), DocumentRoots: docs.Roots})
	docs.ServeDocument(t, "/par.json", webtest.PublicDocument("Pushing App", s.RedirectURI), nil)
	id := docs.ClientID("/par.json")

	params, verifier := webtest.CodeRequest(id, "openid offline_access")
	res, err := s.HTTPClient().PostForm(s.URL+"/oauth2/par", params)
	if err != nil {
		t.Fatal(err)
	}
	var pushed struct {
		RequestURI string `json:"request_uri"`
	}
	_ = json.NewDecoder(res.Body).Decode(&pushed)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated || pushed.RequestURI == "" {
		t.Fatalf("PAR: %d %+v", res.StatusCode, pushed)
	}
	b := s.NewBrowser(t)
	consent := b.SubmitLogin(b.Authorize(url.Values{"client_id": {id}, "request_uri": {pushed.RequestURI}}), "alice", webtest.AlicePassword)
	tok := s.Exchange(t, s.Callback(t, b.SubmitConsent(consent, "allow")).Get("code"), verifier, id, "")
	if tok.Str("refresh_token") == "" {
		t.Fatalf("exchange: %d %s", tok.Status, tok.Raw)
	}

	res, err = s.HTTPClient().PostForm(s.URL+"/oauth2/revoke", url.Values{"client_id": {id}, "token": {tok.Str("refresh_token")}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d", res.StatusCode)
	}
	if r := s.PostToken(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.Str("refresh_token")}}, id, ""); r.Status == http.StatusOK {
		t.Fatalf("a revoked refresh token refreshed: %s", r.Raw)
	}
}

// A document that cannot be fetched or accepted gets the error page
// saying why, never a redirect to its redirect URI, and invalid_client at
// the token endpoint; nothing of it is stored in Redis.
func TestClientIDMetadataRefused(t *testing.T) {
	docs := webtest.NewDocumentServer(t)
	open := webtest.New(t, webtest.Options{ClientIDMetadata: documentSettings(), DocumentRoots: docs.Roots})
	strict := webtest.New(t, webtest.Options{ClientIDMetadata: documentSettings(), DocumentRoots: docs.Roots, NoInternalOutbound: true})
	good := func(path string) []byte {
		doc := webtest.PublicDocument("App", open.RedirectURI)
		doc["client_id"] = docs.ClientID(path)
		body, _ := json.Marshal(doc)
		return body
	}
	for _, tc := range []struct {
		name   string
		srv    *webtest.Server
		answer webtest.Answer
		path   string // "": /<name>.json
		reason string
	}{
		{"redirect", open, webtest.Answer{Status: http.StatusFound, Header: http.Header{"Location": {"/elsewhere.json"}}}, "", clientmeta.ReasonRedirect},
		{"too-large", open, webtest.Answer{Body: append(good("/too-large.json")[:1], append(bytes.Repeat([]byte(" "), 6<<10), good("/too-large.json")[1:]...)...)}, "", clientmeta.ReasonTooLarge},
		{"slow", open, webtest.Answer{Body: good("/slow.json"), Delay: 3 * time.Second}, "", clientmeta.ReasonTooSlow},
		{"loopback", strict, webtest.Answer{Body: good("/loopback.json")}, "", clientmeta.ReasonInternal},
		{"mismatch", open, webtest.Answer{Body: good("/somebody-else.json")}, "", clientmeta.ReasonMismatch},
		{"html", open, webtest.Answer{Body: good("/html.json"), ContentType: "text/html"}, "", clientmeta.ReasonContentType},
		{"not-found", open, webtest.Answer{Status: http.StatusNotFound}, "", clientmeta.ReasonStatus},
		{"dot-segment", open, webtest.Answer{}, "/a/../dot-segment.json", clientmeta.ReasonBadURL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if path == "" {
				path = "/" + tc.name + ".json"
			}
			docs.Serve(path, tc.answer)
			id := docs.ClientID(path)
			before := redisKeys(t, tc.srv)

			params, _ := webtest.CodeRequest(id, "openid")
			page := tc.srv.NewBrowser(t).Authorize(params)
			if page.Status != http.StatusBadRequest || page.Location() != nil {
				t.Fatalf("authorize: %d %v, want the 400 error page", page.Status, page.Header)
			}
			if !strings.Contains(page.Body, htmlEscape(tc.reason)) {
				t.Fatalf("the error page does not say %q:\n%s", tc.reason, page.Body)
			}
			tok := tc.srv.PostToken(t, url.Values{"grant_type": {"authorization_code"}, "code": {"x"},
				"redirect_uri": {tc.srv.RedirectURI}, "code_verifier": {strings.Repeat("v", 43)}}, id, "")
			if tok.Status != http.StatusUnauthorized || tok.Str("error") != "invalid_client" || tok.Str("error_description") != tc.reason {
				t.Fatalf("token endpoint: %d %s", tok.Status, tok.Raw)
			}
			if added := newKeys(before, redisKeys(t, tc.srv)); len(added) > 0 {
				t.Fatalf("a refused document left keys in Redis: %v", added)
			}
		})
	}
}

// One address may make the server look up only client_id_metadata.per_ip
// documents a minute that are not cached: past it the page and the token
// endpoint say 429, nothing is fetched, and cached documents still work.
func TestClientIDMetadataBudget(t *testing.T) {
	docs := webtest.NewDocumentServer(t)
	settings := documentSettings()
	settings.PerIP = 2
	s := webtest.New(t, webtest.Options{ClientIDMetadata: settings, DocumentRoots: docs.Roots})
	for _, p := range []string{"/1.json", "/2.json", "/3.json"} {
		docs.ServeDocument(t, p, webtest.PublicDocument("App", s.RedirectURI), nil)
	}
	b := s.NewBrowser(t)
	authorize := func(path string) *webtest.Page {
		params, _ := webtest.CodeRequest(docs.ClientID(path), "openid")
		return b.Get("/oauth2/authorize?" + params.Encode())
	}
	for _, p := range []string{"/1.json", "/2.json"} {
		if page := authorize(p); page.Status != http.StatusSeeOther && page.Status != http.StatusFound {
			t.Fatalf("%s within the budget: %d %s", p, page.Status, page.Body)
		}
	}
	before := redisKeys(t, s)
	page := authorize("/3.json")
	if page.Status != http.StatusTooManyRequests || !strings.Contains(page.Body, htmlEscape(clientmeta.ReasonThrottled)) {
		t.Fatalf("past the budget: %d %s", page.Status, page.Body)
	}
	tok := s.PostToken(t, url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "redirect_uri": {s.RedirectURI}}, docs.ClientID("/3.json"), "")
	if tok.Status != http.StatusTooManyRequests {
		t.Fatalf("token endpoint past the budget: %d %s", tok.Status, tok.Raw)
	}
	if n := docs.Fetches("/3.json"); n != 0 {
		t.Fatalf("fetched %d times past the budget", n)
	}
	if added := newKeys(before, redisKeys(t, s)); len(added) > 0 {
		t.Fatalf("a throttled lookup left keys: %v", added)
	}
	if page := authorize("/1.json"); page.Status != http.StatusSeeOther && page.Status != http.StatusFound {
		t.Fatalf("a cached document past the budget: %d %s", page.Status, page.Body)
	}
}

// Concurrent first lookups of one document fetch it once.
func TestClientIDMetadataFetchOnce(t *testing.T) {
	docs := webtest.NewDocumentServer(t)
	s := webtest.New(t, webtest.Options{ClientIDMetadata: documentSettings(), DocumentRoots: docs.Roots})
	body, _ := json.Marshal(map[string]any{"client_id": docs.ClientID("/c.json"), "redirect_uris": []string{s.RedirectURI}})
	docs.Serve("/c.json", webtest.Answer{Body: body, Delay: 200 * time.Millisecond})
	params, _ := webtest.CodeRequest(docs.ClientID("/c.json"), "openid")
	var wg sync.WaitGroup
	statuses := make([]int, 16)
	for i := range statuses {
		wg.Go(func() {
			res, err := s.NewBrowser(t).Client.Get(s.URL + "/oauth2/authorize?" + params.Encode())
			if err == nil {
				statuses[i] = res.StatusCode
				res.Body.Close()
			}
		})
	}
	wg.Wait()
	for i, st := range statuses {
		if st != http.StatusSeeOther && st != http.StatusFound {
			t.Fatalf("request %d: status %d, want a redirect to the login page", i, st)
		}
	}
	if n := docs.Fetches("/c.json"); n != 1 {
		t.Fatalf("%d concurrent first requests fetched the document %d times, want 1", len(statuses), n)
	}
}

// A document is used as long as its Cache-Control says, within the
// bounds: a redirect URI removed from it stops working once that time is
// over, not before; a refresh family begun before the change lives on.
func TestClientIDMetadataCacheExpiry(t *testing.T) {
	clk := &testClock{now: time.Now()}
	docs := webtest.NewDocumentServer(t)
	s := webtest.New(t, webtest.Options{ClientIDMetadata: documentSettings(), DocumentRoots: docs.Roots, Now: clk.Now})
	id := docs.ClientID("/cached.json")
	doc := webtest.PublicDocument("Cached", s.RedirectURI)
	doc["redirect_uris"] = []string{s.RedirectURI, webtest.SecondRedirect}
	docs.ServeDocument(t, "/cached.json", doc, http.Header{"Cache-Control": {"public, max-age=300"}})

	b := s.NewBrowser(t)
	params, verifier := webtest.CodeRequest(id, "openid offline_access")
	cb := s.Callback(t, b.SubmitConsent(b.SubmitLogin(b.Authorize(params), "alice", webtest.AlicePassword), "allow"))
	tok := s.Exchange(t, cb.Get("code"), verifier, id, "")
	if tok.Str("refresh_token") == "" {
		t.Fatalf("exchange: %d %s", tok.Status, tok.Raw)
	}
	second := func() *webtest.Page {
		p, _ := webtest.CodeRequest(id, "openid")
		p.Set("redirect_uri", webtest.SecondRedirect)
		return b.Get("/oauth2/authorize?" + p.Encode())
	}
	if p := second(); p.Status != http.StatusFound && p.Status != http.StatusSeeOther {
		t.Fatalf("second redirect URI before the change: %d %s", p.Status, p.Body)
	}

	doc["redirect_uris"] = []string{s.RedirectURI}
	docs.ServeDocument(t, "/cached.json", doc, http.Header{"Cache-Control": {"max-age=300"}})
	clk.Advance(299 * time.Second)
	if p := second(); p.Status != http.StatusFound && p.Status != http.StatusSeeOther {
		t.Fatalf("within max-age the cached document must still be used: %d %s", p.Status, p.Body)
	}
	if n := docs.Fetches("/cached.json"); n != 1 {
		t.Fatalf("fetched %d times within max-age, want 1", n)
	}
	clk.Advance(2 * time.Second)
	if p := second(); p.Status != http.StatusBadRequest || p.Location() != nil {
		t.Fatalf("a redirect URI removed from the document still works after max-age: %d %v", p.Status, p.Header)
	}
	if n := docs.Fetches("/cached.json"); n != 2 {
		t.Fatalf("fetched %d times after max-age, want 2", n)
	}
	// The family outlives the re-fetch: the client's generation is stable.
	if r := s.PostToken(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.Str("refresh_token")}}, id, ""); r.Status != http.StatusOK {
		t.Fatalf("refresh after the document was fetched again: %d %s", r.Status, r.Raw)
	}
	// max-age below client_id_metadata.cache_min is raised to it.
	docs.ServeDocument(t, "/cached.json", doc, http.Header{"Cache-Control": {"max-age=5"}})
	clk.Advance(301 * time.Second)
	second()
	clk.Advance(30 * time.Second)
	second()
	if n := docs.Fetches("/cached.json"); n != 3 {
		t.Fatalf("fetched %d times, want 3: max-age=5 is raised to cache_min (1m)", n)
	}
}

func redisKeys(t *testing.T, s *webtest.Server) []string {
	t.Helper()
	return keysMatching(t, s, s.Store.Prefix()+"*")
}

// keysMatching lists the keys matching pattern on every master: a
// Cluster client sends KEYS to one node only.
func keysMatching(t *testing.T, s *webtest.Server, pattern string) []string {
	t.Helper()
	if cc, ok := s.Store.Redis().(*redis.ClusterClient); ok {
		var mu sync.Mutex
		var all []string
		err := cc.ForEachMaster(t.Context(), func(ctx context.Context, node *redis.Client) error {
			keys, err := node.Keys(ctx, pattern).Result()
			mu.Lock()
			all = append(all, keys...)
			mu.Unlock()
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return all
	}
	keys, err := s.Store.Redis().Keys(t.Context(), pattern).Result()
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// newKeys are the keys of after not in before, but for the per-address
// budget of document fetches, which is what bounds them.
// newKeys lists the keys added since before, but for the fetch budget and
// the audit stream (capped; the refused client authentication is an audit
// event), which a refusal may write.
func newKeys(before, after []string) []string {
	var added []string
	for _, k := range after {
		if !slices.Contains(before, k) && !strings.Contains(k, "cimd:budget:") && !strings.HasSuffix(k, ":audit") {
			added = append(added, k)
		}
	}
	return added
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "'", "&#39;", `"`, "&#34;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// testClock is a clock the test moves forward.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
