// Package web serves the authorization server's own pages: login, consent,
// sign-out (including OpenID Connect RP-Initiated Logout 1.0 at the
// end_session_endpoint) and the account page where a user sees and removes
// every application that holds access to their account: remembered
// consents and live refresh tokens alike (storage.GrantStore).
//
// Nothing is stored for a visitor nobody has signed in as (DESIGN.md §4):
// the login form's CSRF token is a sealed cookie (secret.Box, loginform.go)
// and the pending authorization request travels sealed in ?req=
// (oauth.PendingRequests).
//
// The browser session of a signed-in user lives in Redis behind an opaque
// cookie (HttpOnly,
// SameSite=Lax, Secure when the issuer is https, rotated at every login
// against session fixation) with idle and absolute lifetimes. Every form
// carries the session's CSRF token, compared in constant time. Pages send
// a strict Content-Security-Policy (no script, no inline style,
// frame-ancestors 'none'), X-Frame-Options DENY, Referrer-Policy
// no-referrer and Cache-Control no-store, and work without JavaScript.
//
// It implements the user-facing parts of RFC 6749 §4.1.1 (authenticating
// the resource owner and obtaining authorization), RFC 9700 §4.7 (CSRF)
// and §4.16 (clickjacking), OIDC Core §3.1.2.3–3.1.2.4, OIDC
// RP-Initiated Logout 1.0 §2–3, and RFC 8628 §3.3, §5.1 and §5.4 (the
// device pages: user code entry behind a budget of wrong codes, and a
// confirmation that names the application). The protocol side of the authorization
// endpoint is in package oauth; the two meet only through
// storage.AuthRequest records (sealed or stored, read through
// PendingRequests) and the paths they redirect to.
package web
