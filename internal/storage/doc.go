// Package storage is oauth2d's data layer on Redis (go-redis v9
// UniversalClient: standalone, Sentinel or Cluster, or an embedded
// in-process server for zero-setup runs).
//
// storage.go is the contract: record types, small role interfaces and
// sentinel errors. Every key starts with a configurable prefix; keys one
// atomic step touches share a hash tag so the Lua scripts run on Cluster.
// Secrets are never stored in clear: client secrets and passwords are
// hashed by package secret, codes and refresh tokens are stored under
// sha256. Single-use records (codes, refresh tokens) are consumed in one
// atomic step (RFC 6749 §4.1.2, §10.4; RFC 9700 §4.14.2).
package storage
