// Package secret hashes and verifies client secrets and passwords, and
// makes the random tokens oauth2d hands out (authorization codes, refresh
// token secrets, CSRF tokens).
//
// Secrets are stored as argon2id PHC strings (RFC 9106) and compared in
// constant time; bcrypt hashes ($2a$, $2b$, $2y$) are accepted by Verify so
// that users imported from other systems can still log in, and NeedsRehash
// tells the caller when to upgrade them. Codes and refresh tokens are high
// entropy, so a fast SHA-256 is enough to keep them unusable at rest
// (RFC 6749 §10.3, §10.5; RFC 9700 §4.14).
package secret
