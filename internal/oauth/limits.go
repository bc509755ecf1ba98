package oauth

import (
	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/clientmeta"
)

// Limits on what a caller sends, checked before any lookup, hash or
// signature (issue: linear work, bounded input). Each is far above what a
// real client sends and well below what makes a request costly. A value
// over its limit is refused like any other malformed value: 400
// invalid_request, invalid_scope for scopes, invalid_client for client
// credentials, or the error page while the client is not yet trusted.
const (
	// maxScopeLen and maxScopes bound a scope parameter (RFC 6749 §3.3):
	// its length and its number of tokens. A client is registered for a
	// handful of scopes, so no valid request comes near.
	maxScopeLen = 2048
	maxScopes   = 64
	// maxClientIDLen is the longest client id the registration policy
	// allows, or a client ID metadata document's URL; a longer one names
	// no client and is not looked up.
	maxClientIDLen = max(account.MaxClientIDLen, clientmeta.MaxURLLen)
	// maxClientSecretLen bounds the secret that is hashed.
	maxClientSecretLen = 1024
	// maxRedirectURILen bounds redirect_uri; a registered one is shorter.
	maxRedirectURILen = 2048
	// maxCodeLen bounds an authorization code at the token endpoint: ours
	// are 43 characters, so a longer one is unknown and is neither hashed
	// nor looked up in Redis.
	maxCodeLen = 256
	// maxAuthorizeQueryLen bounds the whole authorization request (query
	// string or form body) before it is parsed.
	maxAuthorizeQueryLen = 16 << 10
)
