package account

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/oauth2d/oauth2d/internal/clientkeys"
	"github.com/oauth2d/oauth2d/internal/config"
	"github.com/oauth2d/oauth2d/internal/outbound"
	"github.com/oauth2d/oauth2d/internal/storage"
)

var (
	// Client ids travel in URLs, Basic auth and Redis keys: keep them to the
	// unreserved characters of RFC 3986 §2.3 (no hash-tag braces).
	clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._~-]{0,127}$`)
	// RFC 6749 §3.3 scope-token: %x21 / %x23-5B / %x5D-7E.
	scopePattern = regexp.MustCompile(`^[\x21\x23-\x5B\x5D-\x7E]+$`)
	// Usernames are printable without spaces (so they can be an email).
	usernamePattern = regexp.MustCompile(`^[\x21-\x7E]{1,128}$`)
	rolePattern     = regexp.MustCompile(`^[a-z][a-z0-9_:-]{0,63}$`)
)

// Policy is what a deployment's configuration changes in ValidateClient.
// The bootstrap file, the admin API and the CLI each validate with the
// policy of the same configuration (PolicyOf).
type Policy struct {
	// InsecureDev (insecure_dev) accepts plain-http URIs on any host.
	InsecureDev bool
	// Outbound is the guard the server sends its own requests through: a
	// backchannel_logout_uri must name a host it lets through. Nil: the
	// guard of a configuration with this InsecureDev and no
	// outbound.allow_internal.
	Outbound *outbound.Guard
	// Audiences are the server's own access-token audiences
	// (tokens.audience): an introspection audience may name one of them
	// whatever its form, as it is what the server puts in aud.
	Audiences []string
	// BuiltinResources are the resources the server serves itself
	// (BuiltinResources): no stored resource may take an identifier of
	// theirs, and the admin API and the CLI show them read-only.
	BuiltinResources []*storage.Resource
	// AccessTokenTTL is tokens.access_ttl: a resource may shorten its
	// tokens' lifetime, never lengthen it.
	AccessTokenTTL time.Duration
	// Userinfo is the UserInfo endpoint's URL, an audience of the
	// server's own that no resource may take ("": none reserved).
	Userinfo string
}

// PolicyOf is the registration policy of a validated configuration.
func PolicyOf(cfg *config.Config) (Policy, error) {
	guard, err := outbound.New(cfg)
	if err != nil {
		return Policy{}, err
	}
	return PolicyWith(cfg, guard), nil
}

// PolicyWith is PolicyOf for a server that built cfg's outbound guard
// already: one guard for its requests and its registrations.
func PolicyWith(cfg *config.Config, guard *outbound.Guard) Policy {
	return Policy{InsecureDev: cfg.InsecureDev, Outbound: guard, Audiences: cfg.Tokens.Audience,
		BuiltinResources: BuiltinResources(cfg), AccessTokenTTL: cfg.Tokens.AccessTTL, Userinfo: cfg.Issuer + UserinfoPath}
}

// BuiltinResource returns the built-in resource of identifier id, or nil.
func (p Policy) BuiltinResource(id string) *storage.Resource {
	for _, r := range p.BuiltinResources {
		if r.ID == id {
			return r
		}
	}
	return nil
}

func (p Policy) outbound() *outbound.Guard {
	if p.Outbound != nil {
		return p.Outbound
	}
	// A configuration without allow_internal parses without error.
	guard, _ := outbound.New(&config.Config{InsecureDev: p.InsecureDev})
	return guard
}

// ValidateClient checks a client registration against oauth2d's policy and
// returns every problem, each naming the client and the field. It does not
// look at the secret: whether a client has one follows from Public (the CLI
// and the admin API generate it), and the bootstrap file checks its clear
// secret itself.
func ValidateClient(c *storage.Client, p Policy) []error {
	dev := p.InsecureDev
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Subject: fmt.Sprintf("client %q", c.ID), Field: field, Detail: fmt.Sprintf(format, args...)})
	}
	if !clientIDPattern.MatchString(c.ID) {
		bad("id", "must be 1-128 characters of A-Z a-z 0-9 . _ ~ - starting with a letter or digit")
	}
	if problem := checkDisplayText(c.Name, MaxClientNameLen); problem != "" {
		bad("name", "%s", problem)
	}
	if len(c.GrantTypes) == 0 {
		bad("grant_types", "must name at least one of %s", strings.Join(SupportedGrantTypes, ", "))
	}
	for i, g := range c.GrantTypes {
		switch {
		case !slices.Contains(SupportedGrantTypes, g):
			bad("grant_types", "unknown grant type %q (supported: %s)", g, strings.Join(SupportedGrantTypes, ", "))
		case slices.Contains(c.GrantTypes[:i], g):
			bad("grant_types", "%q is listed twice", g)
		}
	}
	has := func(g string) bool { return slices.Contains(c.GrantTypes, g) }
	if c.Public && has(GrantClientCredentials) {
		bad("grant_types", "a public client cannot use client_credentials (it has no secret to authenticate with)")
	}
	if has(GrantPassword) && !c.FirstParty {
		bad("grant_types", "the password grant is for first-party clients only; set first_party: true or drop it")
	}
	if c.InsecureSkipConsentForNativeRedirects && !c.Public {
		bad("insecure_skip_consent_for_native_redirects", "applies to public clients only (a confidential client proves itself with its secret)")
	}
	if has(GrantRefreshToken) && !has(GrantAuthorizationCode) && !has(GrantPassword) && !has(GrantDeviceCode) {
		bad("grant_types", "refresh_token needs authorization_code, password or device_code to obtain a first refresh token")
	}
	if has(GrantAuthorizationCode) && len(c.RedirectURIs) == 0 {
		bad("redirect_uris", "authorization_code needs at least one redirect URI")
	}
	for _, u := range c.RedirectURIs {
		if err := checkRedirectURI(u, dev); err != nil {
			bad("redirect_uris", "%v", err)
		}
	}
	for _, u := range c.PostLogoutRedirectURIs {
		if err := checkRedirectURI(u, dev); err != nil {
			bad("post_logout_redirect_uris", "%v", err)
		}
	}
	if c.ClientURI != "" {
		if err := checkClientURI(c.ClientURI, dev); err != nil {
			bad("client_uri", "%v", err)
		}
	}
	if c.BackchannelLogoutURI != "" {
		if err := checkBackchannelLogoutURI(c.BackchannelLogoutURI, p); err != nil {
			bad("backchannel_logout_uri", "%v", err)
		}
	} else if c.BackchannelLogoutSessionRequired {
		bad("backchannel_logout_session_required", "needs a backchannel_logout_uri")
	}
	for _, s := range c.Scopes {
		if !scopePattern.MatchString(s) {
			bad("scopes", "%q is not a valid scope token (RFC 6749 §3.3)", s)
		}
	}
	for _, problem := range introspectionAudienceProblems(c, p) {
		bad("introspection_audiences", "%s", problem)
	}
	for _, f := range [][2]string{{"logo_uri", c.LogoURI}, {"tos_uri", c.TOSURI}, {"policy_uri", c.PolicyURI}} {
		if f[1] != "" {
			if err := checkClientURI(f[1], dev); err != nil {
				bad(f[0], "%v", err)
			}
		}
	}
	if c.SelfRegistered {
		for _, problem := range selfRegisteredProblems(c) {
			bad(problem[0], "%s", problem[1])
		}
	}
	for _, fp := range authMethodProblems(c, p) {
		bad(fp[0], "%s", fp[1])
	}
	return errs
}

// Bounds of a self-registered client, whom nobody vouched for.
const (
	MaxSelfRegisteredRedirectURIs = 8
	// SelfRegisteredGrantTypes are the only grants a self-registered
	// client may use: a person consents to each of its grants. Never
	// password (first party only) nor client_credentials (a token no
	// person stands behind).
	selfRegisteredGrants = GrantAuthorizationCode + " " + GrantRefreshToken
)

// selfRegisteredProblems are the rules of a client no operator vouched
// for (dynamic registration, RFC 7591; client metadata documents): never
// first party, a person's grants only, and none of the operator-only
// settings that skip consent or read other clients' tokens. Its scopes
// are each kind's own configuration's (registration.scopes,
// client_id_metadata.scopes), which what makes the client applies.
// Each problem is {field, detail}.
func selfRegisteredProblems(c *storage.Client) [][2]string {
	var out [][2]string
	if c.FirstParty {
		out = append(out, [2]string{"first_party", "a self-registered client is never first party"})
	}
	for _, g := range c.GrantTypes {
		if !slices.Contains(strings.Fields(selfRegisteredGrants), g) {
			out = append(out, [2]string{"grant_types", fmt.Sprintf("%q is not available to a self-registered client (only %s)", g, selfRegisteredGrants)})
		}
	}
	if len(c.RedirectURIs) > MaxSelfRegisteredRedirectURIs {
		out = append(out, [2]string{"redirect_uris", fmt.Sprintf("must list at most %d", MaxSelfRegisteredRedirectURIs)})
	}
	if c.InsecureSkipConsentForNativeRedirects || len(c.IntrospectionAudiences) > 0 || c.BackchannelLogoutURI != "" || c.ManagedBy != "" {
		out = append(out, [2]string{"client_metadata", "operator-only settings are not available to a self-registered client"})
	}
	return out
}

// MaxJWKSURILen bounds jwks_uri.
const MaxJWKSURILen = 2048

// authMethodProblems checks token_endpoint_auth_method against the rest
// of the record, as (field, problem) pairs: none is for public clients
// and public clients use nothing else; private_key_jwt has keys (jwks
// or jwks_uri, not both) and no secret; keys belong to private_key_jwt
// only.
func authMethodProblems(c *storage.Client, p Policy) [][2]string {
	var out [][2]string
	bad := func(field, problem string) { out = append(out, [2]string{field, problem}) }
	m := c.TokenEndpointAuthMethod
	switch m {
	case "", storage.AuthMethodSecretBasic, storage.AuthMethodSecretPost, storage.AuthMethodPrivateKeyJWT, storage.AuthMethodNone:
	default:
		bad("token_endpoint_auth_method", fmt.Sprintf("unknown method %q (supported: %s, %s, %s, %s)", m,
			storage.AuthMethodSecretBasic, storage.AuthMethodSecretPost, storage.AuthMethodPrivateKeyJWT, storage.AuthMethodNone))
		return out
	}
	switch {
	case m == storage.AuthMethodNone && !c.Public:
		bad("token_endpoint_auth_method", "none is for public clients; set public: true or choose a method")
	case m != "" && m != storage.AuthMethodNone && c.Public:
		bad("token_endpoint_auth_method", "a public client authenticates with none")
	}
	if m != storage.AuthMethodPrivateKeyJWT {
		if c.JWKS != "" || c.JWKSURI != "" {
			bad("jwks", "jwks and jwks_uri are for token_endpoint_auth_method private_key_jwt only")
		}
		return out
	}
	if c.SecretHash != "" {
		bad("token_endpoint_auth_method", "a private_key_jwt client has no secret")
	}
	switch {
	case c.JWKS != "" && c.JWKSURI != "":
		bad("jwks", "give jwks or jwks_uri, not both (RFC 7591 §2)")
	case c.JWKS == "" && c.JWKSURI == "":
		bad("jwks", "private_key_jwt needs the client's public keys: jwks or jwks_uri")
	case c.JWKS != "":
		if _, err := clientkeys.ParseSet([]byte(c.JWKS)); err != nil {
			bad("jwks", err.Error())
		}
	default:
		if err := checkJWKSURI(c.JWKSURI, p); err != nil {
			bad("jwks_uri", err.Error())
		}
	}
	return out
}

// checkJWKSURI: the server fetches it, so it is https (http only with
// insecure_dev), has no userinfo or fragment, and names a host the
// outbound guard lets through.
func checkJWKSURI(raw string, p Policy) error {
	if len(raw) > MaxJWKSURILen {
		return fmt.Errorf("must be at most %d characters", MaxJWKSURILen)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Scheme != "https" && !(u.Scheme == "http" && p.InsecureDev) {
		return fmt.Errorf("%q must be an absolute https URL", raw)
	}
	if u.User != nil || u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("%q must have neither userinfo nor a fragment", raw)
	}
	var refused *outbound.RefusedError
	if errors.As(p.outbound().CheckHost(u.Hostname()), &refused) {
		return fmt.Errorf("%q points at %s (%s): the server fetches nothing from internal destinations unless %s lists them",
			raw, refused.Destination, refused.Why, config.OutboundAllowSetting)
	}
	return nil
}

// Bounds of introspection_audiences: each client record is read on every
// introspection request, and the list is compared with every token's aud.
const (
	MaxIntrospectionAudiences   = 16
	MaxIntrospectionAudienceLen = 512
)

// introspectionAudienceProblems checks the audiences a client may
// introspect for: only a confidential client can introspect at all, and
// each value is an audience the server issues (tokens.audience) or a
// resource identifier a later registration can issue for (RFC 8707 §2:
// an absolute URI without fragment; https, as a token for it is sent
// there).
func introspectionAudienceProblems(c *storage.Client, p Policy) []string {
	auds := c.IntrospectionAudiences
	if len(auds) == 0 {
		return nil
	}
	if c.Public {
		return []string{"a public client cannot introspect tokens (it has no secret to authenticate with)"}
	}
	if len(auds) > MaxIntrospectionAudiences {
		return []string{fmt.Sprintf("must list at most %d audiences", MaxIntrospectionAudiences)}
	}
	var problems []string
	for i, aud := range auds {
		switch {
		case len(aud) > MaxIntrospectionAudienceLen:
			problems = append(problems, fmt.Sprintf("%.40q...: must be at most %d characters", aud, MaxIntrospectionAudienceLen))
		case slices.Contains(auds[:i], aud):
			problems = append(problems, fmt.Sprintf("%q is listed twice", aud))
		case slices.Contains(p.Audiences, aud):
		default:
			err := checkResourceURI(aud, p.InsecureDev)
			switch {
			case errors.Is(err, errNotHTTPSURI):
				problems = append(problems, fmt.Sprintf("%q must be the server's access-token audience (tokens.audience) or an absolute https URI", aud))
			case err != nil:
				problems = append(problems, err.Error())
			}
		}
	}
	return problems
}

var errNotHTTPSURI = errors.New("must be an absolute https URI")

// checkResourceURI: a resource identifier (RFC 8707 §2) the server
// issues tokens for, other than its own, must be an absolute https URI
// (http on loopback, or anywhere with dev) without userinfo, query or
// fragment: tokens for it are sent there.
func checkResourceURI(raw string, dev bool) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("%q %w", raw, errNotHTTPSURI)
	}
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("%q must not have userinfo, a query or a fragment", raw)
	}
	if u.Scheme == "http" && !dev {
		return config.CheckHTTPS(u)
	}
	return nil
}

// checkRedirectURI applies RFC 6749 §3.1.2 and the HTTPS posture of
// DESIGN.md §8 to one redirect URI.
func checkRedirectURI(raw string, dev bool) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return fmt.Errorf("%q must be an absolute URI", raw)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("%q must not have a fragment", raw)
	}
	switch u.Scheme {
	case "https":
		if u.Host == "" {
			return fmt.Errorf("%q has no host", raw)
		}
	case "http":
		if u.Host == "" {
			return fmt.Errorf("%q has no host", raw)
		}
		if !dev {
			if err := config.CheckHTTPS(u); err != nil {
				return err
			}
		}
	default:
		// RFC 8252 §7.1: native apps use a private-use scheme based on a
		// reverse domain name; demanding the dot keeps out javascript:,
		// data: and the like.
		if !strings.Contains(u.Scheme, ".") {
			return fmt.Errorf("%q must be https, http on loopback, or a reverse-domain private-use scheme", raw)
		}
	}
	return nil
}

// checkBackchannelLogoutURI: an absolute https URI (http on loopback, or
// anywhere with dev) without a fragment (OIDC Back-Channel Logout 1.0
// §2.2). The server POSTs logout tokens there itself, so no private-use
// scheme, and no internal host that the outbound guard would refuse: the
// guard refuses it again when connecting, where a name that resolves to
// an internal address is caught too, but a plain mistake is best told now.
func checkBackchannelLogoutURI(raw string, p Policy) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("%q must be an absolute https URI", raw)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("%q must not have a fragment", raw)
	}
	if u.Scheme == "http" && !p.InsecureDev {
		if err := config.CheckHTTPS(u); err != nil {
			return err
		}
	}
	var refused *outbound.RefusedError
	if errors.As(p.outbound().CheckHost(u.Hostname()), &refused) {
		return fmt.Errorf("%q points at %s (%s): the server sends nothing to internal destinations unless %s lists them (or insecure_dev is on, for development only)",
			raw, refused.Destination, refused.Why, config.OutboundAllowSetting)
	}
	return nil
}

// MaxClientURILen bounds client_uri: it is rendered into every login page
// of the client.
const MaxClientURILen = 2048

// checkClientURI: the client's home page is shown to users as a link, so
// it must be a web page (https, or http on loopback or with dev) with no
// userinfo to disguise the host and no fragment.
func checkClientURI(raw string, dev bool) error {
	if len(raw) > MaxClientURILen {
		return fmt.Errorf("must be at most %d characters", MaxClientURILen)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("%q must be an absolute https URL", raw)
	}
	if u.User != nil {
		return fmt.Errorf("%q must not have userinfo", raw)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("%q must not have a fragment", raw)
	}
	if u.Scheme == "http" && !dev {
		return config.CheckHTTPS(u)
	}
	return nil
}

// FieldError is one registration problem: which record (Subject, e.g.
// `client "web"`; empty for a bare password), which field, and what is
// wrong. The admin API reports Field and Detail separately.
type FieldError struct {
	Subject string
	Field   string
	Detail  string
}

func (e *FieldError) Error() string {
	if e.Subject == "" {
		return "account: " + e.Field + ": " + e.Detail
	}
	return "account: " + e.Subject + ": " + e.Field + ": " + e.Detail
}

// ValidateUser checks a user's username, roles and contact fields; the
// password is checked by CheckNewPassword before it is hashed.
func ValidateUser(u *storage.User) []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Subject: fmt.Sprintf("user %q", u.Username), Field: field, Detail: fmt.Sprintf(format, args...)})
	}
	if !usernamePattern.MatchString(u.Username) {
		bad("username", "must be 1-128 printable characters without spaces")
	}
	for i, r := range u.Roles {
		switch {
		case !rolePattern.MatchString(r):
			bad("roles", "%q must be lower-case letters, digits, _ : or -", r)
		case slices.Contains(u.Roles[:i], r):
			bad("roles", "%q is listed twice", r)
		}
	}
	if u.Email != "" && !strings.Contains(u.Email, "@") {
		bad("email", "%q is not an email address", u.Email)
	}
	if u.EmailVerified && u.Email == "" {
		bad("email_verified", "needs an email")
	}
	return errs
}
