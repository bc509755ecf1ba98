// Package clientkeys holds the public keys a client authenticates with
// when it is registered for private_key_jwt (RFC 7523 §2.2, OpenID
// Connect Core §9): the rules a registered JWK Set must follow (ParseSet,
// used by registration and by the token endpoint alike) and the Fetcher
// that reads a client's jwks_uri through the outbound guard and caches
// what it read, with bounds.
//
// Only public asymmetric signing keys are accepted: RSA of 2048 to 8192
// bits, EC on P-256 or P-384, and Ed25519. A symmetric key ("oct") would
// make the "public" key a shared secret that anyone reading the
// registration could sign with, and a private part does not belong in a
// registration at all; both are refused rather than ignored.
package clientkeys
