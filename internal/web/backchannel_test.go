package web_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/token"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// relyingPartyEndpoint is a relying party's backchannel_logout_uri: a real
// HTTP server that verifies each logout token as OIDC Back-Channel Logout
// 1.0 §2.6 asks (signature against the issuer's JWKS, typ, iss, aud, iat,
// exp, events, no nonce) and keeps its claims.
type relyingPartyEndpoint struct {
	t        *testing.T
	clientID string
	issuer   string
	keys     *oidc.RemoteKeySet
	srv      *httptest.Server
	mu       sync.Mutex
	got      []logoutClaims
}

type logoutClaims struct {
	Iss    string                    `json:"iss"`
	Aud    string                    `json:"aud"`
	Sub    string                    `json:"sub"`
	Sid    string                    `json:"sid"`
	Jti    string                    `json:"jti"`
	Iat    int64                     `json:"iat"`
	Exp    int64                     `json:"exp"`
	Nonce  *string                   `json:"nonce"`
	Events map[string]map[string]any `json:"events"`
}

func newRelyingPartyEndpoint(t *testing.T, s *webtest.Server, clientID string) *relyingPartyEndpoint {
	rp := &relyingPartyEndpoint{t: t, clientID: clientID, issuer: s.Issuer,
		keys: oidc.NewRemoteKeySet(context.Background(), s.URL+"/.well-known/jwks.json")}
	rp.srv = httptest.NewServer(http.HandlerFunc(rp.serve))
	t.Cleanup(rp.srv.Close)
	return rp
}

func (rp *relyingPartyEndpoint) serve(w http.ResponseWriter, r *http.Request) {
	raw := r.PostFormValue("logout_token")
	c, problem := rp.verify(r.Context(), raw)
	if problem != "" {
		rp.t.Errorf("%s: bad logout token: %s", rp.clientID, problem)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rp.mu.Lock()
	rp.got = append(rp.got, c)
	rp.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
}

func (rp *relyingPartyEndpoint) verify(ctx context.Context, raw string) (logoutClaims, string) {
	var c logoutClaims
	payload, err := rp.keys.VerifySignature(ctx, raw)
	if err != nil {
		return c, "signature: " + err.Error()
	}
	var header struct{ Typ string }
	h, _ := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
	if json.Unmarshal(h, &header) != nil || header.Typ != token.LogoutTokenType {
		return c, "typ " + header.Typ
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return c, err.Error()
	}
	now := time.Now().Unix()
	_, event := c.Events[token.BackchannelLogoutEvent]
	switch {
	case c.Iss != rp.issuer || c.Aud != rp.clientID:
		return c, "iss/aud " + c.Iss + " " + c.Aud
	case c.Iat > now+5 || c.Exp < now || c.Exp-c.Iat > 120:
		return c, "iat/exp"
	case !event || c.Jti == "" || c.Nonce != nil || c.Sub == "" && c.Sid == "":
		return c, string(payload)
	}
	return c, ""
}

// wait returns the logout tokens once n have arrived, after making sure no
// more follow (a duplicate delivery would); otherwise it fails t, the
// (sub)test that waits.
func (rp *relyingPartyEndpoint) wait(t testing.TB, n int) []logoutClaims {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rp.mu.Lock()
		got := len(rp.got)
		rp.mu.Unlock()
		if got >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if len(rp.got) != n {
		t.Fatalf("%s received %d logout tokens, want %d", rp.clientID, len(rp.got), n)
	}
	out := rp.got
	rp.got = nil
	return out
}

// bclWorld is two oauth2d instances on one Redis and three relying
// parties registered for back-channel logout.
type bclWorld struct {
	a, b                         *webtest.Server
	app, strict                  *relyingPartyEndpoint // first-party apps
	consented                    *relyingPartyEndpoint // third-party app, asks for consent
	appID, strictID, consentedID string
}

func newBCLWorld(t *testing.T) *bclWorld { return newBCLWorldWith(t, webtest.Options{}) }

// newBCLWorldWith is newBCLWorld with both instances built with o.
func newBCLWorldWith(t *testing.T, o webtest.Options) *bclWorld {
	a := webtest.New(t, o)
	o.Peer = a
	w := &bclWorld{a: a, b: webtest.New(t, o), appID: "bcl-app", strictID: "bcl-strict", consentedID: "bcl-consented"}
	w.app, w.strict, w.consented = newRelyingPartyEndpoint(t, a, w.appID), newRelyingPartyEndpoint(t, a, w.strictID),
		newRelyingPartyEndpoint(t, a, w.consentedID)
	for _, c := range []*storage.Client{
		{ID: w.appID, FirstParty: true, BackchannelLogoutURI: w.app.srv.URL + "/bcl"},
		{ID: w.strictID, FirstParty: true, BackchannelLogoutURI: w.strict.srv.URL + "/bcl", BackchannelLogoutSessionRequired: true},
		{ID: w.consentedID, BackchannelLogoutURI: w.consented.srv.URL + "/bcl"},
	} {
		c.SecretHash, c.GrantTypes = hashOf(t, c.ID), []string{"authorization_code", "refresh_token"}
		c.Scopes, c.RedirectURIs, c.PostLogoutRedirectURIs = webtest.AllScopes, []string{a.RedirectURI}, []string{a.PostLogout}
		if err := a.Store.CreateClient(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

func hashOf(t *testing.T, clientID string) string {
	h, err := secret.Hash(clientID + "-secret")
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// signInTo signs b in on instance A to the client (the consent page is
// allowed if it comes) and returns the ID token's claims and raw token.
func (w *bclWorld) signInTo(t *testing.T, b *webtest.Browser, clientID string) (map[string]any, string) {
	t.Helper()
	params, verifier := webtest.CodeRequest(clientID, "openid profile")
	return w.authorize(t, b, clientID, params, verifier, "alice", webtest.AlicePassword)
}

// signInAgainAs is signInTo with prompt=login: the browser's session, if
// it has one, is replaced by a new sign-in of username.
func (w *bclWorld) signInAgainAs(t *testing.T, b *webtest.Browser, clientID, username, password string) map[string]any {
	t.Helper()
	params, verifier := webtest.CodeRequest(clientID, "openid profile")
	params.Set("prompt", "login")
	claims, _ := w.authorize(t, b, clientID, params, verifier, username, password)
	return claims
}

// authorize runs the code flow of params on instance A, signing in as
// username if asked, and exchanges the code on instance B.
func (w *bclWorld) authorize(t *testing.T, b *webtest.Browser, clientID string, params url.Values, verifier,
	username, password string) (map[string]any, string) {
	t.Helper()
	p := b.Authorize(params)
	if strings.Contains(p.Body, `name="password"`) {
		p = b.SubmitLogin(p, username, password)
	}
	if strings.Contains(p.Body, `name="decision"`) {
		p = b.SubmitConsent(p, "allow")
	}
	code := w.a.Callback(t, p).Get("code")
	raw := w.b.Exchange(t, code, verifier, clientID, clientID+"-secret").Str("id_token")
	seg := strings.Split(raw, ".")
	body, _ := base64.RawURLEncoding.DecodeString(seg[1])
	claims := map[string]any{}
	if err := json.Unmarshal(body, &claims); err != nil {
		t.Fatal(err)
	}
	if sid, _ := claims["sid"].(string); sid == "" {
		t.Fatalf("the ID token has no sid: %v", claims)
	}
	return claims, raw
}

// wantLogout checks that got names sub and exactly the sids, each once.
func wantLogout(t *testing.T, got []logoutClaims, sub string, sids ...string) {
	t.Helper()
	want := map[string]bool{}
	for _, sid := range sids {
		want[sid] = true
	}
	for _, c := range got {
		if c.Sub != sub || !want[c.Sid] {
			t.Fatalf("logout token for sub %q sid %q, want %q and one of %q", c.Sub, c.Sid, sub, sids)
		}
		delete(want, c.Sid)
	}
	if len(want) > 0 {
		t.Fatalf("no logout token for %v", want)
	}
}

// Signing out at oauth2d reaches every app registered for back-channel
// logout, for each of the four triggers, with the session made on one
// instance and ended on the other.
func TestBackchannelLogout(t *testing.T) {
	w := newBCLWorld(t)
	alice := w.a.Alice.ID

	t.Run("sign-out at /logout", func(t *testing.T) {
		b := w.a.NewBrowser(t)
		idt, _ := w.signInTo(t, b, w.appID)
		idt2, _ := w.signInTo(t, b, w.strictID)
		if idt["sid"] != idt2["sid"] {
			t.Fatalf("one session, two sids: %v %v", idt["sid"], idt2["sid"])
		}
		onB := w.b.NewBrowser(t)
		onB.Client.Jar = b.Client.Jar
		confirm := onB.Get(w.b.URL + "/logout")
		p := onB.Post(w.b.URL+"/logout", url.Values{"csrf_token": {confirm.Hidden("csrf_token")}})
		if p.Status != http.StatusOK || !strings.Contains(p.Body, "You are signed out") {
			t.Fatalf("sign-out: %d", p.Status)
		}
		sid := idt["sid"].(string)
		wantLogout(t, w.app.wait(t, 1), alice, sid)
		wantLogout(t, w.strict.wait(t, 1), alice, sid)
		w.consented.wait(t, 0)
	})
	t.Run("RP-initiated logout", func(t *testing.T) {
		b := w.a.NewBrowser(t)
		idt, raw := w.signInTo(t, b, w.appID)
		confirm := b.Get("/oauth2/logout?" + url.Values{"id_token_hint": {raw}}.Encode())
		p := b.Post("/oauth2/logout", url.Values{"csrf_token": {confirm.Hidden("csrf_token")}, "id_token_hint": {raw}})
		if p.Status != http.StatusOK || signedIn(t, b) {
			t.Fatalf("RP-initiated logout: %d", p.Status)
		}
		wantLogout(t, w.app.wait(t, 1), alice, idt["sid"].(string))
	})
	var stillSignedIn string // the consent subtest's session
	t.Run("consent withdrawn", func(t *testing.T) {
		b := w.a.NewBrowser(t)
		w.signInTo(t, b, w.appID)
		idt, _ := w.signInTo(t, b, w.consentedID)
		page := b.Get("/account/consents")
		p := b.Post(w.b.URL+"/account/consents/revoke", url.Values{"client_id": {w.consentedID}, "csrf_token": {page.Hidden("csrf_token")}})
		if p.Status != http.StatusSeeOther {
			t.Fatalf("revoke consent: %d", p.Status)
		}
		wantLogout(t, w.consented.wait(t, 1), alice, idt["sid"].(string))
		w.app.wait(t, 0) // the other app stays signed in, and so does the browser
		if !signedIn(t, b) {
			t.Fatal("withdrawing one consent signed the browser out")
		}
		stillSignedIn = idt["sid"].(string)
	})
	t.Run("admin revokes the user's tokens", func(t *testing.T) {
		b := w.a.NewBrowser(t)
		idt, _ := w.signInTo(t, b, w.appID)
		w.admin(t, http.MethodPost, "/admin/v1/users/"+alice+"/revoke-tokens", http.StatusOK)
		// Every session of the user ends: this one and the consent
		// subtest's, which reached the app and the consented app.
		wantLogout(t, w.app.wait(t, 2), alice, idt["sid"].(string), stillSignedIn)
		wantLogout(t, w.consented.wait(t, 1), alice, stillSignedIn)
		if signedIn(t, b) {
			t.Fatal("the browser session survived the revocation")
		}
	})
	t.Run("admin deletes the user", func(t *testing.T) {
		b := w.a.NewBrowser(t)
		idt, _ := w.signInTo(t, b, w.appID)
		idtC, _ := w.signInTo(t, b, w.consentedID)
		b2 := w.a.NewBrowser(t)
		idt2, _ := w.signInTo(t, b2, w.strictID)
		w.admin(t, http.MethodDelete, "/admin/v1/users/"+alice, http.StatusNoContent)
		wantLogout(t, w.app.wait(t, 1), alice, idt["sid"].(string))
		wantLogout(t, w.consented.wait(t, 1), alice, idtC["sid"].(string))
		wantLogout(t, w.strict.wait(t, 1), alice, idt2["sid"].(string))
	})
}

// Signing in over a signed-in session replaces it with a new sid: the old
// one ends as on signing out, so the apps that signed in under it are
// told, whoever signs in now. The new session's apps are not.
func TestSigningInAgainEndsTheReplacedSession(t *testing.T) {
	w := newBCLWorld(t)
	alice, bob := w.a.Alice.ID, w.a.Bob.ID
	for _, tc := range []struct {
		name, username, password, wantSub string
	}{
		{"same user", "alice", webtest.AlicePassword, alice},
		{"another user", "bob", webtest.BobPassword, bob},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := w.a.NewBrowser(t)
			idt, _ := w.signInTo(t, b, w.appID)
			w.signInTo(t, b, w.strictID)
			replaced := idt["sid"].(string)

			again := w.signInAgainAs(t, b, w.appID, tc.username, tc.password)
			if again["sid"] == replaced || again["sub"] != tc.wantSub {
				t.Fatalf("after signing in again: sid %v sub %v, want a new sid for %s", again["sid"], again["sub"], tc.wantSub)
			}
			wantLogout(t, w.app.wait(t, 1), alice, replaced)
			wantLogout(t, w.strict.wait(t, 1), alice, replaced)
			w.consented.wait(t, 0)
			if !signedIn(t, b) {
				t.Fatal("the new sign-in did not keep the browser signed in")
			}
		})
	}
}

// An app keeps its own session after the user's oauth2d browser session
// has ended (a first-party app, no consent remembered): an administrator
// who revokes the user's tokens or deletes the user still reaches it, with
// a logout token naming the user alone, once, and only once per action
// when it also signed in through a live session (that one names the sid).
// The app that requires a sid gets one naming each ended session it
// signed in through, once: not again after it was told of that session.
func TestAdminSignOutReachesAppsOfEndedSessions(t *testing.T) {
	const absolute = 2 * time.Second
	w := newBCLWorldWith(t, webtest.Options{SessionAbsolute: absolute})
	alice := w.a.Alice.ID
	// signInAndOutlive signs a new browser in to the apps, waits until
	// its oauth2d session has ended, and returns that session's sid.
	signInAndOutlive := func(t *testing.T, clientIDs ...string) (sid string) {
		t.Helper()
		b := w.a.NewBrowser(t)
		start := time.Now()
		for _, c := range clientIDs {
			idt, _ := w.signInTo(t, b, c)
			if sid, _ = idt["sid"].(string); sid == "" {
				t.Fatalf("an ID token for %s without a sid", c)
			}
		}
		time.Sleep(time.Until(start.Add(absolute + 300*time.Millisecond)))
		if signedIn(t, b) {
			t.Fatal("the browser session outlived its absolute lifetime")
		}
		return sid
	}

	t.Run("revoked: the live session's sid, once; the ended one's to the strict app", func(t *testing.T) {
		ended := signInAndOutlive(t, w.appID, w.strictID)
		b := w.a.NewBrowser(t)
		idt, _ := w.signInTo(t, b, w.appID)
		w.admin(t, http.MethodPost, "/admin/v1/users/"+alice+"/revoke-tokens", http.StatusOK)
		wantLogout(t, w.app.wait(t, 1), alice, idt["sid"].(string))
		wantLogout(t, w.strict.wait(t, 1), alice, ended)
		w.consented.wait(t, 0)
	})
	t.Run("revoked again: the user alone, then nothing more", func(t *testing.T) {
		// Told of one session only, the app may still hold an older one.
		w.admin(t, http.MethodPost, "/admin/v1/users/"+alice+"/revoke-tokens", http.StatusOK)
		wantLogout(t, w.app.wait(t, 1), alice, "")
		// Told that the user is signed out, it is forgotten.
		w.admin(t, http.MethodPost, "/admin/v1/users/"+alice+"/revoke-tokens", http.StatusOK)
		w.app.wait(t, 0)
		w.strict.wait(t, 0)
	})
	t.Run("the user's own sign-out tells only its session's apps, once", func(t *testing.T) {
		signInAndOutlive(t, w.appID)
		b := w.a.NewBrowser(t)
		idt, _ := w.signInTo(t, b, w.strictID)
		confirm := b.Get("/logout")
		if p := b.Post("/logout", url.Values{"csrf_token": {confirm.Hidden("csrf_token")}}); p.Status != http.StatusOK {
			t.Fatalf("sign-out: %d", p.Status)
		}
		wantLogout(t, w.strict.wait(t, 1), alice, idt["sid"].(string))
		w.app.wait(t, 0)
	})
	t.Run("deleted", func(t *testing.T) {
		// The strict app was told of the session the user signed out of
		// above: only the one that ended since is named.
		ended := signInAndOutlive(t, w.appID, w.strictID)
		w.admin(t, http.MethodDelete, "/admin/v1/users/"+alice, http.StatusNoContent)
		wantLogout(t, w.app.wait(t, 1), alice, "")
		wantLogout(t, w.strict.wait(t, 1), alice, ended)
		w.consented.wait(t, 0)
	})
}

// admin calls the admin API on instance B with an admin's token.
func (w *bclWorld) admin(t *testing.T, method, path string, want int) {
	t.Helper()
	m := token.NewMinter(w.a.Keys, w.a.Issuer, []string{webtest.AdminAudience(w.a.Issuer)}, time.Now)
	at, _, err := m.MintAccess(context.Background(), token.AccessRequest{Subject: w.a.Admin.ID, ClientID: webtest.FirstPartyID,
		Scope: []string{"admin"}, Roles: []string{"admin"}, Lifetime: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(method, w.b.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+at)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d", method, path, res.StatusCode, want)
	}
}

func TestDiscoveryAdvertisesBackchannelLogout(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	res, err := http.Get(s.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var md struct {
		Backchannel        bool     `json:"backchannel_logout_supported"`
		BackchannelSession bool     `json:"backchannel_logout_session_supported"`
		Claims             []string `json:"claims_supported"`
	}
	if err := json.NewDecoder(res.Body).Decode(&md); err != nil {
		t.Fatal(err)
	}
	if !md.Backchannel || !md.BackchannelSession || !slices.Contains(md.Claims, "sid") {
		t.Fatalf("metadata %+v", md)
	}
}
