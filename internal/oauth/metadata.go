package oauth

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/clientkeys"
)

// Metadata is the authorization server metadata (RFC 8414 §2), which is
// also the OpenID Provider metadata (OIDC Discovery §3). It lists what the
// server does and nothing it does not: clients read endpoint paths from it.
type Metadata struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint,omitempty"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	UserinfoEndpoint                  string   `json:"userinfo_endpoint,omitempty"`
	RevocationEndpoint                string   `json:"revocation_endpoint"`
	IntrospectionEndpoint             string   `json:"introspection_endpoint"`
	EndSessionEndpoint                string   `json:"end_session_endpoint,omitempty"`
	ScopesSupported                   []string `json:"scopes_supported,omitempty"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	ResponseModesSupported            []string `json:"response_modes_supported,omitempty"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	RevocationAuthMethodsSupported    []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionAuthMethodsSupported []string `json:"introspection_endpoint_auth_methods_supported"`
	// RFC 8414 §2: the algorithms of private_key_jwt assertions, per
	// endpoint that takes them.
	TokenEndpointAuthSigningAlgs  []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	RevocationAuthSigningAlgs     []string `json:"revocation_endpoint_auth_signing_alg_values_supported"`
	IntrospectionAuthSigningAlgs  []string `json:"introspection_endpoint_auth_signing_alg_values_supported"`
	CodeChallengeMethodsSupported []string `json:"code_challenge_methods_supported"`
	ClaimsSupported               []string `json:"claims_supported,omitempty"`
	ACRValuesSupported            []string `json:"acr_values_supported,omitempty"`
	PromptValuesSupported         []string `json:"prompt_values_supported,omitempty"`
	AuthorizationResponseIssParam bool     `json:"authorization_response_iss_parameter_supported,omitempty"`
	// OIDC Back-Channel Logout 1.0 §2.1: logout tokens are sent, and
	// they and ID tokens carry sid.
	BackchannelLogoutSupported        bool     `json:"backchannel_logout_supported,omitempty"`
	BackchannelLogoutSessionSupported bool     `json:"backchannel_logout_session_supported,omitempty"`
	DPoPSigningAlgValuesSupported     []string `json:"dpop_signing_alg_values_supported,omitempty"`

	PushedAuthorizationRequestEndpoint string `json:"pushed_authorization_request_endpoint,omitempty"`
	// RegistrationEndpoint: dynamic client registration (RFC 7591 §3),
	// advertised only when it is served.
	RegistrationEndpoint string `json:"registration_endpoint,omitempty"`
	// RFC 8628 §4.
	DeviceAuthorizationEndpoint string `json:"device_authorization_endpoint,omitempty"`
	// AuthorizationChallengeEndpoint: draft-ietf-oauth-first-party-apps-04 §6.
	AuthorizationChallengeEndpoint     string `json:"authorization_challenge_endpoint,omitempty"`
	RequirePushedAuthorizationRequests bool   `json:"require_pushed_authorization_requests,omitempty"`

	// RFC 9701 §7: signed introspection answers, signed with this alg.
	IntrospectionSigningAlgValuesSupported []string `json:"introspection_signing_alg_values_supported"`
	// RFC 9728 §4: the resources that take this server's tokens.
	ProtectedResources []string `json:"protected_resources,omitempty"`

	// RevocationFeedEndpoint is oauth2d's own (the prefix keeps it apart
	// from registered names): the revocation feed resource servers follow.
	RevocationFeedEndpoint string `json:"oauth2d_revocation_feed_endpoint,omitempty"`

	// ClientIDMetadataDocumentSupported: https URLs are accepted as
	// client ids and their documents fetched
	// (draft-ietf-oauth-client-id-metadata-document-03 §5).
	ClientIDMetadataDocumentSupported bool `json:"client_id_metadata_document_supported,omitempty"`
}

// NewMetadata describes the token service at issuer. The authorize,
// userinfo and logout endpoints are added by the parts that serve them.
// idTokenAlg signs ID tokens and signed introspection answers alike
// (token.Minter).
func NewMetadata(issuer string, scopes []string, idTokenAlg string) *Metadata {
	return &Metadata{
		Issuer:                            issuer,
		TokenEndpoint:                     issuer + TokenPath,
		JWKSURI:                           issuer + JWKSPath,
		RevocationEndpoint:                issuer + RevocationPath,
		IntrospectionEndpoint:             issuer + IntrospectionPath,
		ScopesSupported:                   scopes,
		ResponseTypesSupported:            []string{"code"},
		GrantTypesSupported:               account.SupportedGrantTypes,
		SubjectTypesSupported:             []string{"public"},
		IDTokenSigningAlgValuesSupported:  []string{idTokenAlg},
		TokenEndpointAuthMethodsSupported: []string{authMethodBasic, authMethodPost, authMethodPrivateKeyJWT, authMethodNone},
		RevocationAuthMethodsSupported:    []string{authMethodBasic, authMethodPost, authMethodPrivateKeyJWT, authMethodNone},
		IntrospectionAuthMethodsSupported: []string{authMethodBasic, authMethodPost, authMethodPrivateKeyJWT},
		TokenEndpointAuthSigningAlgs:      clientkeys.AlgorithmNames(),
		RevocationAuthSigningAlgs:         clientkeys.AlgorithmNames(),
		IntrospectionAuthSigningAlgs:      clientkeys.AlgorithmNames(),
		CodeChallengeMethodsSupported:     []string{PKCEMethodS256},

		IntrospectionSigningAlgValuesSupported: []string{idTokenAlg},
	}
}

// AddBrowserFlow advertises what the Authorizer, Userinfo and the web
// package's RP-initiated logout at endSessionPath serve.
func (m *Metadata) AddBrowserFlow(endSessionPath string) {
	m.AuthorizationEndpoint = m.Issuer + AuthorizePath
	m.UserinfoEndpoint = m.Issuer + UserinfoPath
	m.EndSessionEndpoint = m.Issuer + endSessionPath
	m.ResponseModesSupported = []string{"query"}
	m.PromptValuesSupported = PromptValuesSupported
	m.AuthorizationResponseIssParam = true // RFC 9207
	m.ClaimsSupported = []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid", "acr", "amr",
		"preferred_username", "name", "email", "email_verified"}
	m.ACRValuesSupported = account.ACRValues()
}

// AddBackchannelLogout advertises OIDC Back-Channel Logout: call it when
// logout tokens are delivered (package backchannel's Sender runs).
func (m *Metadata) AddBackchannelLogout() {
	m.BackchannelLogoutSupported = true
	m.BackchannelLogoutSessionSupported = true
}

// AddRegistration advertises the registration endpoint (RFC 8414 §2):
// call it only when registration.mode is not off.
func (m *Metadata) AddRegistration() {
	m.RegistrationEndpoint = m.Issuer + RegistrationPath
}

// AddClientIDMetadata advertises Client ID Metadata Documents: call it
// when the client lookup resolves URL client ids (package clientmeta).
func (m *Metadata) AddClientIDMetadata() { m.ClientIDMetadataDocumentSupported = true }

// JWKSSource yields the current JSON Web Key Set document.
type JWKSSource interface {
	JWKS() []byte
}

// Discovery serves the metadata documents and the JWKS.
type Discovery struct {
	metadata []byte
	keys     JWKSSource
}

// NewDiscovery marshals md once; the JWKS body is the key set's own cached
// document, so neither is encoded per request.
func NewDiscovery(md *Metadata, keys JWKSSource) (*Discovery, error) {
	body, err := json.Marshal(md)
	if err != nil {
		return nil, fmt.Errorf("oauth: metadata: %w", err)
	}
	return &Discovery{metadata: body, keys: keys}, nil
}

// ServeMetadata answers both metadata paths (RFC 8414 §3, OpenID
// Connect Discovery §4) with the same document.
func (d *Discovery) ServeMetadata(c *gin.Context) {
	c.Header("Cache-Control", "public, max-age=3600")
	c.Data(http.StatusOK, "application/json", d.metadata)
}

// ServeJWKS answers the key set. The cache lifetime is short enough that a
// rotation's next key (published well ahead of its first use) reaches
// every cache before it signs.
func (d *Discovery) ServeJWKS(c *gin.Context) {
	c.Header("Cache-Control", "public, max-age=300")
	c.Data(http.StatusOK, "application/jwk-set+json", d.keys.JWKS())
}
