package oauth

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// DeviceAuthorizationPath is the device authorization endpoint (RFC 8628
// §3.1).
const DeviceAuthorizationPath = "/oauth2/device_authorization"

// Defaults of DeviceConfig.
const (
	DefaultDeviceCodeTTL  = 10 * time.Minute
	DefaultDeviceInterval = 5 * time.Second
)

// The token endpoint's answers while a device authorization is not
// approved (RFC 8628 §3.5); all are 400.
var (
	ErrAuthorizationPending = &Error{Code: "authorization_pending", Status: http.StatusBadRequest,
		Description: "the user has not yet approved the request"}
	ErrSlowDown = &Error{Code: "slow_down", Status: http.StatusBadRequest,
		Description: "polling too often; wait longer between requests"}
	ErrExpiredToken = &Error{Code: "expired_token", Status: http.StatusBadRequest,
		Description: "the device code has expired; start again"}
	ErrDeviceAccessDenied = &Error{Code: "access_denied", Status: http.StatusBadRequest,
		Description: "the user denied the request"}
)

// DeviceConfig holds the settings of the device authorization endpoint.
type DeviceConfig struct {
	// VerificationURI is where the person enters the user code
	// (issuer + web.DevicePath).
	VerificationURI string
	// CodeTTL is how long the device and user codes live
	// (DefaultDeviceCodeTTL if 0).
	CodeTTL time.Duration
	// Interval is the least time between two polls at first
	// (DefaultDeviceInterval if 0).
	Interval time.Duration
}

// DeviceDeps are what NewDeviceAuthorizer needs.
type DeviceDeps struct {
	Config DeviceConfig
	// Tokens authenticates the client as the token endpoint does (RFC
	// 8628 §3.1 refers to RFC 6749 §2.3).
	Tokens *Handler
	// Authorizer checks scope and resources as the authorization
	// endpoint does.
	Authorizer *Authorizer
	Store      storage.DeviceStore
	// PublicLimiter, if set, bounds per client address the authorizations
	// public clients start: they authenticate with their id alone, so
	// anyone can start one as them, and each is stored.
	PublicLimiter AddressBudget
	Now           func() time.Time
}

// DeviceAuthorizer serves the device authorization endpoint.
type DeviceAuthorizer struct {
	cfg     DeviceConfig
	tokens  *Handler
	authz   *Authorizer
	store   storage.DeviceStore
	limiter AddressBudget
	now     func() time.Time
}

// NewDeviceAuthorizer builds the device authorization endpoint.
func NewDeviceAuthorizer(d DeviceDeps) (*DeviceAuthorizer, error) {
	if d.Tokens == nil || d.Authorizer == nil || d.Store == nil || d.Config.VerificationURI == "" {
		return nil, errors.New("oauth: the device authorization endpoint needs the token handler, the authorizer, a store and the verification URI")
	}
	if d.Config.CodeTTL <= 0 {
		d.Config.CodeTTL = DefaultDeviceCodeTTL
	}
	if d.Config.Interval <= 0 {
		d.Config.Interval = DefaultDeviceInterval
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return &DeviceAuthorizer{cfg: d.Config, tokens: d.Tokens, authz: d.Authorizer, store: d.Store, limiter: d.PublicLimiter, now: d.Now}, nil
}

// deviceResponse is RFC 8628 §3.2.
type deviceResponse struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

// Authorize serves POST /oauth2/device_authorization (RFC 8628 §3.1,
// §3.2), or answers an RFC 6749 §5.2 error body.
func (d *DeviceAuthorizer) Authorize(w http.ResponseWriter, r *http.Request) {
	resp, err := d.authorize(w, r)
	if err != nil {
		d.tokens.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// maxUserCodeDraws bounds the draws of a free user code: with 20^8 codes,
// a second draw is already rare.
const maxUserCodeDraws = 5

func (d *DeviceAuthorizer) authorize(w http.ResponseWriter, r *http.Request) (*deviceResponse, *Error) {
	f, client, e := d.tokens.authenticatedForm(w, r)
	if e != nil {
		return nil, e
	}
	if !slices.Contains(client.GrantTypes, account.GrantDeviceCode) {
		return nil, ErrUnauthorizedClient
	}
	if client.Public {
		if e := spend(r, d.limiter); e != nil {
			return nil, e
		}
	}
	ctx, v := r.Context(), url.Values(f)
	var req storage.AuthRequest
	if e := checkAuthorizeScope(client, v, &req); e != nil {
		return nil, e
	}
	if e := d.authz.checkResources(ctx, v, &req); e != nil {
		return nil, e
	}
	deviceCode, now := secret.NewToken(32), d.now()
	a := &storage.DeviceAuthorization{ClientID: client.ID, ClientGeneration: client.Generation,
		Scope: req.RequestedScope, Resources: req.Resources, CreatedAt: now, ExpiresAt: now.Add(d.cfg.CodeTTL)}
	for draw := 1; ; draw++ {
		userCode := secret.NewUserCode()
		a.UserCodeHash = secret.SHA256(userCode)
		err := d.store.CreateDevice(ctx, secret.SHA256(deviceCode), a, d.cfg.Interval)
		if errors.Is(err, storage.ErrConflict) && draw < maxUserCodeDraws {
			continue
		}
		if err != nil {
			return nil, ErrServerError.Wrap(err)
		}
		shown := secret.FormatUserCode(userCode)
		return &deviceResponse{
			DeviceCode: deviceCode, UserCode: shown, VerificationURI: d.cfg.VerificationURI,
			VerificationURIComplete: d.cfg.VerificationURI + "?user_code=" + url.QueryEscape(shown),
			ExpiresIn:               int64(d.cfg.CodeTTL / time.Second), Interval: int64(d.cfg.Interval / time.Second),
		}, nil
	}
}

// AddDeviceAuthorization advertises the device authorization endpoint
// (RFC 8628 §4); the grant type is among grant_types_supported.
func (m *Metadata) AddDeviceAuthorization() {
	m.DeviceAuthorizationEndpoint = m.Issuer + DeviceAuthorizationPath
}
