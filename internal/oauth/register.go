package oauth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/audit"
	"github.com/oauth2d/oauth2d/internal/config"
	"github.com/oauth2d/oauth2d/internal/problem"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// RegistrationPath is the dynamic client registration endpoint (RFC 7591
// §3); RegistrationPath + "/<client_id>" is each registration's client
// configuration endpoint (RFC 7592 §2).
const RegistrationPath = "/oauth2/register"

// maxRegistrationBody bounds a registration request: it is read before
// anything else is done, and what it holds is stored, so it also bounds
// each self-registered record.
const maxRegistrationBody = 16 << 10

// The RFC 7591 §3.2.2 error codes.
const (
	errInvalidRedirectURI           = "invalid_redirect_uri"
	errInvalidClientMetadata        = "invalid_client_metadata"
	errUnapprovedSoftwareStatement  = "unapproved_software_statement"
	registrationTokenBytes          = 32
	registrationClientIDRandomBytes = 16
)

var (
	errRegistrationRefused = &Error{Code: errInvalidClientMetadata, Status: http.StatusBadRequest,
		Description: "the client metadata is invalid"}
	// errBadRegistrationToken answers a missing, unknown or foreign token
	// alike (RFC 7592 §2: 401 invalid_token), so that a token tells
	// nothing about other clients.
	errBadRegistrationToken = &Error{Code: "invalid_token", Status: http.StatusUnauthorized,
		Description: "the access token is missing, invalid or not this registration's"}
	errTooManyClients = &Error{Code: errInvalidClientMetadata, Status: http.StatusForbidden,
		Description: "the server accepts no more registrations for now"}
)

// RegistrationStore is what the registration endpoints need of the store.
type RegistrationStore interface {
	CreateSelfRegisteredClient(ctx context.Context, c *storage.Client, max int) error
	UpdateClient(ctx context.Context, c *storage.Client) error
	GetClient(ctx context.Context, id string) (*storage.Client, error)
	DeleteClient(ctx context.Context, id string) error
}

// ClientRevoker cuts off every access token issued to a client, as the
// admin API's client delete does (account.Revoker).
type ClientRevoker interface {
	RevokeClient(ctx context.Context, clientID string) error
}

// SecretHasher hashes a generated client secret (secret.Hasher).
type SecretHasher interface {
	Hash(secret string) (string, error)
}

var (
	_ RegistrationStore = (*storage.Store)(nil)
	_ ClientRevoker     = (*account.Revoker)(nil)
	_ SecretHasher      = (*secret.Hasher)(nil)
)

// RegistrarDeps are what NewRegistrar needs; all are required but Budget.
type RegistrarDeps struct {
	Issuer string
	// Config is registration.*; Mode must not be off.
	Config  config.Registration
	Policy  account.Policy // ValidateClient's, with RegistrationScopes
	Store   RegistrationStore
	Revoker ClientRevoker
	Hasher  SecretHasher
	// Budget is registration.per_ip: every registration spends it, before
	// anything else is done (nil: no limit).
	Budget AddressBudget
	Logger *slog.Logger
	Now    func() time.Time
}

// Registrar serves dynamic client registration (RFC 7591) and the
// management of each registration with its registration access token
// (RFC 7592).
type Registrar struct {
	d         RegistrarDeps
	iatHashes [][]byte // the initial access tokens' SHA-256 digests
}

// NewRegistrar builds the registration endpoints.
func NewRegistrar(d RegistrarDeps) (*Registrar, error) {
	if d.Store == nil || d.Revoker == nil || d.Hasher == nil || d.Logger == nil || d.Issuer == "" {
		return nil, errors.New("oauth: the registration endpoint needs a store, a revoker, a hasher, a logger and the issuer")
	}
	if d.Config.Mode != config.RegistrationOpen && d.Config.Mode != config.RegistrationIAT {
		return nil, fmt.Errorf("oauth: registration mode %q serves no endpoint", d.Config.Mode)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	r := &Registrar{d: d}
	for _, h := range d.Config.InitialAccessTokenSHA256 {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != sha256.Size {
			return nil, errors.New("oauth: an initial access token digest is not 64 hex digits")
		}
		r.iatHashes = append(r.iatHashes, b)
	}
	if d.Config.Mode == config.RegistrationIAT && len(r.iatHashes) == 0 {
		return nil, errors.New("oauth: initial_access_token mode needs at least one token digest")
	}
	return r, nil
}

// clientMetadata is a registration request (RFC 7591 §2, §3.1) or an
// update (RFC 7592 §2.2). Members oauth2d does not know are ignored (RFC
// 7591 §2); those it knows must have their type.
type clientMetadata struct {
	RedirectURIs            []string `json:"redirect_uris"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	ClientName              string   `json:"client_name"`
	ClientURI               string   `json:"client_uri"`
	LogoURI                 string   `json:"logo_uri"`
	TOSURI                  string   `json:"tos_uri"`
	PolicyURI               string   `json:"policy_uri"`
	Scope                   string   `json:"scope"`
	// Keys of a private_key_jwt client (RFC 7523): one of the two.
	JWKSURI string          `json:"jwks_uri"`
	JWKS    json.RawMessage `json:"jwks"`
	// SoftwareStatement is refused: no issuer of statements is trusted.
	SoftwareStatement *string `json:"software_statement"`
	// ClientID and ClientSecret come with an update (RFC 7592 §2.2).
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// registrationResponse is the client information response (RFC 7591
// §3.2.1, RFC 7592 §3). The secret is shown once, when it is issued.
type registrationResponse struct {
	ClientID                string          `json:"client_id"`
	ClientSecret            string          `json:"client_secret,omitempty"`
	ClientIDIssuedAt        int64           `json:"client_id_issued_at"`
	ClientSecretExpiresAt   *int64          `json:"client_secret_expires_at,omitempty"`
	RegistrationAccessToken string          `json:"registration_access_token,omitempty"`
	RegistrationClientURI   string          `json:"registration_client_uri"`
	RedirectURIs            []string        `json:"redirect_uris"`
	TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method"`
	GrantTypes              []string        `json:"grant_types"`
	ResponseTypes           []string        `json:"response_types"`
	Scope                   string          `json:"scope"`
	ClientName              string          `json:"client_name,omitempty"`
	ClientURI               string          `json:"client_uri,omitempty"`
	LogoURI                 string          `json:"logo_uri,omitempty"`
	TOSURI                  string          `json:"tos_uri,omitempty"`
	PolicyURI               string          `json:"policy_uri,omitempty"`
	JWKSURI                 string          `json:"jwks_uri,omitempty"`
	JWKS                    json.RawMessage `json:"jwks,omitempty"`
}

// Register serves POST /oauth2/register (RFC 7591 §3.1): 201 with the
// client information response, or an RFC 7591 §3.2.2 error.
func (g *Registrar) Register(c *gin.Context) {
	ctx := c.Request.Context()
	ev := audit.Event{Event: audit.ClientRegistered, Actor: "registration", Resource: "POST " + RegistrationPath}
	// The budget is spent before the initial access token is looked at,
	// so that guesses at it are bounded per address too.
	body, e := readRegistrationBody(c.Request)
	if e == nil {
		e = spend(c.Request, g.d.Budget)
	}
	if e == nil {
		e = g.checkInitialAccessToken(c.Request)
	}
	var md clientMetadata
	if e == nil {
		md, e = parseClientMetadata(body)
	}
	var cl *storage.Client
	var method string
	if e == nil {
		cl, method, e = g.clientOf(md, nil)
	}
	var token, clear string
	if e == nil {
		token, clear, e = g.credentials(cl)
	}
	if e == nil {
		if err := g.d.Store.CreateSelfRegisteredClient(ctx, cl, g.d.Config.MaxClients); errors.Is(err, storage.ErrTooManyClients) {
			e = errTooManyClients.Wrap(err)
		} else if err != nil {
			e = asError(err)
		}
	}
	if e != nil {
		g.fail(c, ev, e)
		return
	}
	ev.Client, ev.Subject, ev.Scope = cl.ID, cl.ID, audit.Join(cl.Scopes)
	g.succeed(ctx, ev)
	resp := g.response(cl, method)
	resp.RegistrationAccessToken, resp.ClientSecret = token, clear
	if clear != "" {
		zero := int64(0) // the secret does not expire (RFC 7591 §3.2.1)
		resp.ClientSecretExpiresAt = &zero
	}
	c.Header("Location", resp.RegistrationClientURI)
	writeJSON(c.Writer, http.StatusCreated, resp)
}

// Read serves GET /oauth2/register/:client_id (RFC 7592 §2.1).
func (g *Registrar) Read(c *gin.Context) {
	cl, e := g.authorized(c)
	if e != nil {
		g.writeError(c, e)
		return
	}
	writeJSON(c.Writer, http.StatusOK, g.response(cl, authMethodOf(cl)))
}

// Update serves PUT /oauth2/register/:client_id (RFC 7592 §2.2): the
// request replaces the registration's metadata under the rules of a new
// registration; the id, the secret and the registration access token stay.
func (g *Registrar) Update(c *gin.Context) {
	ctx := c.Request.Context()
	ev := audit.Event{Event: audit.ClientUpdated, Resource: "PUT " + RegistrationPath + "/" + c.Param("client_id")}
	body, e := readRegistrationBody(c.Request)
	var old *storage.Client
	if e == nil {
		old, e = g.authorized(c)
	}
	var md clientMetadata
	if e == nil {
		ev.Actor, ev.Client, ev.Subject = old.ID, old.ID, old.ID
		md, e = parseClientMetadata(body)
	}
	if e == nil && md.ClientID != old.ID {
		e = errRegistrationRefused.WithDescription("client_id must be the registration's")
	}
	if e == nil && md.ClientSecret != "" {
		e = checkPresentedSecret(old, md.ClientSecret)
	}
	var cl *storage.Client
	var method string
	if e == nil {
		cl, method, e = g.clientOf(md, old)
	}
	if e == nil {
		if err := g.d.Store.UpdateClient(ctx, cl); errors.Is(err, storage.ErrNotFound) {
			e = errBadRegistrationToken
		} else if err != nil {
			e = asError(err)
		}
	}
	if e != nil {
		g.fail(c, ev, e)
		return
	}
	ev.Scope = audit.Join(cl.Scopes)
	g.succeed(ctx, ev)
	writeJSON(c.Writer, http.StatusOK, g.response(cl, method))
}

// Delete serves DELETE /oauth2/register/:client_id (RFC 7592 §2.3): as
// the admin API's client delete, every access token issued to the client
// is cut off, then the record goes, and with its generation every code,
// consent and refresh family made to it.
func (g *Registrar) Delete(c *gin.Context) {
	ctx := c.Request.Context()
	ev := audit.Event{Event: audit.ClientDeleted, Resource: "DELETE " + RegistrationPath + "/" + c.Param("client_id")}
	cl, e := g.authorized(c)
	if e == nil {
		ev.Actor, ev.Client, ev.Subject = cl.ID, cl.ID, cl.ID
		if err := g.d.Revoker.RevokeClient(ctx, cl.ID); err != nil {
			e = asError(err)
		} else if err := g.d.Store.DeleteClient(ctx, cl.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			e = asError(err)
		}
	}
	if e != nil {
		g.fail(c, ev, e)
		return
	}
	g.succeed(ctx, ev)
	c.Header("Cache-Control", "no-store")
	c.Status(http.StatusNoContent)
}

// readRegistrationBody reads the JSON body, bounded, before anything else.
func readRegistrationBody(r *http.Request) ([]byte, *Error) {
	if r.ContentLength > maxRegistrationBody {
		return nil, ErrRequestTooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxRegistrationBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, ErrRequestTooLarge
	}
	if err != nil {
		return nil, ErrInvalidRequest.Wrap(err)
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, errRegistrationRefused.WithDescription("the body must be application/json")
	}
	return body, nil
}

// parseClientMetadata decodes one JSON object; a known member of the
// wrong type is invalid_client_metadata.
func parseClientMetadata(body []byte) (clientMetadata, *Error) {
	var md clientMetadata
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&md); err != nil {
		return md, errRegistrationRefused.WithDescription("the body must be a JSON object whose members have their RFC 7591 types").Wrap(err)
	}
	if dec.More() {
		return md, errRegistrationRefused.WithDescription("the body must hold one JSON object")
	}
	if md.SoftwareStatement != nil {
		// RFC 7591 §3.2.2: no software statement issuer is trusted here.
		return md, &Error{Code: errUnapprovedSoftwareStatement, Status: http.StatusBadRequest,
			Description: "software statements are not accepted by this server"}
	}
	return md, nil
}

// clientOf is the client record md asks for, checked by the one
// registration policy (account.ValidateClient) as a self-registered
// client; old is the registration an update replaces (nil: a new one).
// It returns the token endpoint authentication method to answer with.
func (g *Registrar) clientOf(md clientMetadata, old *storage.Client) (*storage.Client, string, *Error) {
	method := md.TokenEndpointAuthMethod
	if method == "" {
		method = authMethodBasic // RFC 7591 §2's default
	}
	switch method {
	case authMethodNone, authMethodBasic, authMethodPost:
		if md.JWKSURI != "" || len(md.JWKS) > 0 {
			return nil, "", errRegistrationRefused.WithDescription("jwks and jwks_uri go only with token_endpoint_auth_method private_key_jwt")
		}
	case authMethodPrivateKeyJWT:
		// RFC 7523 §2.2 with the client's keys, checked (and a jwks_uri's
		// host put through the outbound guard) by account.ValidateClient.
	default:
		return nil, "", errRegistrationRefused.WithDescription("token_endpoint_auth_method must be none, client_secret_basic, client_secret_post or private_key_jwt")
	}
	var jwks string
	if len(md.JWKS) > 0 && string(md.JWKS) != "null" {
		jwks = string(md.JWKS)
	}
	grants := md.GrantTypes
	if len(grants) == 0 {
		grants = []string{account.GrantAuthorizationCode}
	}
	responses := md.ResponseTypes
	if len(responses) == 0 {
		responses = []string{"code"}
	}
	if !slices.Equal(responses, []string{"code"}) || !slices.Contains(grants, account.GrantAuthorizationCode) {
		// RFC 7591 §2.1: code goes with authorization_code, and it is the
		// only response type served.
		return nil, "", errRegistrationRefused.WithDescription("response_types must be [\"code\"] with grant type authorization_code")
	}
	if len(md.Scope) > maxScopeLen || len(strings.Fields(md.Scope)) > maxScopes {
		return nil, "", errRegistrationRefused.WithDescription("scope is too long")
	}
	scopes := strings.Fields(md.Scope)
	if len(scopes) == 0 {
		scopes = slices.Clone(g.d.Config.Scopes)
	}
	for _, s := range scopes {
		// registration.scopes never holds an administrative scope
		// (config refuses it); checked again here all the same.
		if !slices.Contains(g.d.Config.Scopes, s) || slices.Contains(config.PrivilegedScopes, s) {
			return nil, "", errRegistrationRefused.WithDescription("scope: a requested scope is not available to a self-registered client")
		}
	}
	cl := &storage.Client{ID: newRegisteredClientID(), Name: md.ClientName, Public: method == authMethodNone,
		RedirectURIs: md.RedirectURIs, GrantTypes: grants, Scopes: scopes, ClientURI: md.ClientURI,
		LogoURI: md.LogoURI, TOSURI: md.TOSURI, PolicyURI: md.PolicyURI, SelfRegistered: true,
		TokenEndpointAuthMethod: method, JWKS: jwks, JWKSURI: md.JWKSURI}
	if old != nil {
		if cl.Public != old.Public || (method == authMethodPrivateKeyJWT) != (authMethodOf(old) == authMethodPrivateKeyJWT) {
			return nil, "", errRegistrationRefused.WithDescription("token_endpoint_auth_method cannot change between none, a client secret and private_key_jwt; register a new client")
		}
		cl.ID, cl.SecretHash, cl.RegistrationTokenHash = old.ID, old.SecretHash, old.RegistrationTokenHash
	}
	if errs := account.ValidateClient(cl, g.d.Policy); len(errs) > 0 {
		return nil, "", metadataError(errs)
	}
	return cl, method, nil
}

// metadataError is invalid_redirect_uri when a redirect URI is what is
// wrong (RFC 7591 §3.2.2), else invalid_client_metadata; the description
// names the first problem, in the policy's own words.
func metadataError(errs []error) *Error {
	var fe *account.FieldError
	for _, err := range errs {
		if errors.As(err, &fe) && fe.Field == "redirect_uris" {
			return &Error{Code: errInvalidRedirectURI, Status: http.StatusBadRequest, Description: "redirect_uris: " + fe.Detail}
		}
	}
	if errors.As(errs[0], &fe) {
		return errRegistrationRefused.WithDescription(fe.Field + ": " + fe.Detail)
	}
	return errRegistrationRefused
}

// response is the client information of cl (RFC 7591 §3.2.1).
func (g *Registrar) response(cl *storage.Client, method string) registrationResponse {
	return registrationResponse{
		ClientID: cl.ID, ClientIDIssuedAt: cl.CreatedAt.Unix(),
		RegistrationClientURI:   g.d.Issuer + RegistrationPath + "/" + url.PathEscape(cl.ID),
		RedirectURIs:            cl.RedirectURIs,
		TokenEndpointAuthMethod: method, GrantTypes: cl.GrantTypes, ResponseTypes: []string{"code"},
		Scope: strings.Join(cl.Scopes, " "), ClientName: cl.Name, ClientURI: cl.ClientURI,
		LogoURI: cl.LogoURI, TOSURI: cl.TOSURI, PolicyURI: cl.PolicyURI,
		JWKSURI: cl.JWKSURI, JWKS: json.RawMessage(cl.JWKS),
	}
}

// authMethodOf is the token endpoint authentication method a stored
// client is answered with: the one it registered, else (a record from
// before the field) none for a public client and RFC 7591's default,
// basic, for a confidential one.
func authMethodOf(cl *storage.Client) string {
	if cl.TokenEndpointAuthMethod != "" {
		return cl.TokenEndpointAuthMethod
	}
	if cl.Public {
		return authMethodNone
	}
	return authMethodBasic
}

// newRegisteredClientID is a self-registered client's id: 128 random
// bits in hex, never chosen by the caller.
func newRegisteredClientID() string {
	var b [registrationClientIDRandomBytes]byte
	_, _ = rand.Read(b[:]) // never fails since Go 1.24
	return hex.EncodeToString(b[:])
}

func (g *Registrar) succeed(ctx context.Context, ev audit.Event) {
	ev.Outcome = audit.Success
	audit.Emit(ctx, ev)
}

// fail records a refusal and answers it. A request refused for its
// address's spent budget is not recorded (the throttle metric counts it):
// a flood of them would push real events out of the bounded audit stream.
func (g *Registrar) fail(c *gin.Context, ev audit.Event, e *Error) {
	if e.Status != http.StatusTooManyRequests {
		ev.Outcome, ev.Reason = audit.Failure, e.Code
		audit.Emit(c.Request.Context(), ev)
	}
	g.writeError(c, e)
}

// writeError answers e as JSON (RFC 7591 §3.2.2); a 401 carries the
// Bearer challenge of RFC 6750 §3, naming the error only when a token
// was sent (§3.1).
func (g *Registrar) writeError(c *gin.Context, e *Error) {
	e = asError(e)
	w := c.Writer
	switch {
	case e.Status == http.StatusUnauthorized:
		challenge := `Bearer realm="` + g.d.Issuer + `"`
		if c.GetHeader("Authorization") != "" {
			challenge += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
	case e.Status == http.StatusServiceUnavailable:
		problem.SetRetryAfter(w.Header())
		g.d.Logger.WarnContext(c.Request.Context(), "oauth: registration: storage unavailable", "err", e)
	case e.Status >= 500:
		g.d.Logger.ErrorContext(c.Request.Context(), "oauth: registration failed", "err", e)
	}
	if e.retryAfterSeconds != "" {
		w.Header().Set("Retry-After", e.retryAfterSeconds)
	}
	writeJSON(w, e.Status, struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{e.Code, e.Description})
}
