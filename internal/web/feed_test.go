package web_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// The whole server, as composed for cmd/oauth2d: discovery names the
// revocation feed, and a resource server holding a request there learns
// at once of an access token revoked at /oauth2/revoke.
func TestRevocationFeedThroughTheComposedServer(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	var md struct {
		Feed string `json:"oauth2d_revocation_feed_endpoint"`
	}
	getJSON(t, s.URL+"/.well-known/oauth-authorization-server", "", &md)
	if md.Feed != s.Issuer+"/oauth2/revocation-feed" {
		t.Fatalf("oauth2d_revocation_feed_endpoint = %q", md.Feed)
	}
	var snap struct {
		Cursor   string `json:"cursor"`
		Snapshot bool   `json:"snapshot"`
	}
	getJSON(t, md.Feed, webtest.ServiceID, &snap)
	if !snap.Snapshot || snap.Cursor == "" {
		t.Fatalf("first answer %+v, want a snapshot", snap)
	}

	tok := s.PostToken(t, url.Values{"grant_type": {"client_credentials"}, "scope": {"comments:read"}},
		webtest.ServiceID, webtest.ServiceSecret)
	access := tok.Str("access_token")
	if access == "" {
		t.Fatalf("token: %d %s", tok.Status, tok.Raw)
	}
	held := make(chan []string, 1)
	go func() {
		var a struct {
			JTIs []struct {
				JTI string `json:"jti"`
			} `json:"jtis"`
		}
		getJSON(t, md.Feed+"?wait=20&cursor="+url.QueryEscape(snap.Cursor), webtest.ServiceID, &a)
		var jtis []string
		for _, j := range a.JTIs {
			jtis = append(jtis, j.JTI)
		}
		held <- jtis
	}()
	time.Sleep(200 * time.Millisecond) // let the request be held
	res, err := http.PostForm(s.URL+"/oauth2/revoke", url.Values{"token": {access},
		"client_id": {webtest.ServiceID}, "client_secret": {webtest.ServiceSecret}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	revoked := time.Now()
	select {
	case jtis := <-held:
		if len(jtis) != 1 || jtis[0] != jtiOf(t, access) {
			t.Fatalf("held answer jtis %v, want the revoked token's", jtis)
		}
		if d := time.Since(revoked); d > 500*time.Millisecond {
			t.Errorf("answered %v after the revocation", d)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the held request did not learn of the revocation")
	}
}

// getJSON decodes a 200 answer; user, if set, authenticates with Basic
// as the service client.
func getJSON(t *testing.T, u, user string, v any) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Error(err)
		return
	}
	if user != "" {
		req.SetBasicAuth(user, webtest.ServiceSecret)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("GET %s: %d", u, res.StatusCode)
		return
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Error(err)
	}
}

func jtiOf(t *testing.T, jwt string) string {
	t.Helper()
	parts := strings.Split(jwt, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		JTI string `json:"jti"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c.JTI
}
