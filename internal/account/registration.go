package account

import (
	"bytes"
	"encoding/json"
	"errors"

	"gopkg.in/yaml.v3"

	"github.com/oauth2d/oauth2d/internal/storage"
)

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

	// TokenEndpointAuthMethod is how the client authenticates at the
	// token, PAR, revocation and introspection endpoints (RFC 7591 §2):
	// client_secret_basic or client_secret_post (either secret method is
	// accepted for both), private_key_jwt (RFC 7523 §2.2: a JWT signed
	// with one of the keys in jwks or at jwks_uri; no secret), or none
	// (public clients). Empty: none if public, else a secret.
	TokenEndpointAuthMethod string `json:"token_endpoint_auth_method,omitempty" yaml:"token_endpoint_auth_method"`
	// JWKS is a private_key_jwt client's public keys, a JWK Set given
	// inline; JWKSURI an https URL the server fetches it from (through
	// the outbound guard). One of the two, for private_key_jwt only.
	JWKS    JWKS   `json:"jwks,omitempty" yaml:"jwks"`
	JWKSURI string `json:"jwks_uri,omitempty" yaml:"jwks_uri"`
}

// JWKS is a JWK Set kept as its JSON text. In JSON it is the object
// itself; in YAML a mapping (or a string holding the JSON).
type JWKS string

// MarshalJSON writes the set as the object it is.
func (j JWKS) MarshalJSON() ([]byte, error) {
	if j == "" {
		return []byte("null"), nil
	}
	return []byte(j), nil
}

// UnmarshalJSON keeps the object, compacted; null is no set.
func (j *JWKS) UnmarshalJSON(raw []byte) error {
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		*j = ""
		return nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return err
	}
	*j = JWKS(buf.String())
	return nil
}

// UnmarshalYAML reads a mapping as the JSON object it stands for.
func (j *JWKS) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		var s string
		if err := n.Decode(&s); err != nil {
			return err
		}
		return j.UnmarshalJSON([]byte(s))
	}
	if n.Kind != yaml.MappingNode {
		return errors.New("jwks: must be a JWK Set (a mapping with a keys list)")
	}
	var v map[string]any
	if err := n.Decode(&v); err != nil {
		return err
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	*j = JWKS(raw)
	return nil
}

// MarshalYAML writes the set as a mapping.
func (j JWKS) MarshalYAML() (any, error) {
	if j == "" {
		return nil, nil
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(j), &v); err != nil {
		return nil, err
	}
	return v, nil
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
		TokenEndpointAuthMethod:               r.TokenEndpointAuthMethod, JWKS: string(r.JWKS), JWKSURI: r.JWKSURI,
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
		TokenEndpointAuthMethod:               c.TokenEndpointAuthMethod, JWKS: JWKS(c.JWKS), JWKSURI: c.JWKSURI,
	}
}
