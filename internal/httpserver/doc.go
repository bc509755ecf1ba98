// Package httpserver is oauth2d's HTTP shell: the gin engine with its
// middleware (panic recovery, request ids, access log, metrics, body
// limit), the health endpoints, Prometheus metrics on /metrics, one route
// table into which the oauth, web, resource and admin packages register
// their routes, and graceful shutdown.
//
// It implements no protocol itself; it gives every response a request id
// (X-Request-Id) so that error bodies stay fixed and safe (RFC 6749 §5.2
// carries only error, error_description and error_uri) while the log still
// ties a failure to its request.
package httpserver
