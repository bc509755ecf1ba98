// Package resourceserver protects an HTTP API with access tokens issued
// by oauth2d (or any RFC 9068 issuer): net/http middleware, a gin adapter
// in package ginrs, and the pieces behind them. oauth2d's own APIs (the
// comments API, /admin/v1 and userinfo) run on it too.
//
// A Resource authenticates each request and answers failures the
// standard way:
//   - RFC 6750 §2.1: the token comes only from the Authorization header
//     ("Bearer", case-insensitive). One in the query string (§2.3) or a
//     form body (§2.2) is refused with 400 invalid_request rather than
//     ignored, so a client that leaks tokens into URLs finds out at once.
//   - RFC 6750 §3: no credentials → 401 `WWW-Authenticate: Bearer
//     realm="…"` without an error code; a bad, expired or revoked token →
//     401 invalid_token; a malformed request → 400 invalid_request; a
//     missing scope → 403 insufficient_scope with scope="…". Descriptions
//     are fixed text; the reason goes to the debug log.
//   - RFC 9068 §4, with a JWKSVerifier: keys from the issuer's JWKS (found
//     through its RFC 8414 metadata, refetched on an unknown kid at most
//     once per RefetchFloor, 10 s by default), allow-listed asymmetric
//     algorithms only, typ at+jwt (an ID token never passes), iss, aud
//     (this API's resource identifier, required), exp strictly, nbf and
//     iat with 30 s of skew, and sub, client_id and jti present.
//   - RFC 9449 §7, with a ProofVerifier: a DPoP-bound token (cnf.jkt) is
//     taken only as `Authorization: DPoP` with a proof by its key for this
//     request and token (ath), used once; a bound token sent as Bearer is
//     refused; server nonces when configured; RequireDPoP refuses bearer
//     tokens altogether.
//   - RFC 9470: ACR and MaxAge make a route ask for step-up
//     authentication (401 insufficient_user_authentication with
//     acr_values or max_age); a token that does not carry acr or
//     auth_time does not meet them.
//   - RFC 9728 §5.1: Config.ResourceMetadataURL is named as
//     resource_metadata in every 401 challenge.
//
// A verified token is cached (bounded, keyed by its SHA-256, never past
// its exp), so its signature is checked once per process; revocation is
// checked on every request, in memory. A FeedFollower keeps that state
// from oauth2d's revocation feed, without Redis: it long-polls the feed,
// so a revocation made anywhere reaches it within about a second, and
// when the feed has not answered for MaxStaleness the middleware answers
// 503 rather than accept a token that may have been revoked.
//
// Errors a caller branches on are ErrInvalidToken, ErrRevoked,
// ErrUnknownSubject, ErrUnavailable, ErrInvalidProof and ErrUseDPoPNonce.
package resourceserver
