package web

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/audit"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// Paths of the account home and its sessions part.
const (
	AccountPath                  = "/account"
	AccountSessionsPath          = "/account/sessions"
	AccountSessionEndPath        = AccountSessionsPath + "/end"
	AccountSessionsEndOthersPath = AccountSessionsPath + "/end-others"
)

// Bounds on what a session records of its browser (storage.BrowserSession
// Device and IP): a User-Agent is read no further than maxUserAgentRead
// bytes, and what is kept is short whatever was sent.
const (
	maxUserAgentRead = 512
	maxDeviceLen     = 64
	maxIPLen         = 64 // an IPv6 address with a zone fits
)

// accountSection is one part of the account home: a link and what it is
// for. The sections of second factors add theirs to accountSections.
type accountSection struct{ Title, Path, Description string }

// accountSections are the parts of the account home, in order.
func (h *Handler) accountSections() []accountSection {
	return []accountSection{
		{"Where you are signed in", AccountSessionsPath, "The browsers signed in to your account; sign out any of them."},
		{"Password", AccountPasswordPath, "Change your password."},
		{"Connected applications", AccountConsentPath, "The applications you have given access to your account."},
	}
}

// accountData is the account home.
type accountData struct {
	Title, CSRF, Username string
	Sections              []accountSection
}

// Account serves GET /account: the signed-in person's account home.
func (h *Handler) Account(c *gin.Context) {
	s, user, ok := h.signedInUser(c)
	if !ok {
		return
	}
	h.render(c.Writer, http.StatusOK, "account", accountData{Title: "Your account", CSRF: s.CSRFToken,
		Username: user.Username, Sections: h.accountSections()})
}

// sessionsData is the sessions page.
type sessionsData struct {
	Title, CSRF, Username string
	Sessions              []sessionLine
	// Notice says what the last action did.
	Notice string
}

// sessionLine is one signed-in browser session.
type sessionLine struct {
	SID, Device, IP, SignedIn, LastSeen string
	Current                             bool
}

// AccountSessions serves GET /account/sessions: the person's signed-in
// browser sessions, this one first, then the most recently seen.
func (h *Handler) AccountSessions(c *gin.Context) {
	s, user, ok := h.signedInUser(c)
	if !ok {
		return
	}
	lines, err := h.sessionLines(c.Request.Context(), s)
	if err != nil {
		h.serverError(c, "list sessions", err)
		return
	}
	data := sessionsData{Title: "Where you are signed in", CSRF: s.CSRFToken, Username: user.Username, Sessions: lines}
	switch c.Query("done") {
	case "one":
		data.Notice = "That session is signed out."
	case "others":
		data.Notice = "Every other session is signed out."
	}
	h.render(c.Writer, http.StatusOK, "sessions", data)
}

// sessionLines reads the user's sessions through the per-user index
// (storage.MaxUserSessions at most) and their records in one step.
func (h *Handler) sessionLines(ctx context.Context, s *session) ([]sessionLine, error) {
	logins, err := h.store.UserSessionLogins(ctx, s.UserID)
	if err != nil {
		return nil, err
	}
	hashes := make([]string, len(logins))
	for i, l := range logins {
		hashes[i] = l.SessionHash
	}
	sessions, err := h.store.GetSessions(ctx, hashes)
	if err != nil {
		return nil, err
	}
	type line struct {
		sessionLine
		seen time.Time
	}
	var lines []line
	for i, bs := range sessions {
		if bs == nil || bs.UserID != s.UserID || bs.SID != logins[i].SID {
			continue // ended meanwhile, or never stored
		}
		lines = append(lines, line{sessionLine{SID: bs.SID, Device: orUnknown(bs.Device), IP: orUnknown(bs.IP),
			SignedIn: pageTime(bs.CreatedAt), LastSeen: pageTime(bs.LastSeen), Current: bs.SID == s.SID}, bs.LastSeen})
	}
	sort.SliceStable(lines, func(i, j int) bool {
		if lines[i].Current != lines[j].Current {
			return lines[i].Current
		}
		return lines[i].seen.After(lines[j].seen)
	})
	out := make([]sessionLine, len(lines))
	for i, l := range lines {
		out[i] = l.sessionLine
	}
	return out, nil
}

// EndAccountSession serves POST /account/sessions/end (sid, csrf_token):
// the person signs out one of their sessions, this one included. It ends
// as a logout ends it: wherever its cookie is, and the applications that
// signed in through it are told (back-channel logout).
func (h *Handler) EndAccountSession(c *gin.Context) {
	s, ok := h.accountForm(c)
	if !ok {
		return
	}
	r := c.Request
	sid := r.PostFormValue("sid")
	if sid == "" || len(sid) > maxSIDLen {
		h.errorPage(c, http.StatusBadRequest, "No session was named.")
		return
	}
	if sid == s.SID {
		if err := h.endOwnSession(c, s); err != nil {
			h.serverError(c, "sign out", err)
			return
		}
		h.auditSessionEnded(c, s.UserID, "this_session")
		c.Header("Cache-Control", "no-store")
		c.Redirect(http.StatusSeeOther, LoginPath)
		return
	}
	// Only the person's own session: a sid of someone else's is refused
	// as if it did not exist.
	login, err := h.store.GetSessionLogin(r.Context(), sid)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.serverError(c, "load session", err)
		return
	}
	if err == nil && login.UserID == s.UserID {
		if _, err := h.logouts.EndSession(r.Context(), sid); err != nil {
			h.serverError(c, "end session", err)
			return
		}
		h.auditSessionEnded(c, s.UserID, "other_session")
	}
	c.Header("Cache-Control", "no-store")
	c.Redirect(http.StatusSeeOther, AccountSessionsPath+"?done=one")
}

// EndOtherAccountSessions serves POST /account/sessions/end-others
// (csrf_token): every session of the person but this one ends, as
// EndAccountSession ends one.
func (h *Handler) EndOtherAccountSessions(c *gin.Context) {
	s, ok := h.accountForm(c)
	if !ok {
		return
	}
	n, err := h.endOtherSessions(c.Request.Context(), s)
	if err != nil {
		h.serverError(c, "end sessions", err)
		return
	}
	if n > 0 {
		h.auditSessionEnded(c, s.UserID, "other_sessions")
	}
	c.Header("Cache-Control", "no-store")
	c.Redirect(http.StatusSeeOther, AccountSessionsPath+"?done=others")
}

// endOtherSessions ends every session of s's user but s, telling their
// applications, and returns how many it ended.
func (h *Handler) endOtherSessions(ctx context.Context, s *session) (int, error) {
	logins, err := h.store.UserSessionLogins(ctx, s.UserID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, l := range logins {
		if l.SID == s.SID {
			continue
		}
		ended, err := h.logouts.EndSession(ctx, l.SID)
		if err != nil {
			return n, err
		}
		if ended {
			n++
		}
	}
	return n, nil
}

// endOwnSession signs the browser's own session out as the logout page
// does.
func (h *Handler) endOwnSession(c *gin.Context, s *session) error {
	ended, err := h.logouts.EndSession(c.Request.Context(), s.SID)
	if err != nil {
		return err
	}
	if ended {
		h.clearSessionCookie(c.Writer)
		return nil
	}
	return h.signOut(c.Writer, c.Request, s)
}

func (h *Handler) auditSessionEnded(c *gin.Context, userID, reason string) {
	audit.Emit(c.Request.Context(), audit.Event{Event: audit.SessionEnded, Outcome: audit.Success, Actor: userID,
		Subject: userID, IP: c.ClientIP(), Reason: reason})
}

// accountForm reads a POST of the account pages: the form, a signed-in
// session and its CSRF token, or it shows the error page and reports
// false.
func (h *Handler) accountForm(c *gin.Context) (*session, bool) {
	r := c.Request
	r.Body = http.MaxBytesReader(c.Writer, r.Body, maxAccountForm)
	if err := r.ParseForm(); err != nil {
		h.errorPage(c, http.StatusBadRequest, "The form could not be read.")
		return nil, false
	}
	s, _, ok := h.signedInUser(c)
	if !ok {
		return nil, false
	}
	if !validCSRF(s, r) {
		h.errorPage(c, http.StatusForbidden, "This form expired or was not sent from this site. Reload the page and try again.")
		return nil, false
	}
	return s, true
}

// maxAccountForm bounds an account page's form: three passwords of
// account.MaxPasswordLen, URL-encoded, and a token, with room to spare.
const maxAccountForm = 16 << 10

// maxSIDLen bounds a sid from a form (ours are 22 characters).
const maxSIDLen = 128

// pageTime is how the sessions page writes a moment.
func pageTime(t time.Time) string { return t.UTC().Format("2 January 2006, 15:04 UTC") }

func orUnknown(s string) string {
	if s == "" {
		return "Unknown"
	}
	return s
}

// clientAddress bounds the address a session records.
func clientAddress(ip string) string {
	if len(ip) > maxIPLen {
		return ""
	}
	return ip
}

// describeDevice turns a User-Agent into a short description such as
// "Firefox on Linux", for the person to recognise their browsers by. It
// reads a bounded prefix and keeps only names it knows, so nothing the
// browser sent is shown back as it was.
func describeDevice(ua string) string {
	if len(ua) > maxUserAgentRead {
		ua = ua[:maxUserAgentRead]
	}
	browser := firstMatch(ua, []nameMark{
		{"Edge", "Edg/"}, {"Opera", "OPR/"}, {"Samsung Internet", "SamsungBrowser/"}, {"Firefox", "Firefox/"},
		{"Chromium", "Chromium/"}, {"Chrome", "HeadlessChrome/"}, {"Chrome", "Chrome/"}, {"Chrome", "CriOS/"},
		{"Safari", "Safari/"}, {"curl", "curl/"},
	})
	system := firstMatch(ua, []nameMark{
		{"Android", "Android"}, {"iPhone", "iPhone"}, {"iPad", "iPad"}, {"ChromeOS", "CrOS"}, {"Windows", "Windows"},
		{"macOS", "Mac OS X"}, {"Linux", "Linux"},
	})
	d := "Unknown browser"
	if browser != "" {
		d = browser
	}
	if system != "" {
		d += " on " + system
	}
	if len(d) > maxDeviceLen {
		d = d[:maxDeviceLen]
	}
	return d
}

type nameMark struct{ name, mark string }

func firstMatch(ua string, marks []nameMark) string {
	for _, m := range marks {
		if strings.Contains(ua, m.mark) {
			return m.name
		}
	}
	return ""
}
