package web

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/oauth2d/oauth2d/internal/problem"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// pageNames are the templates besides layout.html; each defines "content".
var pageNames = []string{"login", "consent", "error", "logout", "signedout", "consents", "account", "sessions", "password", "device", "device_done", "secondfactor", "security", "recoverycodes"}

// pageParts are the sections a page includes from files of their own, so
// that each feature keeps its part of a shared page in one file.
var pageParts = map[string][]string{"security": {"passkeys.html"}}

// scriptPages may run the one script the server serves
// (PasskeyScriptPath) when passkeys are on; every other page runs none.
var scriptPages = map[string]bool{"login": true, "security": true, "secondfactor": true}

func parsePages(fsys fs.FS, brand Branding) (map[string]*template.Template, error) {
	pages := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(brandFuncs(brand)).ParseFS(fsys, append([]string{"layout.html", name + ".html"}, pageParts[name]...)...)
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// render writes a page with the security headers every page carries.
// formTargets are the origins a form on the page may end up at after the
// server's redirects: Chromium applies form-action to every hop of a form
// submission's redirect chain, so a login or consent form that ends at the
// client's redirect URI needs that URI's origin listed.
func (h *Handler) render(w http.ResponseWriter, status int, name string, data any, formTargets ...string) {
	var buf bytes.Buffer
	if err := h.pages[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		h.log.Error("web: render page", "page", name, "err", err)
		status, buf = http.StatusInternalServerError, *bytes.NewBufferString("internal error")
	}
	setPageHeaders(w.Header(), h.imgSrc, scriptPages[name] && h.webauthn != nil, formTargets)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// setPageHeaders: no framing (RFC 9700 §4.16), no inline script or style
// at all and no script but the server's own passkey script on the pages
// that offer passkeys (script), no referrer (page URLs carry request ids), and no caching of pages
// that hold CSRF tokens or personal data. imgSrc is the img-src list:
// 'self' and the origin of the operator's logo.
func setPageHeaders(hdr http.Header, imgSrc string, script bool, formTargets []string) {
	formAction := "'self'"
	for _, t := range formTargets {
		if src := cspSource(t); src != "" && !strings.Contains(formAction, " "+src) {
			formAction += " " + src
		}
	}
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	scriptSrc := ""
	if script {
		scriptSrc = "script-src 'self'; "
	}
	hdr.Set("Content-Security-Policy", "default-src 'none'; "+scriptSrc+"style-src 'self'; img-src "+imgSrc+"; form-action "+
		formAction+"; frame-ancestors 'none'; base-uri 'none'")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Pragma", "no-cache")
}

// A CSP host source may hold only these; anything else (a space, a
// semicolon, a comma) would change the policy, so such a URI is left out.
var cspSafe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:(//[A-Za-z0-9.\-\[\]:]+)?$`)

// cspSource is the origin of a redirect target as a CSP source: scheme and
// host for http(s), the bare scheme for a native app's private-use scheme
// (RFC 8252 §7.1).
func cspSource(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return ""
	}
	src := u.Scheme + ":"
	if u.Host != "" {
		src += "//" + u.Host
	}
	if !cspSafe.MatchString(src) {
		return ""
	}
	return src
}

// errorData is the error page. RequestID is the response's X-Request-Id,
// shown so that a user can quote it and the operator find the log line.
// ClientName and ClientURI offer a way back to a client found by id.
type errorData struct {
	Title, Heading, Message, RequestID string
	ClientName, ClientURI              string
}

// RenderError shows a page for a request that cannot be answered any
// other way (package oauth calls it when the client or redirect URI is not
// trusted). The message is fixed text chosen by the caller. client, when
// the caller found it by id, gets a link back to its registered
// client_uri; it is nil otherwise.
func (h *Handler) RenderError(w http.ResponseWriter, _ *http.Request, status int, message string, client *storage.Client) {
	heading := "This request cannot be completed"
	if status >= 500 {
		heading = "Something went wrong"
	}
	if status == http.StatusServiceUnavailable {
		// The one 503 the pages show is a storage outage, whoever
		// renders it (these pages or the authorization endpoint).
		problem.SetRetryAfter(w.Header())
	}
	data := errorData{Title: "Error", Heading: heading, Message: message, RequestID: w.Header().Get(requestIDHeader)}
	if client != nil && client.ClientURI != "" {
		data.ClientName, data.ClientURI = clientName(client), client.ClientURI
	}
	h.render(w, status, "error", data)
}

func (h *Handler) errorPage(c *gin.Context, status int, message string) {
	h.RenderError(c.Writer, c.Request, status, message, nil)
}

// serverError shows the error page for a failure the user cannot fix: 503
// with Retry-After for a storage outage, else 500.
func (h *Handler) serverError(c *gin.Context, what string, err error) {
	h.log.ErrorContext(c.Request.Context(), "web: "+what, "request_id", c.Writer.Header().Get(requestIDHeader), "err", err)
	if problem.Unavailable(err) {
		h.errorPage(c, http.StatusServiceUnavailable, unavailableMessage)
		return
	}
	h.errorPage(c, http.StatusInternalServerError, "Something went wrong on our side. Please try again later.")
}

// Favicon answers a browser's request for /favicon.ico with the pages'
// icon, a PNG (every browser takes one at that path); it changes only
// with a release, so browsers may keep it a day.
func (h *Handler) Favicon(c *gin.Context) {
	c.Header("Cache-Control", "public, max-age=86400")
	c.Header("X-Content-Type-Options", "nosniff")
	c.Data(http.StatusOK, "image/png", h.favicon)
}

// requestIDHeader is the response header the request-id middleware sets
// (httpserver.RequestIDHeader; web does not import httpserver).
const requestIDHeader = "X-Request-Id"

// unavailableMessage is the page text of a storage outage.
const unavailableMessage = "The service is temporarily unavailable. Please try again in a moment."

// Stylesheet serves the pages' one stylesheet, with the accent colour's
// rule appended; it changes only with a release or a configuration
// change, so browsers may keep it an hour.
func (h *Handler) Stylesheet(c *gin.Context) {
	c.Header("Cache-Control", "public, max-age=3600")
	c.Header("X-Content-Type-Options", "nosniff")
	c.Data(http.StatusOK, "text/css; charset=utf-8", h.stylesheet)
}

// scopeLine is one scope on the consent and account pages. Raw is set
// for a scope nobody described, whose name is then all we can show.
type scopeLine struct {
	Name, Title, Description string
	Raw                      bool
}

func (h *Handler) describeScopes(scopes []string) []scopeLine {
	out := make([]scopeLine, 0, len(scopes))
	for _, s := range scopes {
		if text, ok := h.scopeTexts[s]; ok {
			out = append(out, scopeLine{Name: s, Title: text.Title, Description: text.Description})
		} else {
			out = append(out, scopeLine{Name: s, Title: "Use the permission", Raw: true})
		}
	}
	return out
}
