package oauth

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/clientmeta"
	"github.com/oauth2d/oauth2d/internal/problem"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/token"
)

// Errors of the authorization endpoint (RFC 6749 §4.1.2.1, OIDC Core
// §3.1.2.6). They travel on the redirect, so their status is never sent.
var (
	ErrUnsupportedResponseType = &Error{Code: "unsupported_response_type", Status: http.StatusBadRequest,
		Description: "only response_type=code is supported"}
	ErrAccessDenied = &Error{Code: "access_denied", Status: http.StatusForbidden,
		Description: "the user denied the request"}
	ErrLoginRequired = &Error{Code: "login_required", Status: http.StatusBadRequest,
		Description: "the user must sign in, which prompt=none does not allow"}
	ErrConsentRequired = &Error{Code: "consent_required", Status: http.StatusBadRequest,
		Description: "the user must consent, which prompt=none does not allow"}
	ErrRequestNotSupported = &Error{Code: "request_not_supported", Status: http.StatusBadRequest,
		Description: "request objects are not supported"}
	ErrRequestURINotSupported = &Error{Code: "request_uri_not_supported", Status: http.StatusBadRequest,
		Description: "request_uri is not supported"}
)

// errNotHintedUser: another user than the id_token_hint names is signed
// in (OIDC Core §3.1.2.1, §3.1.2.6).
var errNotHintedUser = ErrLoginRequired.WithDescription("the signed-in user is not the one id_token_hint names")

// Prompt values (OIDC Core §3.1.2.1) the server honours. select_account and
// create are not offered, so they are refused rather than ignored.
const (
	PromptNone    = "none"
	PromptLogin   = "login"
	PromptConsent = "consent"
)

// PromptValuesSupported is what discovery advertises.
var PromptValuesSupported = []string{PromptNone, PromptLogin, PromptConsent}

// Limits on free-text parameters: the request is sealed into the login
// page's URL (or kept in Redis) while the user signs in, and state and
// nonce come back in redirects and tokens. See also limits.go.
const (
	maxStateLen     = 1024
	maxNonceLen     = 512
	maxLoginHintLen = 256
)

// RFC 7636 §4.2: BASE64URL(SHA256(verifier)) is 43 characters.
var challengePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// pageError is a failure that cannot be sent to the client because the
// client or the redirect URI is not trusted (RFC 6749 §4.1.2.1): the user
// sees it on an error page instead.
type pageError struct {
	status  int
	message string
	// client, when found by id, lets the page link back to its
	// registered client_uri.
	client *storage.Client
}

// about is pe about client: the shared errPage values are not changed.
func (pe *pageError) about(client *storage.Client) *pageError {
	c := *pe
	c.client = client
	return &c
}

var (
	errPageNoClient      = &pageError{status: http.StatusBadRequest, message: "The request does not say which application it comes from (client_id is missing or repeated)."}
	errPageUnknownClient = &pageError{status: http.StatusBadRequest, message: "The application that sent you here is not registered."}
	errPageRedirect      = &pageError{status: http.StatusBadRequest, message: "The application asked to send you to an address it has not registered (redirect_uri). For your safety you were not sent there."}
	errPageNeedRedirect  = &pageError{status: http.StatusBadRequest, message: "The application registered several return addresses and did not say which one to use (redirect_uri is missing or repeated)."}
	errPageMalformed     = &pageError{status: http.StatusBadRequest, message: "The authorization request could not be read."}
	errPageExpired       = &pageError{status: http.StatusBadRequest, message: "This sign-in request has expired or was already answered. Go back to the application and start again."}
	errPageServer        = &pageError{status: http.StatusInternalServerError, message: "Something went wrong on our side. Please try again later."}
	errPageUnavailable   = &pageError{status: http.StatusServiceUnavailable, message: "The service is temporarily unavailable. Please try again in a moment."}
)

// serverPage is the page for a failure of ours: 503 (its Retry-After set
// by the page) for a storage outage, never 500 (DESIGN §8), else 500.
func serverPage(err error) *pageError {
	if problem.Unavailable(err) {
		return errPageUnavailable
	}
	return errPageServer
}

// authorizeParams reads the request's parameters: the query string of a
// GET, the form body of a POST (OIDC Core §3.1.2.1). Parameters sent
// without a value count as absent (RFC 6749 §3.1).
func authorizeParams(r *http.Request) (url.Values, *pageError) {
	if r.Method == http.MethodGet {
		if len(r.URL.RawQuery) > maxAuthorizeQueryLen {
			return nil, errPageMalformed
		}
		v, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil || !validUTF8(v) {
			return nil, errPageMalformed
		}
		return dropEmpty(v), nil
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, errPageMalformed
	}
	r.Body = http.MaxBytesReader(nil, r.Body, maxAuthorizeQueryLen)
	if err := r.ParseForm(); err != nil || !validUTF8(r.PostForm) {
		return nil, errPageMalformed
	}
	return dropEmpty(r.PostForm), nil
}

// validUTF8 reports whether every name and value is UTF-8 (RFC 6749
// Appendix B): anything else could not travel unchanged through the
// sealed pending request, the pages or the redirect back (a state the
// client would not recognise).
func validUTF8(v url.Values) bool {
	for name, vals := range v {
		if !utf8.ValidString(name) {
			return false
		}
		for _, s := range vals {
			if !utf8.ValidString(s) {
				return false
			}
		}
	}
	return true
}

func dropEmpty(v url.Values) url.Values {
	for name, vals := range v {
		if len(vals) == 1 && vals[0] == "" {
			delete(v, name)
		}
	}
	return v
}

// single returns the one value of name; repeated reports that it was sent
// more than once (RFC 6749 §3.1 forbids it).
func single(v url.Values, name string) (value string, repeated bool) {
	vals := v[name]
	if len(vals) > 1 {
		return "", true
	}
	if len(vals) == 1 {
		return vals[0], false
	}
	return "", false
}

// parseAuthorization validates a request in the order that decides where
// an error goes: first the client and the redirect URI, whose failures are
// shown on a page; then everything else, whose failures are redirected to
// the now trusted redirect URI with the state (RFC 6749 §4.1.2.1). Nothing
// here depends on who the user is, so all of it happens before any login.
func (a *Authorizer) parseAuthorization(ctx context.Context, v url.Values) (*storage.AuthRequest, *Error, *pageError) {
	clientID, rep := single(v, "client_id")
	if clientID == "" || rep {
		return nil, nil, errPageNoClient
	}
	if len(clientID) > maxClientIDLen {
		return nil, nil, errPageUnknownClient
	}
	client, err := a.clients.GetClient(ctx, clientID)
	if e, ok := errors.AsType[*clientmeta.Error](err); ok {
		// A URL client id whose document was refused: its redirect URIs
		// are unknown, so the page says why, never a redirect.
		return nil, nil, &pageError{status: e.Status(), message: "The application could not be identified: " + e.Reason + "."}
	}
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, errPageUnknownClient
	}
	if err != nil {
		a.log.ErrorContext(ctx, "oauth: authorize: load client", "err", err)
		return nil, nil, serverPage(err)
	}
	return a.parseAuthorizationFor(ctx, client, v)
}

// parseAuthorizationFor is parseAuthorization once the client is known:
// the PAR endpoint calls it with the client it has just authenticated.
func (a *Authorizer) parseAuthorizationFor(ctx context.Context, client *storage.Client, v url.Values) (*storage.AuthRequest, *Error, *pageError) {
	req := &storage.AuthRequest{ClientID: client.ID}
	if pe := resolveRedirectURI(client, v, req); pe != nil {
		return nil, nil, pe.about(client)
	}
	// From here on errors go back to the client. state first, so that they
	// can carry it; a malformed state is not echoed.
	state, rep := single(v, "state")
	if rep || !visibleASCII(state) || len(state) > maxStateLen {
		return req, ErrInvalidRequest.WithDescription("state is repeated, too long or holds invalid characters"), nil
	}
	req.State = state
	for name, vals := range v {
		if len(vals) > 1 && name != paramResource {
			return req, ErrInvalidRequest.WithDescription("a parameter is repeated"), nil
		}
	}
	if e := a.checkResponse(client, v); e != nil {
		return req, e, nil
	}
	if e := checkAuthorizeScope(client, v, req); e != nil {
		return req, e, nil
	}
	if e := a.checkResources(ctx, v, req); e != nil {
		return req, e, nil
	}
	if e := a.checkPKCEChallenge(client, v, req); e != nil {
		return req, e, nil
	}
	if e := checkOIDCParams(v, req); e != nil {
		return req, e, nil
	}
	if e := a.checkIDTokenHint(client, v, req); e != nil {
		return req, e, nil
	}
	if e := checkDPoPJKT(v, req); e != nil {
		return req, e, nil
	}
	return req, nil, nil
}

// resolveRedirectURI matches redirect_uri against the client's list, exactly
// but for the port of a loopback IP URI (redirect_match.go)
// (RFC 9700 §4.1.3); it may be left out only when exactly one is
// registered (RFC 6749 §3.1.2.3).
func resolveRedirectURI(client *storage.Client, v url.Values, req *storage.AuthRequest) *pageError {
	raw, rep := single(v, "redirect_uri")
	switch {
	case rep:
		return errPageNeedRedirect
	case raw == "" && len(client.RedirectURIs) == 1:
		req.RedirectURI, req.RedirectURIOmitted = client.RedirectURIs[0], true
	case raw == "":
		return errPageNeedRedirect
	case len(raw) > maxRedirectURILen:
		return errPageRedirect
	case redirectURIRegistered(client.RedirectURIs, raw):
		req.RedirectURI = raw
	default:
		return errPageRedirect
	}
	// A fragment could not carry the response (RFC 6749 §3.1.2); a
	// registered URI should never have one.
	if strings.Contains(req.RedirectURI, "#") {
		return errPageRedirect
	}
	return nil
}

// checkResponse: only the code flow, answered in the query, and no request
// objects (OIDC Core §6).
func (a *Authorizer) checkResponse(client *storage.Client, v url.Values) *Error {
	if v.Has("request") {
		return ErrRequestNotSupported
	}
	if v.Has("request_uri") {
		return ErrRequestURINotSupported
	}
	switch rt := v.Get("response_type"); rt {
	case "":
		return ErrInvalidRequest.WithDescription("response_type is required")
	case "code":
	default:
		return ErrUnsupportedResponseType
	}
	if rm := v.Get("response_mode"); rm != "" && rm != "query" {
		return ErrInvalidRequest.WithDescription("only response_mode=query is supported")
	}
	if !slices.Contains(client.GrantTypes, account.GrantAuthorizationCode) {
		return ErrUnauthorizedClient
	}
	return nil
}

// checkAuthorizeScope keeps the requested scope if the client may ask for
// all of it. Which of it the user gets (admin needs the admin role) is
// decided once the user is known.
func checkAuthorizeScope(client *storage.Client, v url.Values, req *storage.AuthRequest) *Error {
	scopes, ok := parseScope(v.Get("scope"))
	if !ok || !subset(scopes, client.Scopes) {
		return ErrInvalidScope
	}
	req.RequestedScope = scopes
	return nil
}

// checkResources keeps the request's resource indicators (RFC 8707 §2)
// if they are registered and define the scopes asked for.
func (a *Authorizer) checkResources(ctx context.Context, v url.Values, req *storage.AuthRequest) *Error {
	resources, e := parseResources(v[paramResource])
	if e != nil || len(resources) == 0 {
		return e
	}
	reg, err := a.res.snapshot(ctx)
	if err != nil {
		return asError(err)
	}
	if e := reg.checkTarget(resources, req.RequestedScope); e != nil {
		return e
	}
	req.Resources = resources
	return nil
}

// checkPKCEChallenge accepts S256 only (RFC 7636 §4.2; RFC 9700 §2.1.1).
// A challenge without a method means plain (RFC 7636 §4.3), refused too.
// It is required from public clients, and from every client when so
// configured (DESIGN.md §8).
func (a *Authorizer) checkPKCEChallenge(client *storage.Client, v url.Values, req *storage.AuthRequest) *Error {
	challenge, method := v.Get("code_challenge"), v.Get("code_challenge_method")
	if challenge == "" {
		if method != "" {
			return ErrInvalidRequest.WithDescription("code_challenge_method without code_challenge")
		}
		if client.Public || a.cfg.PKCERequiredForAll {
			return ErrInvalidRequest.WithDescription("code_challenge is required (PKCE with S256)")
		}
		return nil
	}
	if method != PKCEMethodS256 {
		return ErrInvalidRequest.WithDescription("code_challenge_method must be S256")
	}
	if !challengePattern.MatchString(challenge) {
		return ErrInvalidRequest.WithDescription("code_challenge must be the base64url SHA-256 of the verifier")
	}
	req.CodeChallenge, req.CodeChallengeMethod = challenge, method
	return nil
}

// checkOIDCParams reads prompt, max_age, nonce and login_hint (OIDC Core
// §3.1.2.1); checkIDTokenHint reads id_token_hint.
func checkOIDCParams(v url.Values, req *storage.AuthRequest) *Error {
	for _, p := range strings.Fields(v.Get("prompt")) {
		if !slices.Contains(PromptValuesSupported, p) {
			return ErrInvalidRequest.WithDescription("unsupported prompt value")
		}
		if !slices.Contains(req.Prompt, p) {
			req.Prompt = append(req.Prompt, p)
		}
	}
	if slices.Contains(req.Prompt, PromptNone) && len(req.Prompt) > 1 {
		return ErrInvalidRequest.WithDescription("prompt=none cannot be combined with other values")
	}
	if raw := v.Get("max_age"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 0 {
			return ErrInvalidRequest.WithDescription("max_age must be a non-negative integer")
		}
		req.MaxAge = &n
	}
	nonce := v.Get("nonce")
	if len(nonce) > maxNonceLen || !visibleASCII(nonce) {
		return ErrInvalidRequest.WithDescription("nonce is too long or holds invalid characters")
	}
	req.Nonce = nonce
	hint := v.Get("login_hint")
	if len(hint) > maxLoginHintLen {
		return ErrInvalidRequest.WithDescription("login_hint is too long")
	}
	req.LoginHint = hint
	return nil
}

// checkIDTokenHint reads id_token_hint (OIDC Core §3.1.2.1): an ID token
// this server issued to this client, expired or not, whose sub is then the
// only user the request may be answered for (proceed). A hint issued to
// another client is refused: the parameter is about the person's session
// "with the Client", and a client holds no other client's ID tokens
// unless they leaked. The hint is bounded before it is decoded.
func (a *Authorizer) checkIDTokenHint(client *storage.Client, v url.Values, req *storage.AuthRequest) *Error {
	raw := v.Get("id_token_hint")
	if raw == "" {
		return nil
	}
	if len(raw) > token.MaxIDTokenHintLen {
		return ErrInvalidRequest.WithDescription("id_token_hint is too long")
	}
	hint, err := token.VerifyIDTokenHint(a.keys, a.cfg.Issuer, raw)
	if err != nil {
		a.log.Debug("oauth: id_token_hint refused", "client_id", client.ID, "err", err)
		return ErrInvalidRequest.WithDescription("id_token_hint is not an ID token of this server")
	}
	if !slices.Contains(hint.Audience, client.ID) {
		return ErrInvalidRequest.WithDescription("id_token_hint was not issued to this client")
	}
	req.IDTokenHintSubject = hint.Subject
	return nil
}

// visibleASCII: the VSCHAR set (%x20-7E) of RFC 6749 Appendix A.5.
func visibleASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
