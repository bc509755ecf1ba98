package account

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/oauth2d/oauth2d/internal/config"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// UserinfoPath is the UserInfo endpoint's path (OIDC Core §5.3). A token
// with openid also carries issuer + UserinfoPath as an audience, so no
// registered resource may take that identifier.
const UserinfoPath = "/oauth2/userinfo"

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

// ServerScopes are the scopes of the authorization server itself (OpenID
// Connect and refresh tokens): they belong to no resource.
var ServerScopes = []string{"openid", "profile", "email", "offline_access"}

// Bounds of a resource registration: its scopes are compared with every
// token request's, and its name is one line of the consent page.
const (
	MaxResourceScopes  = 64
	MaxResourceNameLen = MaxClientNameLen
)

// ResourceRegistration is what an operator declares about a resource
// server (RFC 8707), in the bootstrap file (YAML) and the admin API
// (JSON) alike; ValidateResource checks its record.
type ResourceRegistration struct {
	// ID is the resource indicator, the `aud` of its tokens.
	ID     string   `json:"id" yaml:"id"`
	Name   string   `json:"name,omitempty" yaml:"name"`
	Scopes []string `json:"scopes" yaml:"scopes"`
	// AccessTokenTTL shortens the lifetime of the tokens for this
	// resource below tokens.access_ttl; zero keeps it.
	AccessTokenTTL Duration `json:"access_token_ttl,omitempty" yaml:"access_token_ttl"`
	// RequireDPoP: tokens for it are issued only bound to a DPoP key.
	RequireDPoP bool `json:"require_dpop,omitempty" yaml:"require_dpop"`
}

// Record is the resource as stored, without owner or timestamps.
func (r *ResourceRegistration) Record() *storage.Resource {
	return &storage.Resource{ID: r.ID, Name: r.Name, Scopes: r.Scopes,
		AccessTokenTTL: time.Duration(r.AccessTokenTTL), RequireDPoP: r.RequireDPoP}
}

// ResourceRegistrationOf is the registration of a stored resource.
func ResourceRegistrationOf(r *storage.Resource) ResourceRegistration {
	return ResourceRegistration{ID: r.ID, Name: r.Name, Scopes: r.Scopes,
		AccessTokenTTL: Duration(r.AccessTokenTTL), RequireDPoP: r.RequireDPoP}
}

// Duration is a time.Duration written as Go writes one ("5m", "1h30m"),
// the same in the bootstrap file and the admin API's JSON.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string such as \"5m\"")
	}
	return d.parse(s)
}

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	return d.parse(s)
}

func (d *Duration) parse(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as \"5m\"", s)
	}
	*d = Duration(v)
	return nil
}

// ValidateResource checks a resource registration against oauth2d's
// policy and returns every problem, each naming the resource and the
// field. The identifier is a resource indicator (RFC 8707 §2) that tokens
// for it are sent to, so https (http on loopback, or with dev), and not
// one of the server's own (p.BuiltinResources); its scopes are RFC 6749
// §3.3 scope-tokens other than the server's own (ServerScopes).
func ValidateResource(r *storage.Resource, p Policy) []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Subject: fmt.Sprintf("resource %.80q", r.ID), Field: field, Detail: fmt.Sprintf(format, args...)})
	}
	switch {
	case len(r.ID) > storage.MaxResourceIDLen:
		bad("id", "must be at most %d characters", storage.MaxResourceIDLen)
	case !config.IsResourceIndicator(r.ID):
		bad("id", "%q must be an absolute URI without fragment (RFC 8707 §2)", r.ID)
	case p.BuiltinResource(r.ID) != nil:
		bad("id", "%q is a built-in resource of the server (tokens.audience, tokens.admin_audience)", r.ID)
	case p.Userinfo != "" && r.ID == p.Userinfo:
		bad("id", "%q is the server's UserInfo endpoint, the audience of its openid tokens", r.ID)
	default:
		if err := checkResourceURI(r.ID, p.InsecureDev); err != nil {
			bad("id", "%v", err)
		}
	}
	if problem := checkDisplayText(r.Name, MaxResourceNameLen); problem != "" {
		bad("name", "%s", problem)
	}
	if len(r.Scopes) > MaxResourceScopes {
		bad("scopes", "must list at most %d scopes", MaxResourceScopes)
	}
	for i, s := range r.Scopes {
		switch {
		case len(s) > MaxScopeNameLen || !scopePattern.MatchString(s):
			bad("scopes", "%.80q must be 1-%d characters of a scope token (RFC 6749 §3.3)", s, MaxScopeNameLen)
		case slices.Contains(ServerScopes, s):
			bad("scopes", "%q is a scope of the authorization server itself and belongs to no resource", s)
		case slices.Contains(r.Scopes[:i], s):
			bad("scopes", "%q is listed twice", s)
		}
	}
	if r.AccessTokenTTL < 0 || r.AccessTokenTTL > p.AccessTokenTTL {
		bad("access_token_ttl", "must be between 0 (tokens.access_ttl) and tokens.access_ttl (%s): it may shorten tokens, never lengthen them", p.AccessTokenTTL)
	}
	return errs
}
