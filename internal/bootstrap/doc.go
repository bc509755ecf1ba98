// Package bootstrap declares clients and users in a YAML file and upserts
// them into storage at start-up, idempotently: a secret or password given
// in clear is hashed before it is stored, and an unchanged one keeps its
// stored hash; a user keeps its ID (the `sub`) across runs.
//
// The registration policy lives here once, in ValidateClient and
// ValidateUser, so the bootstrap file, the CLI and the admin API refuse the
// same things:
//   - grant types: authorization_code, refresh_token, password and
//     client_credentials (the implicit grant is not offered, RFC 9700 §2.1.2);
//   - redirect URIs are absolute, without fragment (RFC 6749 §3.1.2), https,
//     or http on a loopback host (RFC 8252 §7.3), or a private-use scheme
//     with a dot in it (RFC 8252 §7.1); dev mode also allows http elsewhere;
//   - a public client has no secret and cannot use client_credentials
//     (RFC 6749 §4.4: confidential clients only); a confidential one has one;
//   - the password grant is for first-party clients only, public or
//     confidential (RFC 9700 §2.4 forbids it to third parties).
package bootstrap
