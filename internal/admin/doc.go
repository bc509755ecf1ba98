// Package admin is oauth2d's administration API under /admin/v1: clients,
// users and resource servers (RFC 8707), list, get, create, update and
// delete, and revoking every token of a user. A resource is named in the
// path by its identifier, a URI, percent-encoded; the built-in resources
// (the comments API and this API) are listed but read-only.
//
// Authentication: a bearer access token with scope "admin", checked by the
// same resource.Authenticator as the protected API (RFC 6750), so an
// admin session is revocable and expires like any other token. The token
// endpoint grants "admin" to a user only when they hold role "admin"; a
// machine client gets it through client credentials only if it is
// registered with that scope. There is no separate static admin
// credential: one mechanism, one audit trail (sub and client_id of every
// call are logged).
//
// Input is validated by account.ValidateClient, ValidateResource,
// ValidateUser and CheckNewPassword, exactly as the bootstrap file and the CLI are.
// Problems are RFC 9457 application/problem+json listing every invalid
// field. Responses never carry a secret hash or a password hash; a client
// secret is generated server-side (256 bits) and shown once, in the
// response that created or rotated it (Cache-Control: no-store). A new
// user's password travels in the JSON request body, so the API must only
// be reached over TLS (the issuer is https outside loopback development).
package admin
