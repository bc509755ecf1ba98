package oauth_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/config"
	"github.com/oauth2d/oauth2d/internal/oauth"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// getJSON fetches a document and decodes it; the answer's status and
// headers come back too.
func getJSON(t *testing.T, url string) (int, http.Header, map[string]any) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var doc map[string]any
	if res.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatalf("%s: %v: %s", url, err, raw)
		}
	}
	return res.StatusCode, res.Header, doc
}

func anyList(v ...string) []any {
	out := make([]any, len(v))
	for i, s := range v {
		out[i] = s
	}
	return out
}

// RFC 9728: each built-in resource describes itself at the URL its
// identifier gives (§3.1), with resource exactly that identifier (§3.3);
// the default resource also at the bare well-known path; and the
// authorization server lists them (§4).
func TestBuiltinResourcesPublishTheirMetadata(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	comments, admin := s.Issuer+"/api", s.Issuer+"/admin"
	dpopAlgs := config.Default().DPoP.Algorithms

	_, _, md := getJSON(t, s.URL+oauth.OAuthMetadataPath)
	if got := md["protected_resources"]; !reflect.DeepEqual(got, anyList(comments, admin)) {
		t.Errorf("protected_resources = %v, want [%s %s]", got, comments, admin)
	}

	commentsDoc := map[string]any{
		"resource": comments, "authorization_servers": anyList(s.Issuer),
		"scopes_supported":         anyList("comments:read", "comments:write", "comments:moderate"),
		"bearer_methods_supported": anyList("header"), "resource_name": "Comments",
		"dpop_signing_alg_values_supported": anyList(dpopAlgs...), "dpop_bound_access_tokens_required": false,
	}
	adminDoc := map[string]any{
		"resource": admin, "authorization_servers": anyList(s.Issuer), "scopes_supported": anyList("admin"),
		"bearer_methods_supported": anyList("header"), "resource_name": "Administration",
		"dpop_signing_alg_values_supported": anyList(dpopAlgs...), "dpop_bound_access_tokens_required": false,
	}
	commentsURL, ok := oauth.ResourceMetadataURL(s.Issuer, comments)
	if !ok || commentsURL != s.Issuer+"/.well-known/oauth-protected-resource/api" {
		t.Fatalf("comments API metadata URL = %q, %v", commentsURL, ok)
	}
	adminURL, _ := oauth.ResourceMetadataURL(s.Issuer, admin)
	for _, tc := range []struct {
		name, url string
		want      map[string]any
	}{
		{"comments API, by its identifier", commentsURL, commentsDoc},
		{"admin API, by its identifier", adminURL, adminDoc},
		{"the bare path is the default resource's", s.URL + oauth.ResourceMetadataPath, commentsDoc},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, hdr, doc := getJSON(t, tc.url)
			if status != http.StatusOK || hdr.Get("Content-Type") != "application/json" {
				t.Fatalf("%s: %d %s", tc.url, status, hdr.Get("Content-Type"))
			}
			if hdr.Get("Cache-Control") != "public, max-age=300" {
				t.Errorf("Cache-Control = %q", hdr.Get("Cache-Control"))
			}
			if !reflect.DeepEqual(doc, tc.want) {
				t.Fatalf("document\n%v\nwant\n%v", doc, tc.want)
			}
		})
	}
	for _, path := range []string{"/api/v1", "/", "/other"} {
		if status, _, _ := getJSON(t, s.URL+oauth.ResourceMetadataPath+path); status != http.StatusNotFound {
			t.Errorf("%s%s: %d, want 404", oauth.ResourceMetadataPath, path, status)
		}
	}
	// Each API's 401 challenge names its own document (RFC 9728 §5.1), and
	// the document it names is for the API that answered.
	for _, tc := range []struct{ path, url, resource string }{
		{"/api/v1/comments", commentsURL, comments},
		{"/admin/v1/clients", adminURL, admin},
	} {
		status, hdr, _ := getJSON(t, s.URL+tc.path)
		want := `resource_metadata="` + tc.url + `"`
		if status != http.StatusUnauthorized || !strings.Contains(hdr.Get("WWW-Authenticate"), want) {
			t.Errorf("%s without a token: %d %q, want 401 naming %s", tc.path, status, hdr.Get("WWW-Authenticate"), want)
		}
		if _, _, doc := getJSON(t, tc.url); doc["resource"] != tc.resource {
			t.Errorf("%s names a document for %v", tc.path, doc["resource"])
		}
	}
}

// RFC 9728 §3.1: the well-known path goes between host and path, and
// only identifiers on the server's own scheme and host get a URL.
func TestResourceMetadataURL(t *testing.T) {
	const issuer = "https://auth.example.com"
	for _, tc := range []struct {
		issuer, resource, want string
	}{
		{issuer, "https://auth.example.com/api", "https://auth.example.com/.well-known/oauth-protected-resource/api"},
		{issuer, "https://auth.example.com/api/v2/", "https://auth.example.com/.well-known/oauth-protected-resource/api/v2/"},
		{issuer, "https://auth.example.com", "https://auth.example.com/.well-known/oauth-protected-resource"},
		{issuer, "https://auth.example.com/", "https://auth.example.com/.well-known/oauth-protected-resource"},
		{issuer, "https://AUTH.example.com/api", "https://AUTH.example.com/.well-known/oauth-protected-resource/api"},
		{"https://example.com/auth", "https://example.com/auth/api", "https://example.com/.well-known/oauth-protected-resource/auth/api"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080/api", "http://127.0.0.1:8080/.well-known/oauth-protected-resource/api"},
		{issuer, "https://api.example.com/", ""},
		{issuer, "http://auth.example.com/api", ""},
		{issuer, "https://auth.example.com:8443/api", ""},
		{issuer, "https://auth.example.com/api?v=2", ""},
		{issuer, "urn:example:api", ""},
	} {
		got, ok := oauth.ResourceMetadataURL(tc.issuer, tc.resource)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("ResourceMetadataURL(%q, %q) = %q, %v; want %q", tc.issuer, tc.resource, got, ok, tc.want)
		}
	}
}

// A resource identified by the host alone owns the bare path, before the
// default resource; a resource on another host has no document here.
func TestProtectedResourcesServeOnlyTheirOwnPaths(t *testing.T) {
	const issuer = "https://auth.example.com"
	p, err := oauth.NewProtectedResources(issuer, []*storage.Resource{
		{ID: issuer + "/api", Scopes: []string{"a"}},
		{ID: "https://api.example.com/other", Scopes: []string{"b"}},
		{ID: issuer + "/", Scopes: []string{"c"}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	serve := p.Serve(func(c *gin.Context) { c.Status(http.StatusNotFound) })
	r.GET(oauth.ResourceMetadataPath, serve)
	r.GET(oauth.ResourceMetadataPath+"/*resource", serve)
	get := func(path string) (int, map[string]any) {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		var doc map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &doc)
		return w.Code, doc
	}
	if status, doc := get(oauth.ResourceMetadataPath); status != http.StatusOK || doc["resource"] != issuer+"/" {
		t.Errorf("bare path: %d %v, want the document of %s/", status, doc, issuer)
	}
	if status, doc := get(oauth.ResourceMetadataPath + "/api"); status != http.StatusOK || doc["resource"] != issuer+"/api" {
		t.Errorf("/api: %d %v, want the document of %s/api", status, doc, issuer)
	} else if doc["dpop_signing_alg_values_supported"] != nil {
		t.Errorf("DPoP off, yet %v", doc)
	}
	if status, _ := get(oauth.ResourceMetadataPath + "/other"); status != http.StatusNotFound {
		t.Errorf("another host's resource: %d, want 404", status)
	}
	if status, _ := get(oauth.ResourceMetadataPath + "/"); status != http.StatusNotFound {
		t.Errorf("trailing slash: %d, want 404", status)
	}
}
