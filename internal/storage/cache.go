package storage

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// announce tells every instance's cache on channel that id changed. A lost
// announcement (the publisher died between write and publish) is bounded
// by the caches' TTL.
func (s *Store) announce(ctx context.Context, channel, id string) {
	if err := s.rdb.Publish(ctx, channel, id).Err(); err != nil {
		s.log.WarnContext(ctx, "storage: announce change", "channel", channel, "id", id, "err", err)
	}
}

// ClientCache answers GetClient from memory. Every token, revocation and
// introspection request starts with a client lookup, and one Redis round
// trip costs more CPU than a client_credentials grant minus its signature.
type ClientCache struct{ cache[Client] }

// NewClientCache returns a cache in front of s.GetClient. It serves from
// memory only while Run is subscribed.
func NewClientCache(s *Store, ttl time.Duration) *ClientCache {
	return &ClientCache{newCache(s, s.kClientChanges(), ttl, s.GetClient)}
}

// GetClient returns the client, from memory when a fresh copy is there.
// The returned client is shared: callers must not modify it.
func (c *ClientCache) GetClient(ctx context.Context, id string) (*Client, error) {
	return c.get(ctx, id)
}

// UserCache answers GetUser (by id) from memory: the refresh grant looks
// up the family's user on every rotation, for its current roles and to
// end the family of a deleted user. Lookups by username (login) always
// go to Redis.
type UserCache struct{ cache[User] }

// NewUserCache returns a cache in front of s.GetUser. It serves from memory
// only while Run is subscribed.
func NewUserCache(s *Store, ttl time.Duration) *UserCache {
	return &UserCache{newCache(s, s.kUserChanges(), ttl, s.GetUser)}
}

// GetUser returns the user, from memory when a fresh copy is there. The
// returned user is shared: callers must not modify it.
func (c *UserCache) GetUser(ctx context.Context, id string) (*User, error) { return c.get(ctx, id) }

// cache holds records by id. Entries are dropped the moment any instance
// announces a change (pub/sub), all of them after a resubscription
// (announcements made while disconnected are lost), and in any case after
// the TTL. Misses (ErrNotFound) are not cached.
type cache[T any] struct {
	store   *Store
	channel string
	load    func(ctx context.Context, id string) (*T, error)
	ttl     time.Duration
	now     func() time.Time
	max     int

	live atomic.Bool   // subscribed: until then every lookup goes to Redis
	gen  atomic.Uint64 // bumped by every invalidation, see get

	mu      sync.RWMutex
	entries map[string]cached[T]
}

type cached[T any] struct {
	record  *T
	expires time.Time
}

func newCache[T any](s *Store, channel string, ttl time.Duration, load func(context.Context, string) (*T, error)) cache[T] {
	return cache[T]{store: s, channel: channel, load: load, ttl: ttl, now: s.now, max: 10000,
		entries: make(map[string]cached[T])}
}

func (c *cache[T]) get(ctx context.Context, id string) (*T, error) {
	if !c.live.Load() {
		return c.load(ctx, id)
	}
	c.mu.RLock()
	e, ok := c.entries[id]
	c.mu.RUnlock()
	if ok && c.now().Before(e.expires) {
		return e.record, nil
	}
	// A change announced while this read is in flight may or may not be in
	// what it returns; the generation check keeps such a read out of the
	// cache, so a stale copy can never outlive its announcement.
	gen := c.gen.Load()
	rec, err := c.load(ctx, id)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.gen.Load() == gen && c.live.Load() {
		if len(c.entries) >= c.max {
			clear(c.entries)
		}
		c.entries[id] = cached[T]{record: rec, expires: c.now().Add(c.ttl)}
	}
	c.mu.Unlock()
	return rec, nil
}

func (c *cache[T]) invalidate(id string) {
	c.mu.Lock()
	c.gen.Add(1)
	if id == "" {
		clear(c.entries)
	} else {
		delete(c.entries, id)
	}
	c.mu.Unlock()
}

// Run subscribes to the announcements and applies them until ctx ends. It
// returns an error only if the first subscription fails.
func (c *cache[T]) Run(ctx context.Context) error {
	// A resubscription means announcements may have been missed.
	changes, err := subscribe(ctx, c.store, c.channel, func() { c.invalidate("") },
		func(id string) (string, bool) { return id, id != "" })
	if err != nil {
		return err
	}
	c.live.Store(true)
	defer func() {
		c.live.Store(false)
		c.invalidate("")
	}()
	for id := range changes {
		c.invalidate(id)
	}
	return nil
}

// Clear drops every cached record, for when Redis lost its data: what is
// cached may name records that no longer exist or have been recreated
// under other ids.
func (c *cache[T]) Clear() { c.invalidate("") }
