// Package resource runs the built-in protected routes (the comments API
// of package api, /admin/v1 of package admin, and /oauth2/userinfo of
// package oauth) on the public resourceserver package, so that oauth2d
// and outside resource servers share one RFC 6750 / RFC 9449
// implementation. What it adds is what only an oauth2d instance has:
//
//   - tokens verified with the instance's own keys (token.Verifier), and
//     DPoP proofs whose replay records live in Redis;
//   - the revocation state (the jti deny list and the per-user and
//     per-client cutoffs) loaded from Redis at Load and kept current
//     through Redis pub/sub, with a full resync after every reconnect and
//     at a fixed interval; until it is loaded, protected routes answer
//     503. A revocation made on any instance stops its token on every
//     instance within about a second, with no Redis round trip per
//     request; RequireScopesNow (userinfo) also asks Redis on each call;
//   - gin glue with the routes' reasons to refuse (Reject).
package resource
