// Package oauth is the authorization server's protocol core: client
// authentication, the authorization endpoint, the grants and the token,
// revocation, introspection and userinfo endpoints, and the discovery
// metadata. The pages a user sees (login, consent) are package web's.
//
// It implements RFC 6749 §2.3 (client authentication), §3.1 and
// §4.1.1–4.1.2 (authorization endpoint: untrusted client or redirect URI
// gets an error page, anything later a redirect), §3.2–3.3 (token
// endpoint, scope), §4.1.3 (code redemption), §4.3 (password, first-party
// clients only), §4.4 (client credentials), §5 (responses and errors), §6
// (refresh, with rotation and reuse detection per RFC 9700 §4.14.2);
// RFC 7636 (PKCE, S256 only); RFC 7009 (revocation); RFC 7662
// (introspection) and RFC 9701 (its answer signed, on request); RFC 8414
// and OIDC Discovery (metadata); RFC 9728 (resource_metadata.go: the
// built-in resources' metadata, protected_resources); RFC 9207 (iss
// in the authorization response); OIDC Core §3.1.2 (authentication
// request: prompt, max_age, nonce, id_token_hint), §3.1.3.3 (id_token in the token
// response) and §5.3 (userinfo); RFC 9449 at the token endpoint (dpop.go:
// proofs checked by package dpop before any grant runs, cnf.jkt and
// token_type DPoP, public clients' refresh families bound to the key,
// dpop_jkt §10, nonces §8, cnf in introspection §6.2); RFC 9126 (par.go:
// pushed authorization requests, single-use request_uri); RFC 8252 §8.6
// (a public client on a loopback, localhost or private-use redirect URI
// is asked for consent every time: authorize.go alwaysAsk); RFC 7523
// §2.2 and §3 with OIDC Core §9 (clientassertion.go: private_key_jwt
// client authentication, aud the issuer as one string per
// draft-ietf-oauth-rfc7523bis, each jti used once across instances); RFC
// 8628 (device.go, flow_device.go, authorize_device.go: the device
// authorization endpoint, the device code grant's polls with
// slow_down, and the person's answer through the authorization
// endpoint's own consent rules); RFC
// 7591 and RFC 7592 (register.go: dynamic client registration, off
// unless registration.mode says otherwise, and each registration managed
// with its registration access token). Beyond the
// RFCs, feed.go serves the revocation feed that resource servers outside
// oauth2d long-poll (oauth2d_revocation_feed_endpoint in the metadata).
// challenge.go serves the Authorization Challenge Endpoint of
// draft-ietf-oauth-first-party-apps-04: first-party apps sign users in
// without a browser, a second factor through auth_session, and redeem the
// code with the code grant.
//
// go-oauth2/oauth2/v4 supplies the grant-type and PKCE-method names and the
// RFC 6749 error codes. Its server.Server is not used: its token flow
// checks the password before the client, loads a refresh token several
// times outside any transaction, never binds refresh tokens to clients and
// answers with statuses off RFC 6749 §5.2 (DESIGN.md §3). Replacing it was
// smaller than wrapping every one of those paths.
package oauth
