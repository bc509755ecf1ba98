// Package token issues and verifies oauth2d's JWTs and manages the keys
// that sign them. It knows nothing of HTTP.
//
// What it implements:
//   - RFC 7515/7518 JWS with ES256 (default), RS256, PS256 and EdDSA
//     (Ed25519, RFC 8037); keys are parsed once and never per token.
//   - RFC 7517 JWK Set: KeySet.JWKS is the body of /.well-known/jwks.json,
//     computed when the set changes, public members only, every key with
//     kid, alg and use "sig".
//   - RFC 7638 JWK thumbprints (computed by go-jose, as is the JWK
//     serialization): a key's kid is its SHA-256 thumbprint,
//     so it is derived from the key and identical on every instance.
//   - RFC 9068 access tokens (typ "at+jwt", claims iss sub aud exp iat nbf
//     jti client_id scope, plus roles and auth_time): Minter.MintAccess and
//     Verifier.VerifyAccess (§2.1, §2.2, §4).
//   - OpenID Connect Core 1.0 ID tokens (§2, §3.1.3.6 at_hash):
//     Minter.MintIDToken, RS256 unless configured otherwise.
//   - RFC 9701 signed introspection answers (typ "token-introspection+jwt",
//     signed with the ID token key): Minter.MintIntrospection.
//
// Key rotation without downtime: a KeySet holds keys in three states. A
// "next" key is published in the JWKS but does not sign; the "active" key
// signs; a "retired" key no longer signs and stays published until
// NotAfter, when the last token it signed has expired. Rotate promotes
// next to active, so resource servers that cache the JWKS already know the
// key before the first token it signs reaches them. Keys come from one of
// three sources: NewDevKeySet (ephemeral, generated at start), LoadDir (PEM
// files) or a storage.KeyStore (StoreSource, Rotate, EnsureKeys), where
// the private key is kept AES-256-GCM encrypted. EnsureKeys creates each
// algorithm's keys by one decision in the store, so instances that start
// together sign with keys that all of them publish.
package token
