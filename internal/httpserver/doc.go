// Package httpserver is oauth2d's HTTP shell: the gin engine with its
// middleware (panic recovery, request ids, access log, metrics, security
// headers with HSTS (RFC 6797) when the issuer is https, body limit), the
// health endpoints, Prometheus metrics on /metrics, the one
// route table (routes.go) that mounts the handlers of packages oauth, web,
// resource, api and admin, and graceful shutdown.
//
// It implements no protocol itself; it gives every response a request id
// (X-Request-Id) so that error bodies stay fixed and safe (RFC 6749 §5.2
// carries only error, error_description and error_uri) while the log still
// ties a failure to its request.
//
// The server answers errors in four shapes, each with fixed, safe
// descriptions (the detail goes to the log with the request id):
//   - OAuth JSON, {"error", "error_description"} per RFC 6749 §5.2, with
//     Cache-Control: no-store: the token, revocation and introspection
//     endpoints (package oauth), and a 401 with a Basic challenge when
//     client authentication fails;
//   - a Bearer challenge, WWW-Authenticate: Bearer realm="<issuer>" with
//     error="invalid_request|invalid_token|insufficient_scope" per RFC 6750
//     §3 and the same error as JSON: every route behind the bearer
//     middleware (package resource, on the public resourceserver):
//     /api/v1, /admin/v1, /oauth2/userinfo;
//   - problem+json (RFC 9457, package problem): request validation and
//     server errors of the JSON APIs, /api/v1 and /admin/v1;
//   - an HTML error page (package web): the pages and the authorization
//     endpoint when the client or redirect URI cannot be trusted; once
//     they can, the authorization endpoint redirects the error to the
//     client instead (RFC 6749 §4.1.2.1).
package httpserver
