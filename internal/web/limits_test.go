package web_test

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/oauth2d/oauth2d/internal/oauth"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

func scopeList(n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = "s" + strconv.FormatInt(int64(i), 36) // ~6 bytes each: 9,000 fit the 64 KiB body limit
	}
	return strings.Join(s, " ")
}

var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func authorizeStatus(tb testing.TB, s *webtest.Server, params url.Values) (int, *url.URL) {
	tb.Helper()
	resp, err := noRedirects.Get(s.URL + oauth.AuthorizePath + "?" + params.Encode())
	if err != nil {
		tb.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	loc, _ := resp.Location()
	return resp.StatusCode, loc
}

func clientCredentials(tb testing.TB, s *webtest.Server, scope string) (int, string) {
	tb.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}
	req, err := http.NewRequest(http.MethodPost, s.URL+oauth.TokenPath, strings.NewReader(form.Encode()))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(webtest.ServiceID, webtest.ServiceSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// Done when (issue 9): requests with 9,000 scopes are refused as 4xx on
// their length, before the scopes are split (timing: BenchmarkHugeScope).
func TestHugeScope(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	t.Run("authorization request, 9,000 scopes", func(t *testing.T) {
		params, _ := webtest.CodeRequest(webtest.PublicID, scopeList(9000))
		if st, loc := authorizeStatus(t, s, params); st != http.StatusBadRequest || loc != nil {
			t.Fatalf("got %d, Location %v", st, loc)
		}
	})
	t.Run("authorization request, 100 scopes", func(t *testing.T) {
		params, _ := webtest.CodeRequest(webtest.PublicID, scopeList(100))
		st, loc := authorizeStatus(t, s, params)
		if st != http.StatusFound || loc == nil || loc.Query().Get("error") != "invalid_scope" {
			t.Fatalf("got %d, Location %v", st, loc)
		}
	})
	t.Run("client credentials, 9,000 scopes", func(t *testing.T) {
		if st, body := clientCredentials(t, s, scopeList(9000)); st != http.StatusBadRequest || !strings.Contains(body, `"invalid_scope"`) {
			t.Fatalf("got %d %s", st, body)
		}
	})
}

// Every other value the authorization endpoint reads has a bound, and the
// answer over it is a fixed 4xx.
func TestAuthorizeParameterBounds(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	cases := []struct {
		name  string
		set   func(url.Values)
		page  bool   // answered on the error page (client or redirect URI untrusted)
		error string // else the error redirected to the client
	}{
		{"long client_id", func(v url.Values) { v.Set("client_id", strings.Repeat("c", 60000)) }, true, ""},
		{"long redirect_uri", func(v url.Values) { v.Set("redirect_uri", webtest.DefaultRedirect+"?"+strings.Repeat("r", 5000)) }, true, ""},
		{"long state", func(v url.Values) { v.Set("state", strings.Repeat("s", 1025)) }, false, "invalid_request"},
		{"long nonce", func(v url.Values) { v.Set("nonce", strings.Repeat("n", 513)) }, false, "invalid_request"},
		{"long login_hint", func(v url.Values) { v.Set("login_hint", strings.Repeat("h", 257)) }, false, "invalid_request"},
		{"long code_challenge", func(v url.Values) { v.Set("code_challenge", strings.Repeat("x", 2000)) }, false, "invalid_request"},
		{"long query", func(v url.Values) { v.Set("junk", strings.Repeat("j", 17<<10)) }, true, ""},
		{"repeated parameter", func(v url.Values) { v.Add("nonce", "again") }, false, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			params, _ := webtest.CodeRequest(webtest.PublicID, "openid")
			tc.set(params)
			st, loc := authorizeStatus(t, s, params)
			if tc.page {
				if st != http.StatusBadRequest || loc != nil {
					t.Fatalf("got %d, Location %v", st, loc)
				}
				return
			}
			if st != http.StatusFound || loc == nil || loc.Query().Get("error") != tc.error {
				t.Fatalf("got %d, Location %v", st, loc)
			}
			if d := loc.Query().Get("error_description"); strings.Contains(d, "nonce") && tc.name == "repeated parameter" {
				t.Fatalf("the description echoes the parameter: %q", d)
			}
		})
	}
}

// Token endpoint client credentials over the bounds are refused as an
// unknown client would be.
func TestClientCredentialBounds(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	for name, form := range map[string]url.Values{
		"long client_id":     {"grant_type": {"client_credentials"}, "client_id": {strings.Repeat("c", 60000)}, "client_secret": {"x"}},
		"long client_secret": {"grant_type": {"client_credentials"}, "client_id": {webtest.ServiceID}, "client_secret": {strings.Repeat("s", 2000)}},
	} {
		t.Run(name, func(t *testing.T) {
			resp, err := http.PostForm(s.URL+oauth.TokenPath, form)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), `"invalid_client"`) {
				t.Fatalf("got %d %s", resp.StatusCode, body)
			}
		})
	}
}

// BenchmarkHugeScope measures issue 9's bound: a 9,000-scope request must
// be answered in at most 50 ms + 10× a normal authorization request.
func BenchmarkHugeScope(b *testing.B) {
	s := webtest.New(b, webtest.Options{})
	normal, _ := webtest.CodeRequest(webtest.PublicID, "openid profile")
	huge, _ := webtest.CodeRequest(webtest.PublicID, scopeList(9000))
	b.Run("authorize normal", func(b *testing.B) {
		for b.Loop() {
			if st, _ := authorizeStatus(b, s, normal); st != http.StatusFound {
				b.Fatal(st)
			}
		}
	})
	b.Run("authorize 9000 scopes", func(b *testing.B) {
		for b.Loop() {
			if st, _ := authorizeStatus(b, s, huge); st != http.StatusBadRequest {
				b.Fatal(st)
			}
		}
	})
	big := scopeList(9000)
	b.Run("client_credentials 9000 scopes", func(b *testing.B) {
		for b.Loop() {
			if st, _ := clientCredentials(b, s, big); st != http.StatusBadRequest {
				b.Fatal(st)
			}
		}
	})
}
