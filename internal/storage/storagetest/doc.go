// Package storagetest is the conformance suite every storage topology
// runs (standalone Redis, Redis Cluster, the embedded server): one
// contract (storage.Storage), one suite, each test on its own key prefix.
//
// It proves the properties the protocol relies on: single-use codes
// under concurrency (RFC 6749 §4.1.2, §10.5), refresh-token rotation with
// reuse detection and family revocation (RFC 9700 §4.14.2), also past the
// cap of remembered hashes, absolute and sliding expiry, the access-token
// deny list and per-principal cutoffs with their pub/sub feeds, comment
// pagination, and that everything with a lifetime leaves Redis.
//
// It observes state only through the contract, as the server does; the
// few checks beneath it (keys left behind, killed connections) need a
// store that exposes its Redis and are skipped otherwise. Waits are
// orderings with generous deadlines, never margins on speed.
package storagetest
