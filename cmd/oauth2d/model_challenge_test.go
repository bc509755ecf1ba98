package main

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"pgregory.net/rapid"

	"github.com/oauth2d/oauth2d/internal/oauth"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// The authorization challenge endpoint in the model
// (draft-ietf-oauth-first-party-apps-04): a first-party app signs a user
// in without a browser. A user with a second factor gets
// insufficient_authorization and an auth_session, and proves a TOTP code
// with it; the code is redeemed by the code grant, and its tokens carry
// what the policy allows and say exactly what was proved.

// challenge posts to the authorization challenge endpoint as c.
func (m *model) challenge(c *modelClient, f url.Values) response {
	if c.public {
		f.Set("client_id", c.id)
	}
	req, _ := http.NewRequest(http.MethodPost, m.srv.URL+oauth.AuthorizationChallengePath, strings.NewReader(f.Encode()))
	if !c.public {
		req.SetBasicAuth(c.id, c.secret)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res := m.send(req)
	if res.err != nil {
		m.t.Fatal(res.err)
	}
	m.no5xx(res)
	return res
}

func (m *model) challengeFlow(t *rapid.T) {
	c := m.pickClient(t, "authorization_code")
	u := m.pickUser(t)
	scope := drawScope(t, "scope", c.scopes)
	resources := m.drawResources(t, "resources")
	verifier, ch := webtest.PKCE()
	f := url.Values{"username": {u.username}, "password": {"model-password"}, "code_challenge": {ch},
		"code_challenge_method": {"S256"}, "resource": resources}
	if scope != nil {
		f.Set("scope", strings.Join(scope, " "))
	}
	res := m.challenge(c, f)
	switch {
	case !c.first || c.selfReg:
		if res.status != 400 || res.str("error") != "unauthorized_client" {
			t.Fatalf("INVARIANT: challenge endpoint for %s (first party %v, self-registered %v): %d %s", c.key, c.first, c.selfReg, res.status, res.raw)
		}
		return
	case res.status == http.StatusTooManyRequests:
		return
	case !subset(scope, c.scopes) || !m.resourcesOK(resources, nil, scope):
		if res.status == 200 || res.str("auth_session") != "" {
			t.Fatalf("challenge for scope %v resources %v beyond %s's: %s", scope, resources, c.key, res.raw)
		}
		return
	case u.deleted:
		if res.status == 200 || res.str("auth_session") != "" {
			t.Fatalf("a deleted user signed in at the challenge endpoint: %s", res.raw)
		}
		return
	}
	allowed := m.allowed(c, u, c.scopes)
	if !subset(scope, allowed) && res.status != 200 && res.str("error") != "insufficient_authorization" {
		return // the policy may refuse what the user's roles do not allow, as the password grant does
	}
	amr, sess := pwdAMR, ""
	if u.hasFactor() {
		if res.status == 200 {
			t.Fatalf("INVARIANT 1: %s, who has a second factor, got a code for the password alone: %s", u.key, res.raw)
		}
		if u.totp == nil { // passkeys alone: a recovery code or the browser
			if e := res.str("error"); e != "redirect_to_web" && e != "insufficient_authorization" || strings.Contains(res.raw, `"totp"`) {
				t.Fatalf("passkey user %s at the challenge endpoint: %d %s", u.key, res.status, res.raw)
			}
			return
		}
		sess = res.str("auth_session")
		if res.status != 400 || res.str("error") != "insufficient_authorization" || sess == "" || !strings.Contains(res.raw, `"totp"`) {
			t.Fatalf("%s with TOTP at the challenge endpoint: %d %s", u.key, res.status, res.raw)
		}
		right := m.freshCode(t, u.totp)
		if rapid.Bool().Draw(t, "wrong code first") {
			wrong := right[:5] + string('0'+(right[5]-'0'+1)%10)
			res = m.challenge(c, url.Values{"auth_session": {sess}, "totp": {wrong}})
			if res.status == 200 {
				t.Fatalf("a wrong TOTP code gave a code: %s", res.raw)
			}
		}
		res = m.challenge(c, url.Values{"auth_session": {sess}, "totp": {right}})
		if res.status == http.StatusTooManyRequests {
			return
		}
		amr = mfaAMR
	}
	if res.status != 200 || res.str("authorization_code") == "" {
		t.Fatalf("challenge for %s via %s within the policy refused: %d %s", u.key, c.key, res.status, res.raw)
	}
	if sess != "" {
		// Used once only.
		again := m.challenge(c, url.Values{"auth_session": {sess}, "totp": {m.freshCode(t, u.totp)}})
		if again.status == 200 || again.str("error") != "invalid_session" {
			t.Fatalf("INVARIANT: an auth_session used twice: %d %s", again.status, again.raw)
		}
	}
	want := scope
	if len(want) == 0 {
		want = allowed
	}
	want = slices.DeleteFunc(slices.Clone(want), func(s string) bool { return !slices.Contains(allowed, s) })
	if len(resources) > 0 {
		want = slices.DeleteFunc(want, func(s string) bool { return !m.carriedBy(resources, s) })
	}
	tok := m.token(c, url.Values{"grant_type": {"authorization_code"}, "code": {res.str("authorization_code")}, "code_verifier": {verifier}}, nil)
	if tok.status != 200 {
		t.Fatalf("the challenge code was refused at the token endpoint: %d %s", tok.status, tok.raw)
	}
	m.checkIssued(tok, c, u, want, nil, nil, nil, resources)
	m.checkAuthn(tok, amr)
	if idt := tok.str("id_token"); idt != "" {
		m.idTokens = append(m.idTokens, idToken{raw: idt, client: c, user: u})
	}
	if fam := m.startFamily(tok, c, u, nil); fam != nil {
		fam.resources, fam.held, fam.amr = resources, m.allowed(c, u, want), amr
	}
}
