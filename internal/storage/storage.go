// This file is the storage contract: the record types, the role
// interfaces and Storage, which gathers them, and the sentinel errors.
// The Redis implementation lives in the per-area files.

package storage

import (
	"context"
	"errors"
	"slices"
	"time"
)

// Sentinel errors. Callers branch on these with errors.Is; a method never
// answers "nothing found" with a nil value and a nil error.
var (
	// ErrNotFound: no such record, or it has expired.
	ErrNotFound = errors.New("storage: not found")
	// ErrConflict: a record with that identity (client id, username) exists.
	ErrConflict = errors.New("storage: already exists")
	// ErrCodeReused: the authorization code was redeemed before. The
	// returned *CodeRedemption names the grant issued from the first
	// redemption so the caller can revoke it (RFC 6749 §4.1.2).
	ErrCodeReused = errors.New("storage: authorization code already redeemed")
	// ErrRefreshReused: a rotated-out refresh token was presented outside the
	// grace window. The family has been revoked by the same atomic step
	// (RFC 9700 §4.14.2); the returned family names the access token to deny.
	ErrRefreshReused = errors.New("storage: refresh token reused; family revoked")
	// ErrRevoked: the refresh-token family was revoked earlier.
	ErrRevoked = errors.New("storage: revoked")
	// ErrScopeExceedsGrant: a rotation asked for scope the family was never
	// granted; nothing was changed (RFC 6749 §6).
	ErrScopeExceedsGrant = errors.New("storage: requested scope exceeds the grant")
	// ErrTargetExceedsGrant: a rotation named a resource the family is not
	// restricted to; nothing was changed (RFC 8707 §2.2).
	ErrTargetExceedsGrant = errors.New("storage: requested resource outside the grant")
	// ErrProofKeyMismatch: the refresh-token family is bound to a DPoP key
	// (RefreshFamily.JKT) and the rotation named another key or none;
	// nothing was changed (RFC 9449 §5).
	ErrProofKeyMismatch = errors.New("storage: refresh token bound to another DPoP key")
	// ErrRegistryFull: the resource registry holds MaxResources already;
	// nothing was written.
	ErrRegistryFull = errors.New("storage: the resource registry is full")
	// ErrTooManyClients: the self-registered clients number the cap
	// CreateSelfRegisteredClient was given already; nothing was written.
	ErrTooManyClients = errors.New("storage: too many self-registered clients")
	// ErrBadCursor: the pagination cursor was not made by ListComments.
	ErrBadCursor = errors.New("storage: malformed comment cursor")
)

// Client is a registered OAuth client. The clear secret is never stored.
type Client struct {
	ID                     string    `json:"id"`
	Name                   string    `json:"name,omitempty"`
	SecretHash             string    `json:"secret_hash,omitempty"` // secret.Hash output; empty for public clients
	Public                 bool      `json:"public"`
	FirstParty             bool      `json:"first_party"`
	RedirectURIs           []string  `json:"redirect_uris"`                       // exact-match list
	PostLogoutRedirectURIs []string  `json:"post_logout_redirect_uris,omitempty"` // exact-match list
	GrantTypes             []string  `json:"grant_types"`
	Scopes                 []string  `json:"scopes"`
	CreatedAt              time.Time `json:"created_at"`
	UpdatedAt              time.Time `json:"updated_at"`

	// ClientURI is the client's home page (RFC 7591 §2); the login and
	// error pages link back to it.
	ClientURI string `json:"client_uri,omitempty"`
	// BackchannelLogoutURI receives logout tokens (OIDC Back-Channel
	// Logout 1.0 §2.2); empty: the client is not told of logouts.
	BackchannelLogoutURI string `json:"backchannel_logout_uri,omitempty"`
	// BackchannelLogoutSessionRequired: every logout token sent to the
	// client must carry a sid.
	BackchannelLogoutSessionRequired bool `json:"backchannel_logout_session_required,omitempty"`
	// DPoPBoundAccessTokens: the client must prove a DPoP key at the token
	// endpoint, so every token it gets is bound (RFC 9449 §5.2).
	DPoPBoundAccessTokens bool `json:"dpop_bound_access_tokens,omitempty"`
	// RequirePushedAuthorizationRequests: the client's authorization
	// requests must come through the PAR endpoint (RFC 9126 §6).
	RequirePushedAuthorizationRequests bool `json:"require_pushed_authorization_requests,omitempty"`
	// RequireMFA: the client's authorization requests need a session
	// signed in with a second factor (account.ACRMFA).
	RequireMFA bool `json:"require_mfa,omitempty"`
	// IntrospectionAudiences lets a resource server introspect other
	// clients' access tokens: those whose aud names one of these (RFC 7662
	// §4). Without it a client learns about its own tokens only.
	IntrospectionAudiences []string `json:"introspection_audiences,omitempty"`

	// InsecureSkipConsentForNativeRedirects lets a public client skip the
	// consent page (first party or remembered consent) also when its
	// redirect URI is a loopback, localhost or private-use one, which any
	// app on the device can receive (RFC 8252 §8.6); see
	// account.ClientRegistration.
	InsecureSkipConsentForNativeRedirects bool `json:"insecure_skip_consent_for_native_redirects,omitempty"`

	// TokenEndpointAuthMethod is how the client authenticates (RFC 7591
	// §2): client_secret_basic, client_secret_post, private_key_jwt or
	// none. Empty (every record written before the field existed) means
	// as before: none for a public client, else its secret, by either
	// secret method; AuthMethod says which.
	TokenEndpointAuthMethod string `json:"token_endpoint_auth_method,omitempty"`
	// JWKS is the JWK Set (JSON) of a private_key_jwt client's public
	// keys, or JWKSURI where the server fetches it; exactly one is set
	// for such a client and neither for any other (RFC 7591 §2).
	JWKS    string `json:"jwks,omitempty"`
	JWKSURI string `json:"jwks_uri,omitempty"`

	// SelfRegistered marks a client no operator vouched for: one made by
	// dynamic registration (RFC 7591) or read from a client ID metadata
	// document. The consent page calls it unverified and names its
	// redirect host, and it is never first party.
	SelfRegistered bool `json:"self_registered,omitempty"`
	// RegistrationTokenHash is the SHA-256 (hex) of the registration
	// access token of a client registered through RFC 7591, with which it
	// reads, updates and deletes its own registration (RFC 7592); empty:
	// the client cannot manage itself.
	RegistrationTokenHash string `json:"registration_token_hash,omitempty"`
	// LogoURI, TOSURI and PolicyURI are display metadata a self-registered
	// client gave (RFC 7591 §2), kept to be returned to it. The server
	// never fetches them.
	LogoURI   string `json:"logo_uri,omitempty"`
	TOSURI    string `json:"tos_uri,omitempty"`
	PolicyURI string `json:"policy_uri,omitempty"`

	// ManagedBy names who owns the record: ManagedByBootstrap for one the
	// bootstrap file declares, which the admin API and the CLI must not
	// change or delete; empty (also in records written before the field
	// existed) for one an administrator made.
	ManagedBy string `json:"managed_by,omitempty"`

	// Generation is random and set by the store when the id is
	// registered (CreateClient, or UpsertClient of an unknown id), and
	// kept by every later UpsertClient. Every grant made to the client
	// (authorization code, consent, refresh family) records it, and one
	// recorded with another generation was made to an earlier client of
	// the same id: deleted, so dead (RFC 6749 §10.4). Deleting the record
	// is then the one atomic step that ends every grant, although they
	// live in other slots. Records written before the field existed have
	// none, and so match their grants, which have none either.
	Generation string `json:"generation,omitempty"`
}

// Client authentication methods (RFC 7591 §2, OpenID Connect Core §9).
const (
	AuthMethodSecretBasic   = "client_secret_basic"
	AuthMethodSecretPost    = "client_secret_post"
	AuthMethodPrivateKeyJWT = "private_key_jwt"
	AuthMethodNone          = "none"
)

// AuthMethod is how the client must authenticate: its
// TokenEndpointAuthMethod, or for a record without one none (public) or
// client_secret_basic, which stands for either secret method.
func (c *Client) AuthMethod() string {
	switch {
	case c.TokenEndpointAuthMethod != "":
		return c.TokenEndpointAuthMethod
	case c.Public:
		return AuthMethodNone
	}
	return AuthMethodSecretBasic
}

// HasSecret reports whether the client authenticates with a secret: a
// confidential client not registered for private_key_jwt.
func (c *Client) HasSecret() bool {
	return !c.Public && c.AuthMethod() != AuthMethodPrivateKeyJWT
}

// OwnsGrant reports whether a grant that recorded generation was made to
// this registration of the client, not to a deleted one of the same id.
func (c *Client) OwnsGrant(generation string) bool { return generation == c.Generation }

// ManagedByBootstrap marks a client or user that the bootstrap file
// declares: the file is its source of truth.
const ManagedByBootstrap = "bootstrap"

// User is a resource owner. ID is the stable, opaque subject (`sub`);
// Username is unique and may change.
type User struct {
	ID           string    `json:"id"`
	Username     string    `json:"username"`
	PasswordHash string    `json:"password_hash"` // secret.Hash output
	Roles        []string  `json:"roles"`
	Name         string    `json:"name,omitempty"`
	Email        string    `json:"email,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`

	// EmailVerified: the operator vouches that Email belongs to the user
	// (OIDC Core §5.1 email_verified).
	EmailVerified bool `json:"email_verified,omitempty"`

	// ManagedBy: as Client.ManagedBy.
	ManagedBy string `json:"managed_by,omitempty"`
}

// AuthCode is what an authorization code stands for. It is stored under
// sha256(code); the code itself is never stored.
type AuthCode struct {
	ClientID    string `json:"client_id"`
	UserID      string `json:"user_id"`
	RedirectURI string `json:"redirect_uri"`
	// RedirectURIOmitted: the authorization request left redirect_uri out
	// (the client has one registered), so the token request may too
	// (RFC 6749 §4.1.3).
	RedirectURIOmitted bool     `json:"redirect_uri_omitted,omitempty"`
	Scope              []string `json:"scope"`
	// Resources are the resource indicators of the authorization request
	// (RFC 8707): the grant's tokens are for these alone. None: the
	// audience follows the scope.
	Resources           []string  `json:"resources,omitempty"`
	CodeChallenge       string    `json:"code_challenge,omitempty"`
	CodeChallengeMethod string    `json:"code_challenge_method,omitempty"` // "S256" or empty
	Nonce               string    `json:"nonce,omitempty"`
	AuthTime            time.Time `json:"auth_time"`
	ExpiresAt           time.Time `json:"expires_at"`
	// SID is the browser session the code was issued in; the ID token
	// carries it.
	SID string `json:"sid,omitempty"`
	// SessionExpiresAt is that session's absolute end: the relying party
	// is remembered for the user at least that long (UserClientStore).
	SessionExpiresAt time.Time `json:"session_expires_at,omitzero"`
	// DPoPJKT binds the code to a DPoP key (RFC 9449 §10, the dpop_jkt
	// authorization request parameter): only a proof by that key redeems it.
	DPoPJKT string `json:"dpop_jkt,omitempty"`
	// ClientGeneration is the client's Generation when the code was
	// issued: a code of a deleted client is never redeemed by a new
	// client of the same id.
	ClientGeneration string `json:"client_generation,omitempty"`
	// AMR is how the user authenticated in the browser session the code
	// was issued in (RFC 8176); the tokens' amr and acr follow from it.
	AMR []string `json:"amr,omitempty"`
}

// CodeRedemption names the tokens issued from one authorization code. The
// token endpoint chooses these ids before it redeems the code, so a replay
// can always find and revoke what the first redemption issued.
type CodeRedemption struct {
	FamilyID        string    `json:"family_id,omitempty"` // refresh family, empty if none was issued
	AccessJTI       string    `json:"access_jti"`
	AccessExpiresAt time.Time `json:"access_expires_at"`
}

// RefreshFamily is one chain of rotating refresh tokens (one grant). A
// refresh token is "<family id>.<secret>"; only sha256 of the current token
// is stored.
type RefreshFamily struct {
	ID       string   `json:"id"`
	ClientID string   `json:"client_id"`
	UserID   string   `json:"user_id"` // empty for grants without a user
	Scope    []string `json:"scope"`
	// Resources are the resource indicators the grant is restricted to
	// (RFC 8707); none: its tokens' audience follows their scope.
	Resources []string  `json:"resources,omitempty"`
	AuthTime  time.Time `json:"auth_time"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"` // absolute lifetime; sliding expiry is the key TTL
	Revoked   bool      `json:"revoked"`
	// The newest access token issued in this family, denied when the family
	// is revoked.
	AccessJTI       string    `json:"access_jti,omitempty"`
	AccessExpiresAt time.Time `json:"access_expires_at"`
	// JKT, when set, binds every token of the family to the DPoP key with
	// that RFC 7638 thumbprint (RFC 9449 §5, public clients): rotation
	// needs a proof by that key, and keeps the binding.
	JKT string `json:"jkt,omitempty"`
	// ClientGeneration is the client's Generation when the family began
	// (Client.OwnsGrant).
	ClientGeneration string `json:"client_generation,omitempty"`
	// AMR is how the user authenticated for the grant (RFC 8176), so
	// that refreshed tokens say what the sign-in proved and no more.
	AMR []string `json:"amr,omitempty"`
}

// NewRefresh is the first token of a new family.
type NewRefresh struct {
	Family    RefreshFamily
	TokenHash string        // sha256 of the refresh token
	Sliding   time.Duration // idle lifetime; the family expires at min(now+Sliding, Family.ExpiresAt)
}

// Rotation replaces the current refresh token of a family with a new one,
// in one atomic step.
type Rotation struct {
	FamilyID      string
	PresentedHash string // sha256 of the token the client sent
	// ClientID, when set, must be the family's client: another client's
	// attempt is ErrNotFound and leaves the family untouched.
	ClientID string
	// ClientGeneration is that client's current Generation; with ClientID
	// set, a family begun under another generation (a deleted client of
	// the same id) is ErrNotFound and left untouched.
	ClientGeneration string
	// Scope, when set, must be a subset of the family's scope, else
	// ErrScopeExceedsGrant and the family is untouched.
	Scope []string
	// Resources, when set and the family is restricted to resources,
	// must be a subset of them, else ErrTargetExceedsGrant and the family
	// is untouched (RFC 8707 §2.2).
	Resources       []string
	NewHash         string // sha256 of the successor
	Successor       []byte // opaque (the token layer encrypts the successor for the grace window)
	AccessJTI       string // the access token issued with the successor
	AccessExpiresAt time.Time
	Now             time.Time
	Sliding         time.Duration
	// Grace > 0 lets the token rotated out in the last Grace answer once more
	// with the same Successor (two legitimate concurrent refreshes), never a
	// second branch. 0 turns it off: any reuse revokes the family.
	Grace time.Duration
	// JKT is the thumbprint of the DPoP key the request proved, empty if
	// none. A family bound to a key (RefreshFamily.JKT) answers
	// ErrProofKeyMismatch to any other value before anything else but the
	// client is checked, and stays untouched.
	JKT string
	// BindKey: an unbound family becomes bound to JKT (when set) by this
	// rotation, and from then on answers as one bound at birth (RFC 9449
	// §5: a public client's refresh tokens are bound to the key its first
	// proof shows).
	BindKey bool
	// GraceAccessJTI is the jti of the access token a grace answer
	// carries (AccessExpiresAt its expiry): recorded so that reuse can
	// deny it (RotationResult.GraceAccess).
	GraceAccessJTI string
}

// RotationResult is the family after rotation. GraceSuccessor is set when
// the presented token was the previous one inside the grace window: the
// caller must answer with that successor instead of NewHash's token.
type RotationResult struct {
	Family         RefreshFamily
	GraceSuccessor []byte
	// GraceAccess, on ErrRefreshReused, are the access tokens the grace
	// window answered since the family's last rotation: with
	// Family.AccessJTI, its newest generation, which reuse denies.
	GraceAccess []AccessRef
}

// AccessRef names an issued access token: its jti and expiry.
type AccessRef struct {
	JTI       string
	ExpiresAt time.Time
}

// Consent is a user's remembered approval of scopes for a client.
type Consent struct {
	UserID    string    `json:"user_id"`
	ClientID  string    `json:"client_id"`
	Scope     []string  `json:"scope"`
	GrantedAt time.Time `json:"granted_at"`
	// ClientGeneration is the client's Generation when the user
	// consented: a consent given to a deleted client does not hold for a
	// new client of the same id (Client.OwnsGrant).
	ClientGeneration string `json:"client_generation,omitempty"`
}

// Grant is what a user has granted one client, whatever made it: a
// remembered consent, live refresh-token families (a first-party client,
// whose consent is skipped, or a consent not remembered, leaves only
// these), or both.
type Grant struct {
	ClientID string
	// Scope is the union of the consent's scope and every live family's:
	// the consent's first, in its order, then what the families add.
	Scope []string
	// Remembered: a consent is stored for the client (ConsentStore).
	Remembered bool
	// GrantedAt is the consent's time when Remembered, else the creation
	// of the oldest live family.
	GrantedAt time.Time
	// Families counts the client's live (unrevoked, unexpired) refresh
	// families of the user; LastAuth is the latest sign-in among them
	// (zero when there is none).
	Families int
	LastAuth time.Time
}

// GrantList is a user's grants, sorted by client id.
type GrantList struct {
	Grants []Grant
	// Partial: the user has more families that can still be alive than
	// MaxGrantFamilies. Those that expire first were not read, so a client
	// holding only such families may be missing (its remembered consent
	// is always listed) and the counts are low.
	Partial bool
}

// SigningKey is one JWT signing key as kept in Redis. Material is opaque
// here: the token package encrypts it before it is stored.
type SigningKey struct {
	ID          string    `json:"kid"`
	Algorithm   string    `json:"alg"`
	State       string    `json:"state"` // "next", "active" or "retired"
	Material    []byte    `json:"material"`
	CreatedAt   time.Time `json:"created_at"`
	ActivatedAt time.Time `json:"activated_at"`
	RetiredAt   time.Time `json:"retired_at"`
	// NotAfter is when the last token this key could have signed expires;
	// a retired key is kept (and published) until then.
	NotAfter time.Time `json:"not_after"`
}

// RevokedJTI is one deny-list entry as published.
type RevokedJTI struct {
	JTI       string    `json:"jti"`
	ExpiresAt time.Time `json:"exp"`
}

// Cutoff says: tokens of Principal issued (iat) before NotBefore are
// revoked. Until is when the last of them expires; the entry goes then.
//
// Access tokens are self-contained JWTs, most of them tracked by no
// refresh family, so "revoke everything of this user" cannot list their
// jtis; a cutoff records the moment instead. Like the jti deny list,
// cutoffs are few, short-lived and published so every instance keeps
// them in memory.
type Cutoff struct {
	Principal string    `json:"principal"` // SubjectCutoff or ClientCutoff
	NotBefore time.Time `json:"nbf"`
	Until     time.Time `json:"until"`
}

// SubjectCutoff is the principal of a token subject (a user id, or the
// client id of a client-credentials token).
func SubjectCutoff(sub string) string { return "sub:" + sub }

// ClientCutoff is the principal of every token issued to a client. A token
// is checked against both its subject and its client principal.
func ClientCutoff(clientID string) string { return "client:" + clientID }

// BrowserSession is the server side of a browser's session cookie (the
// login state of the authorization server's own pages). It is stored under
// sha256 of the cookie value, so a copy of Redis holds no usable cookie.
type BrowserSession struct {
	// UserID is empty while the browser has not signed in: such a session
	// only carries the CSRF token of the login form.
	UserID string `json:"user_id,omitempty"`
	// AuthTime is when the user last proved their password (OIDC auth_time).
	AuthTime time.Time `json:"auth_time"`
	// AMR lists how the user proved who they are in this session (RFC
	// 8176 values: "pwd", "otp", "hwk", "swk", "user", "mfa"); empty in
	// sessions from before second factors, which proved a password.
	AMR       []string  `json:"amr,omitempty"`
	CSRFToken string    `json:"csrf"`
	CreatedAt time.Time `json:"created_at"`
	LastSeen  time.Time `json:"last_seen"`
	// ExpiresAt is the absolute end of the session, however active it is.
	ExpiresAt time.Time `json:"expires_at"`

	// Pending, while the browser has proved a password but not yet the
	// second factor its user needs, says for whom: UserID stays empty
	// until the second factor is proved, so nothing treats the session
	// as signed in. Bounded by the session's short ExpiresAt.
	Pending *PendingSignIn `json:"pending,omitempty"`

	// SID identifies a signed-in session in ID and logout tokens (OIDC
	// Back-Channel Logout 1.0 §2.4). It is random and unrelated to the
	// cookie, so a relying party that sees it learns nothing to sign in
	// with.
	SID string `json:"sid,omitempty"`

	// Device and IP are what the account page shows of the session: a
	// short description of the browser's User-Agent and the address it
	// signed in from, both bounded (web: describeDevice).
	Device string `json:"device,omitempty"`
	IP     string `json:"ip,omitempty"`
}

// PendingSignIn is a sign-in waiting for its second factor. Wrong codes
// are counted where wrong passwords are: in the failure budgets of the
// user's name and the address (package ratelimit), which hold across
// sessions; a pending sign-in itself ends with its session's short
// ExpiresAt.
type PendingSignIn struct {
	UserID string `json:"user_id"`
	// Next is where the sign-in goes once the factor is proved (a path
	// the server chose: the device page with its user code, say).
	Next string `json:"next,omitempty"`
}

// AuthRequest is a validated authorization request (RFC 6749 §4.1.1) that
// waits for the user to sign in or to consent. The login and consent forms
// refer to it by ID only, so a replayed or forged form cannot change what
// is asked (scope, redirect URI, PKCE challenge): those come from here.
type AuthRequest struct {
	ID                  string   `json:"id"`
	ClientID            string   `json:"client_id"`
	RedirectURI         string   `json:"redirect_uri"`
	RedirectURIOmitted  bool     `json:"redirect_uri_omitted,omitempty"`
	RequestedScope      []string `json:"requested_scope,omitempty"` // empty: the client's default
	Resources           []string `json:"resources,omitempty"`       // RFC 8707 resource indicators
	State               string   `json:"state,omitempty"`
	Nonce               string   `json:"nonce,omitempty"`
	CodeChallenge       string   `json:"code_challenge,omitempty"`
	CodeChallengeMethod string   `json:"code_challenge_method,omitempty"`
	DPoPJKT             string   `json:"dpop_jkt,omitempty"` // RFC 9449 §10
	Pushed              bool     `json:"pushed,omitempty"`   // came through the PAR endpoint (RFC 9126)
	Prompt              []string `json:"prompt,omitempty"`
	// MaxAge is the OIDC max_age in seconds; nil when the request had none.
	MaxAge *int `json:"max_age,omitempty"`
	// ACRValues is the OIDC acr_values, in preference order (OIDC Core
	// §3.1.2.1).
	ACRValues []string `json:"acr_values,omitempty"`
	LoginHint string   `json:"login_hint,omitempty"`
	// IDTokenHintSubject is the sub of the request's verified
	// id_token_hint: only that user may be answered (OIDC Core §3.1.2.1).
	IDTokenHintSubject string `json:"id_token_hint_sub,omitempty"`
	// DeviceCodeHash names the device authorization (RFC 8628) this
	// request decides, by its device code's hash: it has no redirect URI,
	// and its answer goes to that record instead of to a client.
	DeviceCodeHash string    `json:"device,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	ExpiresAt      time.Time `json:"expires_at"`

	// Set by the authorize endpoint before it asks for consent: the scope
	// that would be granted to UserID (it depends on the user's roles).
	UserID string   `json:"user_id,omitempty"`
	Scope  []string `json:"scope,omitempty"`

	// Set by the consent page: "allow" or "deny", and by whom.
	Decision  string `json:"decision,omitempty"`
	DecidedBy string `json:"decided_by,omitempty"`
	// DecisionOnce: the user allowed this authorization only ("remember
	// this decision" unticked), so the consent is not stored. False keeps
	// the old behaviour of remembering it.
	DecisionOnce bool `json:"decision_once,omitempty"`
}

// DeviceAuthorization is a device authorization request (RFC 8628 §3.1)
// as the device authorization endpoint accepted it. It never changes;
// what the person decides is kept beside it (DeviceGrant).
type DeviceAuthorization struct {
	ClientID         string `json:"client_id"`
	ClientGeneration string `json:"client_gen,omitempty"`
	// Scope is the request's scope, checked against the client's
	// registration (empty: the client's default); Resources its resource
	// indicators (RFC 8707).
	Scope        []string  `json:"scope,omitempty"`
	Resources    []string  `json:"resources,omitempty"`
	UserCodeHash string    `json:"uc"`
	CreatedAt    time.Time `json:"created_at"`
	ExpiresAt    time.Time `json:"expires_at"`
}

// DeviceGrant is what the person who entered the user code decided: for
// whom, the scope granted, and the browser session it was decided in.
type DeviceGrant struct {
	UserID           string    `json:"user_id"`
	Scope            []string  `json:"scope,omitempty"`
	AuthTime         time.Time `json:"auth_time"`
	SID              string    `json:"sid,omitempty"`
	SessionExpiresAt time.Time `json:"session_exp"`
	// AMR is how the user authenticated in that session (RFC 8176), so
	// the device's tokens say no more than it proved.
	AMR []string `json:"amr,omitempty"`
}

// DeviceState is a device authorization with its state: DevicePending,
// DeviceApproved, DeviceDenied or DeviceConsumed, the interval the client
// must keep between polls, and the decision once there is one.
type DeviceState struct {
	DeviceAuthorization
	Status   string
	Interval time.Duration
	Grant    *DeviceGrant
}

// DevicePoll is the answer to one poll (Store.PollDevice): DevicePending,
// DeviceSlowDown, DeviceDenied, DeviceExpired, DeviceUsed,
// DeviceNotReady, or DeviceConsumed with the grant when this poll
// consumed an approval.
type DevicePoll struct {
	Outcome  string
	Interval time.Duration
	Grant    *DeviceGrant
}

// Comment is one message of the protected comments API (DESIGN.md §5).
type Comment struct {
	ID        string    `json:"id"`
	UserID    string    `json:"user_id"` // whom the comment is from
	Message   string    `json:"message"`
	CreatedAt time.Time `json:"created_at"`
	// PostedBy is the subject that posted it: UserID itself, or an admin
	// posting on the user's behalf (kept for audit, not shown by the API).
	PostedBy string `json:"posted_by,omitempty"`
	ClientID string `json:"client_id,omitempty"` // the client the token was issued to
}

// CommentPage is one page of comments, newest first. Next is the cursor of
// the following page, empty on the last one.
type CommentPage struct {
	Comments []*Comment
	Next     string
}

// ClientStore keeps registered clients.
type ClientStore interface {
	CreateClient(ctx context.Context, c *Client) error // ErrConflict if the id exists; sets a fresh Generation
	UpsertClient(ctx context.Context, c *Client) error // create or replace (bootstrap, admin update); keeps the stored Generation
	GetClient(ctx context.Context, id string) (*Client, error)
	ListClients(ctx context.Context) ([]*Client, error) // admin only, sorted by id
	DeleteClient(ctx context.Context, id string) error
	// CreateSelfRegisteredClient stores c (SelfRegistered must be set)
	// unless its id exists (ErrConflict) or max self-registered clients
	// are stored already (ErrTooManyClients): counting and creating are
	// one atomic step, so concurrent registrations cannot pass the cap.
	CreateSelfRegisteredClient(ctx context.Context, c *Client, max int) error
	// UpdateClient replaces a stored client, keeping its Generation and
	// CreatedAt; never creates: ErrNotFound once deleted (RFC 7592 PUT
	// racing a DELETE).
	UpdateClient(ctx context.Context, c *Client) error
	// SelfRegisteredClients counts the self-registered clients stored.
	SelfRegisteredClients(ctx context.Context) (int, error)
}

// ResourceStore keeps registered resources (RFC 8707), at most
// MaxResources of them.
type ResourceStore interface {
	CreateResource(ctx context.Context, r *Resource) error // ErrConflict if the id exists, ErrRegistryFull
	UpsertResource(ctx context.Context, r *Resource) error // create or replace (bootstrap, CLI); ErrRegistryFull
	UpdateResource(ctx context.Context, r *Resource) error // replace, never create: ErrNotFound once deleted
	GetResource(ctx context.Context, id string) (*Resource, error)
	ListResources(ctx context.Context) ([]*Resource, error) // sorted by id
	DeleteResource(ctx context.Context, id string) error
}

// UserStore keeps users; usernames are unique (enforced atomically).
type UserStore interface {
	CreateUser(ctx context.Context, u *User) error // ErrConflict if the username is taken
	UpsertUser(ctx context.Context, u *User) error // by username; keeps the existing ID
	UpdateUser(ctx context.Context, u *User) error // by ID, never creates: ErrNotFound once deleted
	GetUser(ctx context.Context, id string) (*User, error)
	GetUserByUsername(ctx context.Context, username string) (*User, error)
	ListUsers(ctx context.Context) ([]*User, error) // admin only, sorted by username
	DeleteUser(ctx context.Context, id string) error
}

// BootstrapStore remembers which clients, users and resources the
// bootstrap file declared when it was last applied, so that applying a
// file that no longer declares one can release it without reading every
// record.
type BootstrapStore interface {
	// BootstrapDeclared returns what SetBootstrapDeclared last stored;
	// empty lists when nothing was.
	BootstrapDeclared(ctx context.Context) (clientIDs, usernames []string, err error)
	SetBootstrapDeclared(ctx context.Context, clientIDs, usernames []string) error
	// BootstrapDeclaredResources and SetBootstrapDeclaredResources are
	// the same for resource ids.
	BootstrapDeclaredResources(ctx context.Context) ([]string, error)
	SetBootstrapDeclaredResources(ctx context.Context, ids []string) error
}

// CodeStore keeps authorization codes, single-use. Redeeming is two
// steps so that only a presenter who passes every check uses a code up
// (DESIGN §9.4): GetCode reads it, the caller checks the presenter against
// it, and RedeemCode then claims it atomically.
type CodeStore interface {
	// SaveCode stores code under codeHash with a TTL up to code.ExpiresAt.
	SaveCode(ctx context.Context, codeHash string, code *AuthCode) error
	// GetCode returns the code without touching it, redeemed or not (a
	// redeemed one while its record is kept, so that a replay is still
	// recognised); ErrNotFound if unknown, or expired and never redeemed.
	GetCode(ctx context.Context, codeHash string) (*AuthCode, error)
	// RedeemCode atomically marks the code used, if it is not yet, and
	// records what is issued from it. The first call returns issue; later
	// calls return ErrCodeReused with the first call's redemption; unknown
	// or expired codes return ErrNotFound.
	RedeemCode(ctx context.Context, codeHash string, issue CodeRedemption) (*CodeRedemption, error)
}

// RefreshStore keeps refresh-token families. Rotation, reuse detection and
// revocation are each one Lua script on the family's hash slot.
type RefreshStore interface {
	CreateFamily(ctx context.Context, r NewRefresh) error
	// CheckRefresh returns the family if tokenHash is its current token,
	// without touching it (introspection, revocation). A revoked family is
	// ErrRevoked whatever tokenHash is; anything else is ErrNotFound.
	CheckRefresh(ctx context.Context, familyID, tokenHash string) (*RefreshFamily, error)
	// Rotate: ErrNotFound for unknown/expired families, another client's
	// attempt (or one under another Rotation.ClientGeneration: a family of
	// a deleted client of the same id) or a hash that never belonged to
	// the family,
	// ErrProofKeyMismatch for a bound family without its key, ErrRevoked for
	// a revoked family, ErrScopeExceedsGrant for a widening (nothing
	// changed), ErrRefreshReused (with the now-revoked family) for reuse
	// of any of the family's last MaxUsedHashes tokens (older ones are
	// forgotten: ErrNotFound, family untouched).
	Rotate(ctx context.Context, r Rotation) (*RotationResult, error)
	// RevokeFamily marks the family revoked and returns it (ErrNotFound if
	// unknown). Idempotent.
	RevokeFamily(ctx context.Context, familyID string) (*RefreshFamily, error)
	// RevokeUserFamilies revokes every family of the user for the client
	// (all clients when clientID is empty) and returns them. Its work is
	// bounded by the user's families that can still be alive: families
	// past their absolute expiry are forgotten, not visited. Families an
	// older version indexed (during a rolling upgrade it may still be
	// indexing them) are revoked as well.
	RevokeUserFamilies(ctx context.Context, userID, clientID string) ([]*RefreshFamily, error)
}

// ConsentStore keeps remembered consents.
type ConsentStore interface {
	SaveConsent(ctx context.Context, c *Consent) error // replaces the user+client record
	GetConsent(ctx context.Context, userID, clientID string) (*Consent, error)
	ListConsents(ctx context.Context, userID string) ([]*Consent, error)
	DeleteConsent(ctx context.Context, userID, clientID string) error
}

// GrantStore answers what a user has granted which client, for the
// person's own account page.
type GrantStore interface {
	// UserGrants lists the user's live grants by client: every
	// remembered consent, and every client of a live refresh-token family
	// of the user (at most MaxGrantFamilies families read, those that
	// expire last; families an older version indexed are read too). It
	// changes nothing. A user without any has an empty list.
	UserGrants(ctx context.Context, userID string) (*GrantList, error)
}

// RevocationStore is the deny list of access-token ids (jti). Every
// revocation is also published so other instances learn of it at once.
type RevocationStore interface {
	// RevokeJTI denies jti until expiresAt (the token's own exp).
	RevokeJTI(ctx context.Context, jti string, expiresAt time.Time) error
	// RevokedJTIs lists every jti still denied with its expiry (start-up
	// and resync after a reconnect).
	RevokedJTIs(ctx context.Context) (map[string]time.Time, error)
	// SubscribeRevocations delivers each jti revoked from now on until ctx
	// ends. The channel is closed when ctx ends. onReconnect is called after
	// the subscription was re-established so the caller can resync.
	SubscribeRevocations(ctx context.Context, onReconnect func()) (<-chan RevokedJTI, error)
}

// CutoffStore keeps per-principal revocation cutoffs. Every change is
// published so other instances learn of it at once.
type CutoffStore interface {
	// SetCutoff records c, keeping the later NotBefore and Until when the
	// principal already has a cutoff. A cutoff whose Until has passed
	// needs no entry.
	SetCutoff(ctx context.Context, c Cutoff) error
	// Cutoffs lists every cutoff still in force, by principal (start-up
	// and resync after a reconnect).
	Cutoffs(ctx context.Context) (map[string]Cutoff, error)
	// SubscribeCutoffs delivers each cutoff set from now on until ctx
	// ends, then closes the channel; onReconnect is called after the
	// subscription was re-established (messages sent meanwhile are lost:
	// resync with Cutoffs).
	SubscribeCutoffs(ctx context.Context, onReconnect func()) (<-chan Cutoff, error)
}

// RevocationFeedStore is the history of revocations (RevokeJTI and
// SetCutoff) that resource servers follow from afar (feed.go): a
// snapshot to start from, then what changed after a cursor.
type RevocationFeedStore interface {
	// RevocationSnapshot returns every jti and cutoff in force and the
	// cursor to follow them from.
	RevocationSnapshot(ctx context.Context) (RevocationEvents, string, error)
	// RevocationsSince returns what was revoked after cursor, a bounded
	// batch, and the cursor after it (cursor itself when nothing was);
	// snapshot is true when cursor cannot be followed (malformed, too
	// old, or from data Redis has lost): start again from a snapshot.
	RevocationsSince(ctx context.Context, cursor string) (ev RevocationEvents, next string, snapshot bool, err error)
}

// RevocationChecker answers the one question introspection and userinfo
// ask of an access token: is it denied by its jti (RevokeJTI) or cut off
// by a cutoff of its subject or client (SetCutoff)? Both in one round
// trip.
type RevocationChecker interface {
	IsAccessRevoked(ctx context.Context, jti, subject, clientID string, issuedAt time.Time) (bool, error)
}

// KeyStore keeps signing keys (encrypted by the caller).
type KeyStore interface {
	ListSigningKeys(ctx context.Context) ([]*SigningKey, error) // sorted by CreatedAt
	PutSigningKey(ctx context.Context, k *SigningKey) error     // create or replace by ID
	// PutSigningKeysUnless creates or replaces keys (all of alg) in one
	// step unless a key of alg in state is stored, and reports whether it
	// wrote them: how instances agree on the keys they create.
	PutSigningKeysUnless(ctx context.Context, alg, state string, keys ...*SigningKey) (bool, error)
	DeleteSigningKey(ctx context.Context, id string) error
}

// SessionStore keeps browser sessions.
type SessionStore interface {
	// SaveSession creates or replaces the session stored under idHash. It
	// expires after ttl, or at s.ExpiresAt if that comes first.
	SaveSession(ctx context.Context, idHash string, s *BrowserSession, ttl time.Duration) error
	GetSession(ctx context.Context, idHash string) (*BrowserSession, error) // ErrNotFound if absent or expired
	DeleteSession(ctx context.Context, idHash string) error                 // idempotent
	// GetSessions reads the sessions under idHashes in one round trip;
	// the answer has one entry per hash, nil where none is live.
	GetSessions(ctx context.Context, idHashes []string) ([]*BrowserSession, error)
}

// AuthRequestStore keeps pending authorization requests.
type AuthRequestStore interface {
	// SaveAuthRequest creates or replaces r (by r.ID) until r.ExpiresAt.
	SaveAuthRequest(ctx context.Context, r *AuthRequest) error
	GetAuthRequest(ctx context.Context, id string) (*AuthRequest, error) // ErrNotFound if absent or expired
	// TakeAuthRequest reads and deletes r in one step, so one request is
	// answered once however often the browser comes back.
	TakeAuthRequest(ctx context.Context, id string) (*AuthRequest, error)
}

// PushedRequestStore keeps pushed authorization requests (RFC 9126), each
// under the SHA-256 of its request_uri, for one use.
type PushedRequestStore interface {
	// SavePushedRequest stores r until r.ExpiresAt; ErrConflict if the
	// hash exists.
	SavePushedRequest(ctx context.Context, refHash string, r *AuthRequest) error
	// GetPushedRequest reads it without using it up, so that a presenter
	// who fails a check (another client_id) leaves it to the client that
	// pushed it; ErrNotFound if unknown, taken or expired.
	GetPushedRequest(ctx context.Context, refHash string) (*AuthRequest, error)
	// TakePushedRequest reads and deletes it in one step; ErrNotFound if
	// unknown, taken or expired. Of concurrent takers, one gets it.
	TakePushedRequest(ctx context.Context, refHash string) (*AuthRequest, error)
}

// ChallengeSessionStore keeps the auth_session of the authorization
// challenge endpoint (challenge.go), each under the SHA-256 of its value,
// for a short TTL, a bounded number of attempts and one successful use.
type ChallengeSessionStore interface {
	SaveChallenge(ctx context.Context, hash string, cs *ChallengeSession, ttl time.Duration) error
	TryChallenge(ctx context.Context, hash string, maxTries int) (*ChallengeSession, error)
	TakeChallenge(ctx context.Context, hash string) error
}

// DeviceStore keeps device authorizations (RFC 8628), each under the
// SHA-256 of its device code and found by the SHA-256 of its user code;
// device.go says what each call does.
type DeviceStore interface {
	CreateDevice(ctx context.Context, deviceHash string, a *DeviceAuthorization, interval time.Duration) error
	GetDevice(ctx context.Context, deviceHash string) (*DeviceState, error)
	GetDeviceByUserCode(ctx context.Context, userCodeHash string) (string, *DeviceState, error)
	DecideDevice(ctx context.Context, deviceHash string, approve bool, grant *DeviceGrant) error
	PollDevice(ctx context.Context, deviceHash, pollID string, prepared bool) (*DevicePoll, error)
}

// ProofReplayStore remembers DPoP proofs (RFC 9449 §11.1) so that each is
// accepted once across every instance; dpop.ReplayGuard is its consumer.
type ProofReplayStore interface {
	// RecordProof records id for ttl (at most MaxProofTTL) and reports
	// whether it was new: of concurrent calls with one id, exactly one
	// sees true. O(1), and nothing outlives ttl.
	RecordProof(ctx context.Context, id string, ttl time.Duration) (bool, error)
}

// AssertionReplayStore remembers the jti of client assertions (RFC 7523
// §3, private_key_jwt) so that each is accepted once across every
// instance.
type AssertionReplayStore interface {
	// RecordAssertion records (clientID, jti) for ttl (at most
	// MaxAssertionTTL) and reports whether it was new: of concurrent
	// calls with one pair, exactly one sees true. O(1), and nothing
	// outlives ttl.
	RecordAssertion(ctx context.Context, clientID, jti string, ttl time.Duration) (bool, error)
}

// CommentStore keeps comments. Ordering and pagination come from a sorted
// set scored by a per-store sequence number, so a page is one range read
// and pages never skip or repeat a comment when others are posted or
// deleted meanwhile.
type CommentStore interface {
	// CreateComment stores c, filling an empty ID and a zero CreatedAt;
	// ErrConflict if c.ID is taken.
	CreateComment(ctx context.Context, c *Comment) error
	GetComment(ctx context.Context, id string) (*Comment, error)
	// ListComments returns up to limit comments older than cursor (the
	// newest when cursor is empty); ErrBadCursor for a cursor it did not
	// make.
	ListComments(ctx context.Context, limit int, cursor string) (*CommentPage, error)
	DeleteComment(ctx context.Context, id string) error // ErrNotFound if unknown
}

// Storage is everything the data layer offers: what a backend must
// implement and what storagetest checks. Consumers depend on the small
// roles above, not on this.
type Storage interface {
	ClientStore
	UserStore
	ResourceStore
	BootstrapStore
	ConsentStore
	GrantStore
	CodeStore
	RefreshStore
	RevocationStore
	CutoffStore
	RevocationFeedStore
	RevocationChecker
	KeyStore
	SessionStore
	SessionLoginStore
	UserClientStore
	LogoutQueue
	AuthRequestStore
	CommentStore
	ProofReplayStore
	AssertionReplayStore
	PushedRequestStore
	ChallengeSessionStore
	DeviceStore
	SecondFactorStore
	PasskeyStore
}

// SecondFactorStore keeps users' TOTP factors and recovery codes
// (mfa.go). A time step and a recovery code are each used at most once,
// also under racing callers; a factor's secret is sealed by the caller.
type SecondFactorStore interface {
	GetSecondFactors(ctx context.Context, userID string) (*SecondFactors, error)
	SetPendingTOTP(ctx context.Context, userID string, f *TOTPFactor) error
	ConfirmTOTP(ctx context.Context, userID, id string, step int64, codeHashes []string) error
	UseTOTPStep(ctx context.Context, userID, totpID string, step int64) error
	UseRecoveryCode(ctx context.Context, userID, codeHash string) (int, error)
	ReplaceRecoveryCodes(ctx context.Context, userID string, codeHashes []string) error
	RemoveSecondFactors(ctx context.Context, userID string) error
}

// SessionLogin is a signed-in browser session as back-channel logout sees
// it: whose it is, where its cookie record lives, and which clients were
// issued an ID token in it (OIDC Back-Channel Logout 1.0 §2.3, "remembering
// logged-in RPs").
type SessionLogin struct {
	SID         string    `json:"sid"`
	UserID      string    `json:"user_id"`
	SessionHash string    `json:"session"` // the BrowserSession's key (sha256 of the cookie)
	Clients     []string  `json:"clients,omitempty"`
	ExpiresAt   time.Time `json:"expires_at"`
	// ClientGenerations holds, for each of Clients whose entry records it
	// (not those an older version wrote), the client's Generation when it
	// signed in: a deleted client of the same id is not told of the
	// session (SignedIn).
	ClientGenerations map[string]string `json:"client_generations,omitempty"`
}

// SignedIn reports whether c, this registration of its id, signed in
// through the session: a deleted client of the same id may have, and
// the one registered since must not learn of the session. An entry of
// unknown generation (an older version's) counts as c's.
func (l *SessionLogin) SignedIn(c *Client) bool {
	if !slices.Contains(l.Clients, c.ID) {
		return false
	}
	g, known := l.ClientGenerations[c.ID]
	return !known || c.OwnsGrant(g)
}

// SessionLoginStore finds a signed-in session by its sid, and a user's
// sessions, so that a logout can end them and tell their clients.
type SessionLoginStore interface {
	// SaveSessionLogin records a signed-in session until l.ExpiresAt;
	// l.Clients is ignored (AddSessionClient fills it). It returns the
	// sids of the user's oldest sessions beyond MaxUserSessions, which the
	// caller must end (they stay listed until then).
	SaveSessionLogin(ctx context.Context, l *SessionLogin) ([]string, error)
	// AddSessionClient notes that clientID, of Client.Generation
	// generation, was issued an ID token in sid; ErrNotFound when sid has
	// ended. Idempotent.
	AddSessionClient(ctx context.Context, sid, clientID, generation string) error
	GetSessionLogin(ctx context.Context, sid string) (*SessionLogin, error) // ErrNotFound if ended
	// UserSessionLogins lists the user's sessions that have not ended.
	UserSessionLogins(ctx context.Context, userID string) ([]*SessionLogin, error)
	// DeleteSessionLogin forgets sid; idempotent.
	DeleteSessionLogin(ctx context.Context, userID, sid string) error
}

// UserClient is a relying party the user signed in to (it was issued an
// ID token), through the browser session SID ("" without one: the
// password grant), remembered until Until: the latest expiry of what it
// received (its refresh-token family's absolute expiry, else the ID
// token's or the browser session's, whichever is later). A client that
// signed in through several sessions has one entry for each.
type UserClient struct {
	ClientID string
	SID      string
	Until    time.Time
}

// UserClientStore remembers, per user, the relying parties that may still
// hold a session of the user's after the oauth2d browser session through
// which they signed in has ended, and that session's sid, so that an
// administrator's "sign this user out everywhere" reaches them too (OIDC
// Back-Channel Logout 1.0: logout tokens carrying sub alone, or sub and
// the ended session's sid for a client that requires one). The memory is
// bounded per user: at most MaxUserClients entries (client, sid) in all,
// none kept past MaxUserClientLife.
type UserClientStore interface {
	// RememberUserClient notes (clientID, sid) for userID until `until`
	// (capped at now + MaxUserClientLife); an entry already there keeps
	// the later time. sid is "" for a sign-in without a browser session,
	// and never holds a space. Ended entries are dropped, and beyond
	// MaxUserClients those ending soonest. Only call it for a user who
	// has authenticated. Idempotent.
	RememberUserClient(ctx context.Context, userID, clientID, sid string, until time.Time) error
	// UserClients lists the user's entries that have not ended, sorted by
	// client id, then sid.
	UserClients(ctx context.Context, userID string) ([]UserClient, error)
	// ForgetUserClients removes each of cs (by client and sid) whose
	// entry has not been extended past cs[i].Until since it was read (a
	// sign-in meanwhile keeps it). Idempotent.
	ForgetUserClients(ctx context.Context, userID string, cs []UserClient) error
}

// LogoutDelivery is one logout token still to be POSTed to one client's
// backchannel_logout_uri. The token is minted when it is sent, so each
// attempt carries a fresh iat and exp.
type LogoutDelivery struct {
	// ID is the logout token's jti. Callers derive it from what the
	// delivery is about, so that enqueuing the same logout twice (a
	// retried request) queues it once.
	ID        string    `json:"id"`
	ClientID  string    `json:"client_id"`
	Subject   string    `json:"sub,omitempty"`
	SID       string    `json:"sid,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	Attempts  int       `json:"attempts"` // claims so far, this one included
	LastError string    `json:"last_error,omitempty"`
	// Lease is set by ClaimLogouts: only its holder may retry or finish
	// the delivery.
	Lease string `json:"lease,omitempty"`
}

// LogoutQueue holds back-channel logout deliveries until they succeed or
// are given up, shared by every instance. A claimed delivery is hidden
// from other instances for the lease; if its holder dies, the lease runs
// out and another instance claims it.
type LogoutQueue interface {
	// EnqueueLogouts adds the deliveries, due at `at`, in one atomic step;
	// an ID already queued is left as it is.
	EnqueueLogouts(ctx context.Context, ds []*LogoutDelivery, at time.Time) error
	// ClaimLogouts takes up to max deliveries due at now, each leased for
	// lease with a fresh Lease value and Attempts counted up.
	ClaimLogouts(ctx context.Context, now time.Time, lease time.Duration, max int) ([]*LogoutDelivery, error)
	// RetryLogout makes d due again at `at`, keeping its Attempts and
	// LastError; ErrNotFound when d's lease is no longer held.
	RetryLogout(ctx context.Context, d *LogoutDelivery, at time.Time) error
	// FinishLogout removes d (delivered or given up); ErrNotFound when
	// another holds d's lease now (nil when d is gone already).
	FinishLogout(ctx context.Context, d *LogoutDelivery) error
}
