// Package storage is oauth2d's data layer on Redis (go-redis v9
// UniversalClient: standalone, Sentinel or Cluster, or an embedded
// in-process server for zero-setup runs; see Options.URL).
//
// storage.go is the contract: record types, small role interfaces,
// Storage (all of them) and sentinel errors. *Store implements Storage;
// storagetest is the one conformance suite every topology runs against it.
//
// Every key starts with a configurable prefix; keys one atomic step
// touches share a hash tag so the Lua scripts run on Cluster (layout in
// keys.go). Nothing on a request path uses KEYS or SCAN; everything that
// expires has a Redis TTL, and expiry decisions inside scripts use the
// caller's clock passed as an argument (Options.Now), so a fake clock
// works while TTLs stay real.
//
// Secrets are never stored in clear: client secrets and passwords are
// hashed by package secret, codes and refresh tokens are stored under
// sha256. Single-use records are consumed in one atomic step: a code is
// redeemed by one script that also remembers the redemption so a replay
// names the tokens to revoke (RFC 6749 §4.1.2, §10.5); a refresh token is
// rotated by one script that detects reuse of any earlier token of the
// family and revokes the whole family (RFC 6749 §10.4, RFC 9700
// §4.14.2). Revoked access tokens (jti) are kept in a deny set until
// their exp and published on a channel so every instance learns of them
// (RFC 7009 §2.1); the scripts that deny a jti or set a cutoff also append
// it to a capped stream that resource servers elsewhere follow (feed.go).
package storage
