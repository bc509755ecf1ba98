// Package storagetest is the conformance suite every storage topology
// runs (standalone Redis, Redis Cluster, the embedded server): one
// contract, one suite, each test on its own key prefix.
//
// It proves the properties the protocol relies on: single-use codes
// under concurrency (RFC 6749 §4.1.2, §10.5), refresh-token rotation with
// reuse detection and family revocation (RFC 9700 §4.14.2), absolute and
// sliding expiry, and the access-token deny list with its pub/sub feed.
package storagetest
