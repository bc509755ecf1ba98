package storage

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// A Resource is a protected resource registered at the server (RFC 8707):
// an API whose identifier is the `aud` of the access tokens issued for it.
// Tokens for a resource carry only scopes it defines, so a token for one
// API is refused by every other.
type Resource struct {
	// ID is the resource indicator: an absolute URI without fragment
	// (RFC 8707 §2), at most MaxResourceIDLen bytes.
	ID string `json:"id"`
	// Name is shown on the consent page.
	Name string `json:"name,omitempty"`
	// Scopes are the scopes this resource defines.
	Scopes []string `json:"scopes"`
	// AccessTokenTTL, when set, shortens the lifetime of tokens for this
	// resource below tokens.access_ttl (never lengthens it: the deny list
	// keeps a revoked jti only as long as the longest token lives).
	AccessTokenTTL time.Duration `json:"access_token_ttl,omitempty"`
	// RequireDPoP: tokens for this resource are issued only bound to a
	// DPoP key (RFC 9449), and its protected routes take no bearer token.
	RequireDPoP bool `json:"require_dpop,omitempty"`
	// ManagedBy names who owns the record, as for clients: ManagedByBootstrap
	// for one the bootstrap file declares; empty for the admin API's own.
	ManagedBy string    `json:"managed_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// MaxResourceIDLen bounds a resource indicator: it is a hash field, an
// `aud` value in every token for it, and a form parameter.
const MaxResourceIDLen = 512

// Defines reports whether the resource defines scope.
func (r *Resource) Defines(scope string) bool { return slices.Contains(r.Scopes, scope) }

func checkResourceID(id string) error {
	if id == "" {
		return fmt.Errorf("storage: empty resource id")
	}
	if len(id) > MaxResourceIDLen {
		return fmt.Errorf("storage: resource id of %d bytes, longer than %d", len(id), MaxResourceIDLen)
	}
	return nil
}

// MaxResources bounds the registry: the whole of it is cached on every
// instance and consulted on every token request.
const MaxResources = 256

// createResource: KEYS resources; ARGV id, json, MaxResources. HSETNX
// within the bound, except that a second delivery of the same call finds
// its own record and answers 'ok'.
var createResource = redis.NewScript(`
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old == ARGV[2] then return {'ok'} end
if old then return {'conflict'} end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return {'full'} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return {'ok'}
`)

// putResource: KEYS resources; ARGV id, json, MaxResources. HSET of a
// whole record, within the bound when the id is new; a second delivery
// writes the same value.
var putResource = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then
  return {'full'}
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return {'ok'}
`)

// updateResource: KEYS resources; ARGV id, json. HSET over a stored
// record only, so that a change racing a delete does not bring the
// resource back; a second delivery writes the same value.
var updateResource = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return {'notfound'} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return {'ok'}
`)

// CreateResource stores r unless its id exists (ErrConflict) or the
// registry holds MaxResources already (ErrRegistryFull). Zero
// CreatedAt/UpdatedAt are set to now.
func (s *Store) CreateResource(ctx context.Context, r *Resource) error {
	if err := checkResourceID(r.ID); err != nil {
		return err
	}
	now := s.now().UTC()
	if r.CreatedAt.IsZero() {
		r.CreatedAt = now
	}
	if r.UpdatedAt.IsZero() {
		r.UpdatedAt = now
	}
	return s.writeResource(ctx, createResource, r, "create")
}

// UpsertResource creates or replaces r; a new id is refused with
// ErrRegistryFull once the registry holds MaxResources. A zero CreatedAt
// keeps the stored one; UpdatedAt is now.
func (s *Store) UpsertResource(ctx context.Context, r *Resource) error {
	if err := checkResourceID(r.ID); err != nil {
		return err
	}
	now := s.now().UTC()
	if r.CreatedAt.IsZero() {
		old, err := s.GetResource(ctx, r.ID)
		switch {
		case err == nil:
			r.CreatedAt = old.CreatedAt
		case err == ErrNotFound:
			r.CreatedAt = now
		default:
			return err
		}
	}
	r.UpdatedAt = now
	return s.writeResource(ctx, putResource, r, "put")
}

// UpdateResource replaces a stored resource, never creates one:
// ErrNotFound once it is deleted. A zero CreatedAt keeps the stored one;
// UpdatedAt is now.
func (s *Store) UpdateResource(ctx context.Context, r *Resource) error {
	if err := checkResourceID(r.ID); err != nil {
		return err
	}
	if r.CreatedAt.IsZero() {
		old, err := s.GetResource(ctx, r.ID)
		if err != nil {
			return err
		}
		r.CreatedAt = old.CreatedAt
	}
	r.UpdatedAt = s.now().UTC()
	return s.writeResource(ctx, updateResource, r, "update")
}

func (s *Store) writeResource(ctx context.Context, sc *redis.Script, r *Resource, action string) error {
	raw, err := encode(r, "resource")
	if err != nil {
		return err
	}
	_, status, err := s.runScript(ctx, sc, []string{s.kResources()}, r.ID, raw, MaxResources)
	switch {
	case err != nil:
		return fmt.Errorf("storage: %s resource: %w", action, err)
	case status == "conflict":
		return ErrConflict
	case status == "full":
		return ErrRegistryFull
	case status == "notfound":
		return ErrNotFound
	}
	s.announce(ctx, s.kResourceChanges(), allResources)
	return nil
}

// GetResource returns the resource or ErrNotFound. An id no resource
// could have is not looked up.
func (s *Store) GetResource(ctx context.Context, id string) (*Resource, error) {
	if checkResourceID(id) != nil {
		return nil, ErrNotFound
	}
	return hashGet[Resource](ctx, s.rdb, s.kResources(), id, "resource")
}

// ListResources returns every stored resource sorted by id.
func (s *Store) ListResources(ctx context.Context) ([]*Resource, error) {
	out, err := hashValues[Resource](ctx, s.rdb, s.kResources(), "resource")
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b *Resource) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// DeleteResource removes the resource (ErrNotFound if unknown). Tokens
// already issued for it keep their aud until they expire; grants that
// named it get no token for it any more.
func (s *Store) DeleteResource(ctx context.Context, id string) error {
	if checkResourceID(id) != nil {
		return ErrNotFound
	}
	if err := s.hashDel(ctx, s.kResources(), id, "resource"); err != nil {
		return err
	}
	s.announce(ctx, s.kResourceChanges(), allResources)
	return nil
}

// allResources is the one entry of the ResourceCache: the policy needs the
// whole registry (which resources define a scope), and it is small.
const allResources = "*"

// ResourceList is the stored registry as one cacheable value.
type ResourceList struct{ Items []*Resource }

// ResourceCache answers ListResources from memory: the issuance policy
// consults the registry on every token request.
type ResourceCache struct{ cache[ResourceList] }

// NewResourceCache returns a cache in front of s.ListResources. It serves
// from memory only while Run is subscribed.
func NewResourceCache(s *Store, ttl time.Duration) *ResourceCache {
	return &ResourceCache{newCache(s, s.kResourceChanges(), ttl, func(ctx context.Context, _ string) (*ResourceList, error) {
		items, err := s.ListResources(ctx)
		if err != nil {
			return nil, err
		}
		return &ResourceList{Items: items}, nil
	})}
}

// ListResources returns the stored resources, from memory when fresh. The
// result is shared: callers must not modify it.
func (c *ResourceCache) ListResources(ctx context.Context) ([]*Resource, error) {
	l, err := c.get(ctx, allResources)
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}
