// Package api is the protected comments API of DESIGN.md §5 and §6, the
// classic resource-server case: GET /api/v1/me (scope profile), GET and
// POST /api/v1/comments (comments:read, comments:write; posting as another
// user needs role admin), DELETE /api/v1/comments/:id (the comment's user
// or an admin), and POST /api/v1/logout (ends the token and its grant).
//
// Its handlers run behind the bearer middleware of package resource (RFC
// 6750), which the route table puts in front of them; validation errors
// are RFC 9457 problem details (package problem).
package api
