package web_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/oauth2d/oauth2d/internal/web"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// The operator's name, logo and colour replace oauth2d's on the pages,
// without loosening the CSP: the logo's origin is added to img-src, and
// the colour comes through the stylesheet, never an inline style.
func TestBrandedPages(t *testing.T) {
	tests := []struct {
		name          string
		brand         web.Branding
		want, notWant []string // in the login page
		wantImgSrc    string
		wantErrTitle  string
		wantCSS       string // "" = no accent rule
	}{
		{
			name:         "unbranded",
			want:         []string{"<title>Sign in · oauth2d</title>", `<p class="brand">oauth2d</p>`},
			notWant:      []string{"<img"},
			wantImgSrc:   "img-src 'self';",
			wantErrTitle: "<title>Error · oauth2d</title>",
		},
		{
			name:  "name, logo and colour",
			brand: web.Branding{ProductName: "Example <ID>", LogoURL: "https://cdn.example.com/brand/logo.svg?v=2", AccentColor: "#1a7f37"},
			want: []string{"<title>Sign in · Example &lt;ID&gt;</title>",
				`<img class="logo" src="https://cdn.example.com/brand/logo.svg?v=2" alt="Example &lt;ID&gt;">`},
			notWant:      []string{">oauth2d<", "· oauth2d", "style="},
			wantImgSrc:   "img-src 'self' https://cdn.example.com;",
			wantErrTitle: "<title>Error · Example &lt;ID&gt;</title>",
			wantCSS:      ":root { --accent: #1a7f37; --accent-hover: #14652c; }",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := webtest.New(t, webtest.Options{Branding: tc.brand})
			login := s.NewBrowser(t).Get("/login")
			if login.Status != http.StatusOK {
				t.Fatalf("GET /login = %d", login.Status)
			}
			for _, want := range tc.want {
				if !strings.Contains(login.Body, want) {
					t.Errorf("login page lacks %q:\n%s", want, login.Body)
				}
			}
			for _, not := range tc.notWant {
				if strings.Contains(login.Body, not) {
					t.Errorf("login page has %q:\n%s", not, login.Body)
				}
			}
			if csp := login.Header.Get("Content-Security-Policy"); !strings.Contains(csp, tc.wantImgSrc) || !strings.Contains(csp, "style-src 'self';") {
				t.Errorf("CSP = %q, want %q and style-src 'self'", csp, tc.wantImgSrc)
			}
			// The error page carries the brand too.
			errPage := s.NewBrowser(t).Post("/consent", url.Values{"decision": {"allow"}})
			if errPage.Status != http.StatusForbidden || !strings.Contains(errPage.Body, tc.wantErrTitle) {
				t.Errorf("error page %d lacks %q:\n%s", errPage.Status, tc.wantErrTitle, errPage.Body)
			}

			res, err := http.Get(s.URL + web.StylesheetPath)
			if err != nil {
				t.Fatal(err)
			}
			css, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if got := strings.Contains(string(css), "branding.accent_color"); got != (tc.wantCSS != "") {
				t.Errorf("stylesheet has an accent rule: %v, want %v", got, tc.wantCSS != "")
			}
			if tc.wantCSS != "" && !strings.HasSuffix(strings.TrimSpace(string(css)), tc.wantCSS) {
				t.Errorf("stylesheet does not end with %q:\n%s", tc.wantCSS, css)
			}
		})
	}
}
