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
// a strict Content-Security-Policy (no inline script or style, no script
// but the server's own passkey script on the pages that offer passkeys,
// frame-ancestors 'none'), X-Frame-Options DENY, Referrer-Policy
// no-referrer and Cache-Control no-store, and work without JavaScript
// (passkeys aside).
//
// Passkeys (WebAuthn Level 3, passkeys.go): registered on the account's
// security page, used alone on the login page (discoverable credentials,
// conditional mediation). A ceremony's state is sealed into its form like
// the login form's CSRF token; a ceremony that passes is remembered as
// used until it would have expired; a signature counter that does not
// move forward is refused. The session records what the sign-in proved
// (RFC 8176 amr).
//
// A user with a second factor is signed in only after it: a right
// password leads to a short session that is not signed in and to the
// second-factor page (secondfactor.go), which also steps a password-only
// session up when the authorization endpoint asks for more; the account
// page /account/security enrols and removes TOTP and renews recovery
// codes (security.go). See docs/second-factors.md.
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
