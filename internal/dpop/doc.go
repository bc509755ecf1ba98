// Package dpop verifies DPoP proofs (RFC 9449), the signed JWTs with which
// a client proves, request by request, that it holds the private key an
// access or refresh token is bound to. It knows nothing of gin or of the
// token endpoint: package oauth binds tokens with what it returns, package
// resource checks bound tokens with it.
//
// What it implements:
//   - RFC 9449 §4.2 and §4.3, the proof and its checks: exactly one DPoP
//     header holding one compact JWS; typ dpop+jwt; an asymmetric alg from
//     a configured list (never none, never HS*); the public key in the jwk
//     header with no private members; a signature by that key; htm equal
//     to the request method; htu equal to the request URI without query
//     and fragment, both sides normalised per RFC 3986 §6.2.2 and §6.2.3
//     (case of scheme and host, default port, percent-encoding, dot
//     segments, empty path); iat inside a window; a jti accepted once; ath
//     (the token's SHA-256) on requests that carry an access token; and
//     the nonce when the server asks for one.
//   - RFC 9449 §6.1 and RFC 7638: the key's SHA-256 JWK thumbprint, the
//     value of cnf.jkt, computed by go-jose.
//   - RFC 9449 §8 and §9: server nonces that need no storage. A nonce is
//     a time step and an HMAC of it under a secret every instance shares;
//     one is valid during its own step and the next, so it rotates on its
//     own.
//   - RFC 9449 §11.1, replay: each (key, jti) pair is recorded in a
//     ReplayGuard, once, for no longer than the proof could still be
//     accepted. storage.Store implements it in Redis (SET NX with a TTL),
//     so a proof accepted on one instance is refused on every other.
package dpop
