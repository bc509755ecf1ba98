package account

import "github.com/oauth2d/oauth2d/internal/storage"

// ClientRegistration is what an operator declares about a client, in the
// bootstrap file (YAML) and the admin API (JSON) alike; ValidateClient
// checks its record. The secret is not part of it: the bootstrap file
// carries one beside it, the CLI and the admin API generate it.
type ClientRegistration struct {
	ID                     string   `json:"id" yaml:"id"`
	Name                   string   `json:"name,omitempty" yaml:"name"`
	Public                 bool     `json:"public" yaml:"public"`
	FirstParty             bool     `json:"first_party" yaml:"first_party"`
	RedirectURIs           []string `json:"redirect_uris" yaml:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris,omitempty" yaml:"post_logout_redirect_uris"`
	GrantTypes             []string `json:"grant_types" yaml:"grant_types"`
	Scopes                 []string `json:"scopes" yaml:"scopes"`
	// ClientURI is the client's home page (RFC 7591 §2): the login page
	// and the error page offer a link back to it.
	ClientURI string `json:"client_uri,omitempty" yaml:"client_uri"`
	// BackchannelLogoutURI receives a logout token whenever a session the
	// client signed in through ends (OIDC Back-Channel Logout 1.0 §2.2).
	BackchannelLogoutURI string `json:"backchannel_logout_uri,omitempty" yaml:"backchannel_logout_uri"`
	// BackchannelLogoutSessionRequired: every logout token must name the
	// session (sid); one naming only the user is not sent.
	BackchannelLogoutSessionRequired bool `json:"backchannel_logout_session_required,omitempty" yaml:"backchannel_logout_session_required"`

	// DPoPBoundAccessTokens makes the client prove a DPoP key at the
	// token endpoint (RFC 9449 §5.2), so none of its tokens is a bearer
	// token.
	DPoPBoundAccessTokens bool `json:"dpop_bound_access_tokens,omitempty" yaml:"dpop_bound_access_tokens"`
	// RequirePushedAuthorizationRequests makes the client push every
	// authorization request (RFC 9126 §6).
	RequirePushedAuthorizationRequests bool `json:"require_pushed_authorization_requests,omitempty" yaml:"require_pushed_authorization_requests"`
	// RequireMFA makes the client's authorization requests need a
	// session signed in with a second factor (ACRMFA): a person signed in
	// with a password alone proves one first (step-up), or enrols one.
	RequireMFA bool `json:"require_mfa,omitempty" yaml:"require_mfa"`
	// IntrospectionAudiences makes the client a resource server at the
	// introspection endpoint: it gets an active answer for any access
	// token whose aud names one of these, not only for its own tokens
	// (RFC 7662 §4). Refresh tokens stay their own client's business.
	IntrospectionAudiences []string `json:"introspection_audiences,omitempty" yaml:"introspection_audiences"`

	// InsecureSkipConsentForNativeRedirects: a public client is asked for
	// consent on every authorization request whose redirect URI is not
	// https (loopback, localhost, a private-use scheme), first party or
	// remembered consent notwithstanding, because another app on the same
	// device can receive such a redirect and pass for this one (RFC 8252
	// §8.6). true restores skipping the page, and with it lets any local
	// app obtain the person's tokens silently (prompt=none) once they
	// consented. Public clients only.
	InsecureSkipConsentForNativeRedirects bool `json:"insecure_skip_consent_for_native_redirects,omitempty" yaml:"insecure_skip_consent_for_native_redirects"`
}

// Record is the client as stored, without a secret hash or timestamps.
func (r *ClientRegistration) Record() *storage.Client {
	return &storage.Client{
		ID: r.ID, Name: r.Name, Public: r.Public, FirstParty: r.FirstParty,
		RedirectURIs: r.RedirectURIs, PostLogoutRedirectURIs: r.PostLogoutRedirectURIs,
		GrantTypes: r.GrantTypes, Scopes: r.Scopes, ClientURI: r.ClientURI,
		BackchannelLogoutURI: r.BackchannelLogoutURI, BackchannelLogoutSessionRequired: r.BackchannelLogoutSessionRequired,
		DPoPBoundAccessTokens: r.DPoPBoundAccessTokens, RequirePushedAuthorizationRequests: r.RequirePushedAuthorizationRequests,
		IntrospectionAudiences:                r.IntrospectionAudiences,
		InsecureSkipConsentForNativeRedirects: r.InsecureSkipConsentForNativeRedirects,
		RequireMFA:                            r.RequireMFA,
	}
}

// RegistrationOf is the registration of a stored client, for views that
// must not show its secret hash.
func RegistrationOf(c *storage.Client) ClientRegistration {
	return ClientRegistration{
		ID: c.ID, Name: c.Name, Public: c.Public, FirstParty: c.FirstParty,
		RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
		GrantTypes: c.GrantTypes, Scopes: c.Scopes, ClientURI: c.ClientURI,
		BackchannelLogoutURI: c.BackchannelLogoutURI, BackchannelLogoutSessionRequired: c.BackchannelLogoutSessionRequired,
		DPoPBoundAccessTokens: c.DPoPBoundAccessTokens, RequirePushedAuthorizationRequests: c.RequirePushedAuthorizationRequests,
		IntrospectionAudiences:                c.IntrospectionAudiences,
		InsecureSkipConsentForNativeRedirects: c.InsecureSkipConsentForNativeRedirects,
		RequireMFA:                            c.RequireMFA,
	}
}
