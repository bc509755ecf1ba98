package account

import (
	"github.com/oauth2d/oauth2d/internal/config"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// ManagedByBuiltin marks the resources oauth2d itself serves: they come
// from the configuration, not from Redis, and cannot be changed through
// the admin API or the CLI.
const ManagedByBuiltin = "builtin"

// Scopes the built-in resources define.
var (
	commentsScopes = []string{"comments:read", "comments:write", "comments:moderate"}
	adminScopes    = []string{"admin"}
)

// BuiltinResources are the resources the server serves itself, a fresh
// slice per call: the comments API (tokens.audience, whose first entry is
// the default resource) and the admin API (tokens.admin_audience). An
// alias of the comments API defines its scopes too.
func BuiltinResources(cfg *config.Config) []*storage.Resource {
	var out []*storage.Resource
	for _, id := range cfg.Tokens.Audience {
		out = append(out, &storage.Resource{ID: id, Name: "Comments", Scopes: commentsScopes, ManagedBy: ManagedByBuiltin})
	}
	return append(out, &storage.Resource{ID: cfg.Tokens.AdminAudience, Name: "Administration", Scopes: adminScopes, ManagedBy: ManagedByBuiltin})
}
