// Package outbound is the one guard of the requests the server itself
// sends (DESIGN.md §8): back-channel logout POSTs today, and any later
// fetch of a client's document or keys. Such a request goes to a URL a
// client registration chose, so without a guard anyone who can register
// a client could make the server reach what only it can reach: Redis on
// loopback, a cloud metadata service at 169.254.169.254, an admin port on
// the private network (server-side request forgery, OWASP SSRF; RFC 9700
// §4.15 warns of the same for any URL an authorization server fetches).
//
// Guard.Client builds the *http.Client every outbound request uses. It
// checks each address when connecting, after DNS has answered (the
// dialer's Control function), so a host name that resolves, or later
// re-resolves, to an internal address is refused as a literal one is. It
// refuses loopback, private (RFC 1918, RFC 4193), link-local, multicast,
// unspecified, "this network" (0.0.0.0/8), shared (RFC 6598, carrier-grade
// NAT), benchmarking, reserved and site-local addresses, in IPv4-mapped,
// -translated and -embedding IPv6 forms too. It follows no redirect (a
// 3xx is the answer), uses no proxy (one would be the only address
// checked), and bounds the time of the whole request and the size of the
// answer's headers and body.
//
// A refusal wraps ErrRefused. The settings outbound.allow_internal (named
// addresses, prefixes and host names) and insecure_dev (everything) let
// requests reach internal destinations; Guard.CheckHost applies the same
// policy to a URL's host when a client is registered, so that a plain
// mistake is reported at once rather than at the first delivery.
package outbound
