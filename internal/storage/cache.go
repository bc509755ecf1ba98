package storage

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// kClientChanges is the pub/sub channel on which every client write
// announces the client id, so that ClientCaches drop their copy.
func (s *Store) kClientChanges() string { return s.prefix + "client-changes" }

// announceClientChange tells every instance's ClientCache that id changed.
// A lost announcement (the publisher died between write and publish) is
// bounded by the cache's TTL.
func (s *Store) announceClientChange(ctx context.Context, id string) {
	if err := s.rdb.Publish(ctx, s.kClientChanges(), id).Err(); err != nil {
		s.log.Warn("storage: announce client change", "client_id", id, "err", err)
	}
}

// ClientCache answers GetClient from memory. Every token, revocation and
// introspection request starts with a client lookup, and one Redis round
// trip costs more CPU than the rest of a client_credentials grant but the
// signature. Entries are dropped the moment any instance announces a
// change (pub/sub), all of them after a resubscription (announcements made
// while disconnected are lost), and in any case after TTL.
type ClientCache struct {
	store *Store
	ttl   time.Duration
	now   func() time.Time
	max   int

	live atomic.Bool   // subscribed: until then every lookup goes to Redis
	gen  atomic.Uint64 // bumped by every invalidation, see GetClient

	mu      sync.RWMutex
	entries map[string]cachedClient
}

type cachedClient struct {
	client  *Client
	expires time.Time
}

var _ interface {
	GetClient(ctx context.Context, id string) (*Client, error)
} = (*ClientCache)(nil)

// NewClientCache returns a cache in front of s.GetClient. It serves from
// memory only while Run is subscribed.
func NewClientCache(s *Store, ttl time.Duration) *ClientCache {
	return &ClientCache{store: s, ttl: ttl, now: s.now, max: 10000, entries: make(map[string]cachedClient)}
}

// GetClient returns the client, from memory when a fresh copy is there.
// The returned client is shared: callers must not modify it.
func (c *ClientCache) GetClient(ctx context.Context, id string) (*Client, error) {
	if !c.live.Load() {
		return c.store.GetClient(ctx, id)
	}
	c.mu.RLock()
	e, ok := c.entries[id]
	c.mu.RUnlock()
	if ok && c.now().Before(e.expires) {
		return e.client, nil
	}
	// A change announced while this read is in flight may or may not be in
	// what it returns; the generation check keeps such a read out of the
	// cache, so a stale copy can never outlive its announcement.
	gen := c.gen.Load()
	client, err := c.store.GetClient(ctx, id)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.gen.Load() == gen && c.live.Load() {
		if len(c.entries) >= c.max {
			clear(c.entries)
		}
		c.entries[id] = cachedClient{client: client, expires: c.now().Add(c.ttl)}
	}
	c.mu.Unlock()
	return client, nil
}

func (c *ClientCache) invalidate(id string) {
	c.mu.Lock()
	c.gen.Add(1)
	if id == "" {
		clear(c.entries)
	} else {
		delete(c.entries, id)
	}
	c.mu.Unlock()
}

// Run subscribes to client changes and applies them until ctx ends. It
// returns an error only if the first subscription fails.
func (c *ClientCache) Run(ctx context.Context) error {
	// A resubscription means announcements may have been missed.
	changes, err := subscribe(ctx, c.store, c.store.kClientChanges(), func() { c.invalidate("") },
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
