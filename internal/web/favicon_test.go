package web_test

import (
	"net/http"
	"testing"

	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// Browsers ask every site for /favicon.ico; the answer is an empty,
// cacheable 204, not a 404 in every access log.
func TestFaviconIsNoContent(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	res, err := http.Get(s.URL + "/favicon.ico")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent || res.Header.Get("Cache-Control") != "public, max-age=86400" {
		t.Fatalf("GET /favicon.ico = %d, Cache-Control %q; want 204, public, max-age=86400", res.StatusCode, res.Header.Get("Cache-Control"))
	}
}
