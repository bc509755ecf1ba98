package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/oauth2d/oauth2d/internal/ratelimit"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// newAlicePassword is a password the policy accepts (15+ characters, not
// common, not alice's username or email).
const newAlicePassword = "purple tractor in the rain"

// signedInAs signs a new browser in on s as username, with a User-Agent
// the sessions page describes.
func signedInAs(t *testing.T, s *webtest.Server, username, password, userAgent string) *webtest.Browser {
	t.Helper()
	b := s.NewBrowser(t)
	b.Client.Transport = userAgentTransport{ua: userAgent, next: b.Client.Transport}
	p := b.SubmitLogin(b.Get("/login"), username, password)
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "Your account") {
		t.Fatalf("sign-in as %s ended at %d %s", username, p.Status, p.URL)
	}
	return b
}

type userAgentTransport struct {
	ua   string
	next http.RoundTripper
}

func (u userAgentTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", u.ua)
	next := u.next
	if next == nil {
		next = http.DefaultTransport
	}
	return next.RoundTrip(r)
}

const (
	firefoxUA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	iphoneUA  = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)

func TestChangePasswordRefusals(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	b := signedInAs(t, s, "alice", webtest.AlicePassword, firefoxUA)
	page := b.Get("/account/password")
	csrf := page.Hidden("csrf_token")
	if page.Status != http.StatusOK || csrf == "" {
		t.Fatalf("password page: %d", page.Status)
	}
	for _, tc := range []struct {
		name                 string
		current, next, again string
		csrf                 string
		wantStatus           int
		wantText             string
	}{
		{"wrong current password", "not-alice-password", newAlicePassword, newAlicePassword, csrf, 400, "current password is not right"},
		{"common password", webtest.AlicePassword, "1qaz2wsx3edc4rfv", "1qaz2wsx3edc4rfv", csrf, 400, "most commonly used"},
		{"too short", webtest.AlicePassword, "short but ok", "short but ok", csrf, 400, "at least 15 characters"},
		{"the username", webtest.AlicePassword, "alice@example.com", "alice@example.com", csrf, 400, "username or email"},
		{"mismatch", webtest.AlicePassword, newAlicePassword, newAlicePassword + "!", csrf, 400, "not the same"},
		{"CSRF missing", webtest.AlicePassword, newAlicePassword, newAlicePassword, "", 403, "form expired"},
		{"CSRF wrong", webtest.AlicePassword, newAlicePassword, newAlicePassword, csrf + "x", 403, "form expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := b.Post("/account/password", url.Values{"current_password": {tc.current}, "new_password": {tc.next},
				"new_password_again": {tc.again}, "csrf_token": {tc.csrf}})
			if p.Status != tc.wantStatus || !strings.Contains(p.Body, tc.wantText) {
				t.Fatalf("%d, want %d with %q:\n%s", p.Status, tc.wantStatus, tc.wantText, p.Body)
			}
			if stillOld(t, s) {
				return
			}
			t.Fatal("the password changed")
		})
	}
}

// stillOld reports whether alice's stored password is still the first.
func stillOld(t *testing.T, s *webtest.Server) bool {
	t.Helper()
	u, err := s.Store.GetUser(context.Background(), s.Alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	ok, err := secret.Verify(u.PasswordHash, webtest.AlicePassword)
	return err == nil && ok
}

// A wrong current password spends the login budgets: past them the page
// answers 429 even for the right one.
func TestChangePasswordSpendsLoginBudget(t *testing.T) {
	s := webtest.New(t, webtest.Options{Limits: ratelimit.Limits{PerUsernameIP: 3, PerIP: 100, PerUsername: 100}})
	b := signedInAs(t, s, "alice", webtest.AlicePassword, firefoxUA)
	csrf := b.Get("/account/password").Hidden("csrf_token")
	form := func(current string) url.Values {
		return url.Values{"current_password": {current}, "new_password": {newAlicePassword},
			"new_password_again": {newAlicePassword}, "csrf_token": {csrf}}
	}
	throttled := false
	for range 10 {
		if p := b.Post("/account/password", form("wrong-password")); p.Status == http.StatusTooManyRequests {
			throttled = p.Header.Get("Retry-After") != ""
			break
		}
	}
	if !throttled {
		t.Fatal("10 wrong current passwords were never throttled")
	}
	if p := b.Post("/account/password", form(webtest.AlicePassword)); p.Status != http.StatusTooManyRequests || !stillOld(t, s) {
		t.Fatalf("the right password past the budget: %d", p.Status)
	}
}

// Changing the password ends every other session (their applications are
// told) and revokes the person's refresh tokens; this session goes on.
func TestChangePasswordEndsOtherSessionsAndTokens(t *testing.T) {
	w := newBCLWorld(t)
	other := w.a.NewBrowser(t)
	claims, _ := w.signInTo(t, other, w.appID)
	params, verifier := webtest.CodeRequest(webtest.FirstPartyID, "openid offline_access")
	code := w.a.Callback(t, other.Authorize(params)).Get("code")
	refresh := w.b.Exchange(t, code, verifier, webtest.FirstPartyID, webtest.FirstPartySecret).Str("refresh_token")
	if refresh == "" {
		t.Fatal("no refresh token")
	}

	me := signedInAs(t, w.a, "alice", webtest.AlicePassword, firefoxUA)
	csrf := me.Get("/account/password").Hidden("csrf_token")
	p := me.Follow(me.Post("/account/password", url.Values{"current_password": {webtest.AlicePassword},
		"new_password": {newAlicePassword}, "new_password_again": {newAlicePassword}, "csrf_token": {csrf}}))
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "Your password is changed") {
		t.Fatalf("change: %d %s", p.Status, p.Body)
	}
	got := w.app.wait(t, 1)
	if got[0].Sid != claims["sid"] || got[0].Sub != w.a.Alice.ID {
		t.Fatalf("logout token %+v, want the other session's sid %v", got[0], claims["sid"])
	}
	if p := other.Get("/account"); p.Status != http.StatusFound || p.Location().Path != "/login" {
		t.Fatalf("the other browser is still signed in: %d", p.Status)
	}
	if p := me.Get("/account"); p.Status != http.StatusOK {
		t.Fatalf("this browser was signed out: %d", p.Status)
	}
	if res := w.b.PostToken(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}},
		webtest.FirstPartyID, webtest.FirstPartySecret); res.Status != http.StatusBadRequest || res.Str("error") != "invalid_grant" {
		t.Fatalf("a refresh token issued before the change: %d %s", res.Status, res.Raw)
	}
	signedInAs(t, w.a, "alice", newAlicePassword, firefoxUA) // the new password signs in
}

var sessionItem = regexp.MustCompile(`(?s)<li( class="current")?>\s*<h2>([^<]*)(?:<span[^>]*>\(this session\)</span>)?</h2>.*?name="sid" value="([^"]+)"`)

type listedSession struct {
	device, sid string
	current     bool
}

func listSessions(t *testing.T, b *webtest.Browser) ([]listedSession, string) {
	t.Helper()
	p := b.Get("/account/sessions")
	if p.Status != http.StatusOK {
		t.Fatalf("sessions page: %d", p.Status)
	}
	var out []listedSession
	for _, m := range sessionItem.FindAllStringSubmatch(p.Body, -1) {
		out = append(out, listedSession{device: strings.TrimSpace(m[2]), sid: m[3], current: m[1] != ""})
	}
	return out, p.Hidden("csrf_token")
}

// The sessions page lists the person's sessions, this one first and
// marked, each described by its browser; "sign out all others" ends the
// others as a logout does: the applications they signed in to are told.
func TestSessionsPageSignOutOthers(t *testing.T) {
	w := newBCLWorld(t)
	phone := w.a.NewBrowser(t)
	phone.Client.Transport = userAgentTransport{ua: iphoneUA, next: phone.Client.Transport}
	claims, _ := w.signInTo(t, phone, w.appID)
	bob := signedInAs(t, w.a, "bob", webtest.BobPassword, firefoxUA)
	me := signedInAs(t, w.a, "alice", webtest.AlicePassword, firefoxUA)

	list, csrf := listSessions(t, me)
	if len(list) != 2 || !list[0].current || list[0].device != "Firefox on Linux" || list[1].current || list[1].device != "Safari on iPhone" {
		t.Fatalf("listed %+v", list)
	}
	if list[1].sid != claims["sid"] {
		t.Fatalf("the phone's sid %q, want %v", list[1].sid, claims["sid"])
	}
	if p := me.Post("/account/sessions/end-others", url.Values{}); p.Status != http.StatusForbidden {
		t.Fatalf("without CSRF: %d", p.Status)
	}
	if p := me.Post("/account/sessions/end-others", url.Values{"csrf_token": {csrf}}); p.Status != http.StatusSeeOther {
		t.Fatalf("end others: %d", p.Status)
	}
	got := w.app.wait(t, 1)
	if got[0].Sid != claims["sid"] {
		t.Fatalf("logout token for sid %q, want %v", got[0].Sid, claims["sid"])
	}
	if list, _ := listSessions(t, me); len(list) != 1 || !list[0].current {
		t.Fatalf("after: %+v", list)
	}
	if p := phone.Get("/account"); p.Status != http.StatusFound {
		t.Fatalf("the phone is still signed in: %d", p.Status)
	}
	if p := bob.Get("/account"); p.Status != http.StatusOK {
		t.Fatalf("another person's session ended: %d", p.Status)
	}
}

// "Sign out" on one line ends that session only, and only the person's
// own: a sid of someone else's ends nothing.
func TestSessionsPageSignOutOne(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	phone := signedInAs(t, s, "alice", webtest.AlicePassword, iphoneUA)
	bob := signedInAs(t, s, "bob", webtest.BobPassword, firefoxUA)
	me := signedInAs(t, s, "alice", webtest.AlicePassword, firefoxUA)
	bobList, _ := listSessions(t, bob)
	list, csrf := listSessions(t, me)
	if len(list) != 2 {
		t.Fatalf("listed %+v", list)
	}
	if p := me.Post("/account/sessions/end", url.Values{"csrf_token": {csrf}, "sid": {bobList[0].sid}}); p.Status != http.StatusSeeOther {
		t.Fatalf("end bob's: %d", p.Status)
	}
	if p := bob.Get("/account"); p.Status != http.StatusOK {
		t.Fatal("alice ended bob's session")
	}
	if p := me.Post("/account/sessions/end", url.Values{"csrf_token": {csrf}, "sid": {list[1].sid}}); p.Status != http.StatusSeeOther {
		t.Fatalf("end the phone's: %d", p.Status)
	}
	if p := phone.Get("/account"); p.Status != http.StatusFound {
		t.Fatal("the phone is still signed in")
	}
	// This session, last: the browser is signed out.
	if p := me.Post("/account/sessions/end", url.Values{"csrf_token": {csrf}, "sid": {list[0].sid}}); p.Status != http.StatusSeeOther || p.Location().Path != "/login" {
		t.Fatalf("end this one: %d", p.Status)
	}
	if p := me.Get("/account"); p.Status != http.StatusFound {
		t.Fatal("still signed in after signing this session out")
	}
}

// A bootstrap-managed user's password is the file's: the page refuses to
// change it.
func TestChangePasswordManagedUser(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	u := *s.Bob
	u.ManagedBy = storage.ManagedByBootstrap
	if err := s.Store.UpdateUser(context.Background(), &u); err != nil {
		t.Fatal(err)
	}
	b := signedInAs(t, s, "bob", webtest.BobPassword, firefoxUA)
	if p := b.Get("/account/password"); strings.Contains(p.Body, `name="new_password"`) {
		t.Fatal("the page offers a form")
	}
	_, csrf := listSessions(t, b)
	p := b.Post("/account/password", url.Values{"current_password": {webtest.BobPassword}, "new_password": {newAlicePassword},
		"new_password_again": {newAlicePassword}, "csrf_token": {csrf}})
	if p.Status != http.StatusConflict {
		t.Fatalf("%d %s", p.Status, p.Body)
	}
}

// Signing in beyond storage.MaxUserSessions signs the oldest session out
// as a logout does: the application it signed in to is told.
func TestSignInBeyondTheSessionBoundEndsTheOldest(t *testing.T) {
	w := newBCLWorld(t)
	oldest := w.a.NewBrowser(t)
	claims, _ := w.signInTo(t, oldest, w.appID)
	for range storage.MaxUserSessions - 1 {
		signedInAs(t, w.a, "alice", webtest.AlicePassword, firefoxUA)
	}
	if p := oldest.Get("/account"); p.Status != http.StatusOK {
		t.Fatalf("at the bound the oldest session ended: %d", p.Status)
	}
	me := signedInAs(t, w.a, "alice", webtest.AlicePassword, firefoxUA)
	if got := w.app.wait(t, 1); got[0].Sid != claims["sid"] {
		t.Fatalf("logout token for %q, want the oldest session %v", got[0].Sid, claims["sid"])
	}
	if p := oldest.Get("/account"); p.Status != http.StatusFound {
		t.Fatalf("the oldest session outlived the bound: %d", p.Status)
	}
	if list, _ := listSessions(t, me); len(list) != storage.MaxUserSessions {
		t.Fatalf("%d sessions listed, want %d", len(list), storage.MaxUserSessions)
	}
}
