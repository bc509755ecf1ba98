package web_test

import (
	"bytes"
	"image/png"
	"io"
	"net/http"
	"testing"

	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// Browsers ask every site for /favicon.ico; the answer is the pages' icon,
// a PNG that decodes, cacheable for a day.
func TestFaviconIsAnIcon(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	res, err := http.Get(s.URL + "/favicon.ico")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for header, want := range map[string]string{
		"Content-Type":           "image/png",
		"Cache-Control":          "public, max-age=86400",
		"X-Content-Type-Options": "nosniff",
	} {
		if got := res.Header.Get(header); got != want {
			t.Errorf("GET /favicon.ico: %s = %q, want %q", header, got, want)
		}
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /favicon.ico = %d, want 200", res.StatusCode)
	}
	img, err := png.Decode(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("GET /favicon.ico is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 32 || b.Dy() != 32 {
		t.Errorf("icon is %dx%d, want 32x32", b.Dx(), b.Dy())
	}
}
