// Package backchannel tells relying parties that a user's session has
// ended: OpenID Connect Back-Channel Logout 1.0.
//
// Logouts decides who must be told when a browser session ends (§2.3: the
// clients that were issued an ID token in it, remembered by sid), when a
// consent is withdrawn, or when an administrator signs a user out, and
// queues one delivery per client and session in Redis. Sender is the
// background worker that claims due deliveries, mints each logout token
// (§2.4, package token) and POSTs it as logout_token=… to the client's
// backchannel_logout_uri (§2.5), retrying with backoff for a bounded time.
// Every POST goes through the outbound guard (package outbound): a URI
// that leads to an internal address the configuration does not allow is
// refused when connecting and given up, and no redirect is followed.
// The queue is shared by every instance: a claim is a lease, so two
// instances never send the same delivery, and a delivery queued by an
// instance that stops is sent by another.
package backchannel
