// Package problem writes RFC 9457 problem details
// (application/problem+json), the error shape of the JSON APIs that are not
// OAuth endpoints: the protected comments API and the admin API. It also
// decodes their JSON request bodies strictly (one object, no unknown
// members, no trailing data, bounded size), answering the request itself
// when the body is refused.
package problem
