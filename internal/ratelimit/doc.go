// Package ratelimit stops password guessing without locking owners out,
// as Keycloak's brute-force detection, Authelia's regulation and Auth0 do
// it: only failed password checks spend budget, a success spends nothing,
// and an attempt refused for a spent budget is not judged and spends
// nothing either (DESIGN.md §8).
//
// Three budgets are kept, each a GCRA (generic cell rate algorithm) in one
// Redis key under the storage prefix, changed by one script call so
// concurrent attempts cannot race past it: failures per (username, client
// address), the strict one; failures per client address, against password
// spraying; and failures per username from every address, a generous one
// against distributed guessing. An IPv6 client is counted by its /64.
// Usernames and addresses are hashed into the keys, so what a caller sends
// never becomes a key of its own length.
//
// The password grant (RFC 6749 §4.3, §10.10) and the login page both call
// Limiter.Guard, through account.Login.
package ratelimit
