// Package audit records who did what to which account, client or token:
// sign-ins, consents, issued and revoked tokens, refresh-token reuse,
// back-channel logout deliveries and every admin change (API and CLI).
//
// There is one Event type with one documented schema (docs/operations.md, "Audit
// events") and one Emit. The Log an event goes to travels in the context:
// the route table attaches it, with the request id and client address,
// to every request, and the server to every worker, so a decision point
// needs one Emit line and no new dependency. Each event becomes a log
// line (message "audit", fields in the group "audit", for operators to
// route) and, when the stream is on, an entry of a Redis Stream capped
// with XADD MAXLEN ~. The stream write never holds up the request it
// records: Emit only queues it, one writer goroutine (Run) writes, and
// what does not fit in the queue, or reaches a Redis that fails, is
// dropped and counted (oauth2d_audit_events_dropped_total).
//
// Never in an event: passwords, secrets, token values. A token is named
// by its jti, a refresh-token family by its id.
package audit
