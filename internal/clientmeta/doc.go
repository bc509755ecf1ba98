// Package clientmeta resolves Client ID Metadata Documents
// (draft-ietf-oauth-client-id-metadata-document-03, the latest revision
// as of this writing): a client_id that is an https URL names a JSON
// document of client metadata (RFC 7591 §2 names) that the client serves
// itself, so that it needs no registration here (§3, §4).
//
// Resolver is the client lookup of the request paths when
// client_id_metadata.enabled is on: it answers a URL client id from the
// document, anything else from the store. It fetches only through the
// outbound guard (no internal address unless outbound.allow_internal
// allows it, no redirect followed, no proxy), within a size and time
// limit, and accepts only an application/json answer whose client_id is
// the URL exactly (§4.1) and which asks for no shared secret (§4.2). The
// client it makes is public, third party and SelfRegistered; its scopes
// are the configured ones, narrowed by the document's scope.
//
// Where documents are kept: only in the memory of each instance, in a
// cache bounded in entries (each entry bounded by the document size
// limit), for as long as the document's Cache-Control max-age or Expires
// says, clamped to client_id_metadata.cache_min/cache_max (§4.3 lets the
// server cache; the clamp keeps a document from being fetched on every
// request or used for ever). Nothing about a client id is written to
// Redis: any anonymous browser can send any URL, and Redis must not grow
// with them. What Redis holds is the per-address budget of lookups that
// miss the cache (package ratelimit, one small expiring key per address),
// so that one address cannot make the server fetch without end, and
// concurrent lookups of one URL share one fetch (singleflight). A failed
// fetch is not cached: the next lookup tries again, within its budget.
//
// Grants record the client's generation; a document client's is derived
// from its URL, so its refresh families survive every re-fetch, while a
// changed document (a redirect URI removed, a scope dropped) applies from
// the next fetch on, and a document that is gone ends its client.
package clientmeta
