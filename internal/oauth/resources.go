package oauth

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/config"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// Resource indicators (RFC 8707). Every access token is for the
// registered resources it names in aud, and carries only scopes they
// define, so that a token for one API is refused by every other.

// ErrInvalidTarget: a resource indicator is malformed, unknown, or
// outside the grant (RFC 8707 §2).
var ErrInvalidTarget = &Error{Code: "invalid_target", Status: http.StatusBadRequest,
	Description: "the requested resource is invalid, unknown or not part of the grant"}

// ErrResourceNeedsDPoP: a resource asked for takes only DPoP-bound tokens
// and the request proved no key.
var ErrResourceNeedsDPoP = ErrInvalidRequest.WithDescription("a requested resource accepts only DPoP-bound tokens; send a DPoP proof")

// maxResources bounds the resource parameters of one request; each is
// also bounded by storage.MaxResourceIDLen.
const maxResources = 8

// isASScope: the scopes of the authorization server itself (sign-in, the
// UserInfo endpoint, refresh tokens) belong to no resource and ride with
// any of them.
func isASScope(s string) bool { return slices.Contains(account.ServerScopes, s) }

// parseResources reads the request's resource parameters (repeatable,
// RFC 8707 §2): each an absolute URI without fragment, none repeated.
func parseResources(vals []string) ([]string, *Error) {
	if len(vals) > maxResources {
		return nil, ErrInvalidTarget
	}
	var out []string
	for _, v := range vals {
		if len(v) > storage.MaxResourceIDLen || !config.IsResourceIndicator(v) || slices.Contains(out, v) {
			return nil, ErrInvalidTarget
		}
		out = append(out, v)
	}
	return out, nil
}

// ResourceList lists the stored resources: *storage.ResourceCache, or
// *storage.Store.
type ResourceList interface {
	ListResources(ctx context.Context) ([]*storage.Resource, error)
}

// Resources is the registry the issuance policy consults: the built-in
// resources of the configuration and the stored ones.
type Resources struct {
	builtin []*storage.Resource
	stored  ResourceList // nil: only the built-in ones
	// defaultID is the default resource: the one the scopes that no
	// resource defines go with.
	defaultID string
	// userinfo is the audience a token with openid also gets, so that the
	// UserInfo endpoint takes no token that was not issued for it.
	userinfo string
}

// NewResources returns the registry of builtin (the first is the default
// resource) and stored.
func NewResources(builtin []*storage.Resource, stored ResourceList, userinfo string) *Resources {
	r := &Resources{builtin: builtin, stored: stored, userinfo: userinfo}
	if len(builtin) > 0 {
		r.defaultID = builtin[0].ID
	}
	return r
}

// ResourceNames gives the display names of ids for the consent page: a
// resource's name, else its identifier. A registry Redis cannot answer
// gives the identifiers.
func (r *Resources) ResourceNames(ctx context.Context, ids []string) []string {
	reg, _ := r.snapshot(ctx)
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if res := reg.find(id); res != nil && res.Name != "" {
			out = append(out, res.Name)
		} else {
			out = append(out, id)
		}
	}
	return out
}

// snapshot is the registry as it stands for one request.
func (r *Resources) snapshot(ctx context.Context) (registry, error) {
	reg := registry{all: r.builtin, defaultID: r.defaultID, userinfo: r.userinfo}
	if r.stored == nil {
		return reg, nil
	}
	stored, err := r.stored.ListResources(ctx)
	if err != nil {
		return registry{}, err
	}
	if len(stored) > 0 {
		reg.all = append(slices.Clip(r.builtin), stored...)
	}
	return reg, nil
}

// registry is one request's view of the registered resources.
type registry struct {
	all       []*storage.Resource
	defaultID string
	userinfo  string
}

func (reg registry) find(id string) *storage.Resource {
	for _, r := range reg.all {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// assigned reports whether some registered resource defines scope.
func (reg registry) assigned(scope string) bool {
	return slices.ContainsFunc(reg.all, func(r *storage.Resource) bool { return r.Defines(scope) })
}

// carries reports whether a token for r may carry scope: r defines it,
// or r is the default resource and no resource defines it.
func (reg registry) carries(r *storage.Resource, scope string) bool {
	return r.Defines(scope) || r.ID == reg.defaultID && !reg.assigned(scope)
}

// carriedBy reports whether a token for any of res may carry scope.
// Without a registry (a handler built without one) every scope is.
func (reg registry) carriedBy(res []*storage.Resource, scope string) bool {
	return isASScope(scope) || len(reg.all) == 0 ||
		slices.ContainsFunc(res, func(r *storage.Resource) bool { return reg.carries(r, scope) })
}

// checkTarget is what can be judged of a request's resources from the
// request and the registry alone, before any grant is looked at: each is
// registered (invalid_target), and each scope asked for is defined by one
// of them (invalid_scope). The authorization endpoint and every grant
// call it, the refresh grant before it rotates.
func (reg registry) checkTarget(resources, scope []string) *Error {
	if len(resources) == 0 {
		return nil
	}
	res := make([]*storage.Resource, 0, len(resources))
	for _, id := range resources {
		r := reg.find(id)
		if r == nil {
			return ErrInvalidTarget
		}
		res = append(res, r)
	}
	for _, s := range scope {
		if !reg.carriedBy(res, s) {
			return ErrInvalidScope.WithDescription("a requested scope is not defined by the requested resources")
		}
	}
	return nil
}

// checkProof refuses a request that names, by resource or by scope, only
// resources taking DPoP-bound tokens, without proving a key.
func (reg registry) checkProof(resources, scope []string, proved bool) *Error {
	if proved {
		return nil
	}
	for _, id := range resources {
		if r := reg.find(id); r != nil && r.RequireDPoP {
			return ErrResourceNeedsDPoP
		}
	}
	for _, s := range scope {
		if isASScope(s) {
			continue
		}
		needs := true
		for _, r := range reg.all {
			if reg.carries(r, s) && !r.RequireDPoP {
				needs = false
				break
			}
		}
		if needs && reg.assigned(s) {
			return ErrResourceNeedsDPoP
		}
	}
	return nil
}

// reachable is the resources a grant can have tokens for now: those named
// (by the request, else by the grant) that are still registered, or every
// registered one when neither names any; without a proven key, none that
// takes only DPoP-bound tokens.
func (reg registry) reachable(named []string, restricted, proved bool) []*storage.Resource {
	var out []*storage.Resource
	add := func(r *storage.Resource) {
		if r != nil && (proved || !r.RequireDPoP) {
			out = append(out, r)
		}
	}
	if !restricted {
		for _, r := range reg.all {
			add(r)
		}
		return out
	}
	for _, id := range named {
		add(reg.find(id))
	}
	return out
}

// audience is the aud of a token carrying scope for res: the resources
// that carry one of its scopes (all of res when none does, or the default
// resource for a grant that names none), and the UserInfo endpoint with
// openid. The lifetime is the shortest any of them sets, within def.
func (reg registry) audience(res []*storage.Resource, scope []string, restricted bool, def time.Duration) ([]string, time.Duration) {
	var aud []string
	ttl := def
	use := func(r *storage.Resource) {
		aud = append(aud, r.ID)
		if r.AccessTokenTTL > 0 && r.AccessTokenTTL < ttl {
			ttl = r.AccessTokenTTL
		}
	}
	for _, r := range res {
		if slices.ContainsFunc(scope, func(s string) bool { return !isASScope(s) && reg.carries(r, s) }) {
			use(r)
		}
	}
	if len(aud) == 0 {
		switch {
		case restricted && len(res) > 0:
			for _, r := range res {
				use(r)
			}
		default:
			def := reg.find(reg.defaultID)
			if def == nil {
				return nil, ttl // no registry: the Minter's own audience
			}
			use(def)
		}
	}
	if reg.userinfo != "" && slices.Contains(scope, ScopeOpenID) {
		aud = append(aud, reg.userinfo)
	}
	return aud, ttl
}
