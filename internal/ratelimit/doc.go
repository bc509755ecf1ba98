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
// An attempt holds a place in each budget while its password is checked.
// Places of attempts in flight make the next attempt wait for one of them
// to end, never refuse it: only failures that happened answer 429, so a
// backend signing many users in at once from one address is not
// throttled, while the failed checks within a window stay within the
// budget, with no allowance for attempts in flight. Waiting is bounded
// (WithMaxPending, WithMaxWait): past the bounds Guard answers ErrBusy,
// overload, which callers answer 503 with Retry-After.
//
// The password grant (RFC 6749 §4.3, §10.10) and the login page both call
// Limiter.Guard, through account.Login.
package ratelimit
