package storage

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"
)

// createClient: KEYS clients; ARGV id, json. HSETNX, except that a second
// delivery of the same call finds its own record and answers 'ok'.
var createClient = redis.NewScript(`
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old == ARGV[2] then return {'ok'} end
if old then return {'conflict'} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return {'ok'}
`)

// CreateClient stores c unless its id exists (ErrConflict). Zero
// CreatedAt/UpdatedAt are set to now.
func (s *Store) CreateClient(ctx context.Context, c *Client) error {
	if err := checkID("client id", c.ID); err != nil {
		return err
	}
	now := s.now().UTC()
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = now
	}
	raw, err := encode(c, "client")
	if err != nil {
		return err
	}
	_, status, err := s.runScript(ctx, createClient, []string{s.kClients()}, c.ID, raw)
	if err != nil {
		return err
	}
	if status != "ok" {
		return ErrConflict
	}
	s.announce(ctx, s.kClientChanges(), c.ID)
	return nil
}

// UpsertClient creates or replaces c. A zero CreatedAt keeps the stored
// one (so repeated bootstraps do not rewrite history); UpdatedAt is now.
func (s *Store) UpsertClient(ctx context.Context, c *Client) error {
	if err := checkID("client id", c.ID); err != nil {
		return err
	}
	now := s.now().UTC()
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
		if old, err := s.GetClient(ctx, c.ID); err == nil {
			c.CreatedAt = old.CreatedAt
		}
	}
	c.UpdatedAt = now
	raw, err := encode(c, "client")
	if err != nil {
		return err
	}
	if err := s.rdb.HSet(ctx, s.kClients(), c.ID, raw).Err(); err != nil {
		return fmt.Errorf("storage: upsert client: %w", err)
	}
	s.announce(ctx, s.kClientChanges(), c.ID)
	return nil
}

// GetClient returns the client or ErrNotFound.
func (s *Store) GetClient(ctx context.Context, id string) (*Client, error) {
	return hashGet[Client](ctx, s.rdb, s.kClients(), id, "client")
}

// ListClients returns every client sorted by id.
func (s *Store) ListClients(ctx context.Context) ([]*Client, error) {
	out, err := hashValues[Client](ctx, s.rdb, s.kClients(), "client")
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b *Client) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// DeleteClient removes the client (ErrNotFound if unknown). Tokens already
// issued to it are the caller's to revoke.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	if err := s.hashDel(ctx, s.kClients(), id, "client"); err != nil {
		return err
	}
	s.announce(ctx, s.kClientChanges(), id)
	return nil
}
