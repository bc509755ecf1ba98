// Package resource is oauth2d's one RFC 6750 and RFC 9449 §7
// implementation: the bearer- and DPoP-token middleware every protected route goes through (the comments
// API of package api, /admin/v1 of package admin, and /oauth2/userinfo of
// package oauth, which uses RequireScopesNow to check revocation in Redis
// on every call).
//
// What it implements:
//   - RFC 6750 §2.1: the access token comes only from the Authorization
//     header ("Bearer" scheme, case-insensitive). A token in the query
//     string (§2.3) or in a form body (§2.2) is refused with 400
//     invalid_request rather than ignored, so a client that leaks tokens
//     into URLs and logs finds out at once.
//   - RFC 6750 §3 and §3.1: a request without credentials gets 401 with
//     `WWW-Authenticate: Bearer realm="<issuer>"` and no error code; a bad,
//     expired or revoked token gets 401 error="invalid_token"; a malformed
//     request 400 error="invalid_request"; a missing scope 403
//     error="insufficient_scope" with scope="<the scopes required>".
//   - RFC 9449 §7 (dpop.go), when given a proof verifier: a DPoP-bound
//     token (cnf.jkt) is taken only as `Authorization: DPoP` with a proof
//     by its key for this request and token (ath), its jti spent once
//     across instances; a bound token sent as Bearer is refused even
//     without DPoP configured. DPoP challenges name the algorithms, and a
//     request without credentials is offered both schemes.
//   - RFC 9068 §4: tokens are checked by token.Verifier (pinned
//     algorithms, typ at+jwt, issuer, audience, expiry), so an ID token or
//     a token for another audience never passes.
//
// Verification is fast and still honours revocation. A verified token is
// cached (bounded, keyed by SHA-256 of the token, never served past its
// exp), so its signature is checked once per instance; the revocation
// state is consulted on every request, in memory: the jti deny list and
// the per-user and per-client cutoffs ("every token issued before T") are
// loaded from Redis at Start and kept current through Redis pub/sub, with
// a full resync after every reconnect and at a fixed interval. A token
// revoked on any instance, or at /oauth2/revoke, stops working on every
// instance within about a second, without a Redis round trip per request.
package resource
