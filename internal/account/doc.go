// Package account holds the account rules that several handlers share, so
// that each rule is written once:
//   - Login, the one password check of the password grant (RFC 6749
//     §4.3) and the login page, with the brute-force budgets, constant in
//     cost whether or not the user exists;
//   - the registration policy, ValidateClient and ValidateUser, so the
//     bootstrap file, the CLI and the admin API refuse the same things:
//     grant types authorization_code, refresh_token, password and
//     client_credentials (no implicit grant, RFC 9700 §2.1.2); redirect URIs
//     absolute, without fragment (RFC 6749 §3.1.2), https, or http on a
//     loopback host (RFC 8252 §7.3), or a private-use scheme with a dot in it
//     (RFC 8252 §7.1), with insecure dev mode also allowing http elsewhere;
//     a public client has no secret and cannot use client_credentials (RFC
//     6749 §4.4); the password grant is for first-party clients only (RFC
//     9700 §2.4);
//   - ValidateResource, the same for resource servers (RFC 8707): the
//     identifier an absolute https URI (http on loopback, or in insecure
//     dev mode) without fragment, query or userinfo, not one of the
//     built-in resources (BuiltinResources); scopes RFC 6749 §3.3
//     scope-tokens other than the server's own (ServerScopes); a token
//     lifetime that may shorten tokens.access_ttl, never lengthen it;
//   - Revoker, which ends a session, a user's tokens or a client's tokens
//     (jti deny list, per-subject cutoffs, refresh-token families);
//   - second factors (secondfactor.go): TOTP (RFC 6238) enrolment and
//     checks, each code once and every wrong code spending Login's budgets,
//     recovery codes, and MFAPolicy, who must use one;
//   - the authentication methods (RFC 8176 amr) and the one mapping of
//     them to this server's acr values (acr.go, OIDC Core §2, RFC 9470);
//   - the names of grants, the admin scope and the admin role.
package account
