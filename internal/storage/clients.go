package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/oauth2d/oauth2d/internal/secret"
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

// replaceClient: KEYS clients; ARGV id, the record read (empty: none),
// the new record. It writes only over the record the caller read, so
// that an UpsertClient that took the generation of a record deleted
// meanwhile cannot bring that generation back (it reads again); a second
// delivery of the same call finds its own record and answers 'ok'.
var replaceClient = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur == ARGV[3] then return {'ok'} end
if (cur or '') ~= ARGV[2] then return {'changed'} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return {'ok'}
`)

// maxUpsertAttempts bounds UpsertClient's re-reads when the record keeps
// changing under it (admin-scale writes: a second attempt is rare).
const maxUpsertAttempts = 5

// newGeneration is a fresh Client.Generation: 96 random bits.
func newGeneration() string { return secret.NewToken(12) }

// CreateClient stores c unless its id exists (ErrConflict). Zero
// CreatedAt/UpdatedAt are set to now, and an empty Generation to a fresh
// one.
func (s *Store) CreateClient(ctx context.Context, c *Client) error {
	if err := checkID("client id", c.ID); err != nil {
		return err
	}
	if c.Generation == "" {
		c.Generation = newGeneration()
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
	_, status, err := s.runScriptAcked(ctx, createClient, []string{s.kClients()}, c.ID, raw)
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
// The stored Generation is kept whatever c says (none for a record
// written before generations existed), and an id not stored gets a fresh
// one, so a client deleted and registered again never owns the grants of
// the one deleted.
func (s *Store) UpsertClient(ctx context.Context, c *Client) error {
	if err := checkID("client id", c.ID); err != nil {
		return err
	}
	now := s.now().UTC()
	for range maxUpsertAttempts {
		read, err := s.rdb.HGet(ctx, s.kClients(), c.ID).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return fmt.Errorf("storage: upsert client: %w", classify(err))
		}
		next := *c
		next.UpdatedAt = now
		next.Generation = newGeneration()
		if read != "" {
			old, err := decode[Client](read, "client")
			if err != nil {
				return err
			}
			next.Generation = old.Generation
			if next.CreatedAt.IsZero() {
				next.CreatedAt = old.CreatedAt
			}
		}
		if next.CreatedAt.IsZero() {
			next.CreatedAt = now
		}
		raw, err := encode(&next, "client")
		if err != nil {
			return err
		}
		_, status, err := s.runScript(ctx, replaceClient, []string{s.kClients()}, c.ID, read, raw)
		if err != nil {
			return err
		}
		if status == "ok" {
			*c = next
			s.announce(ctx, s.kClientChanges(), c.ID)
			return nil
		}
	}
	return fmt.Errorf("storage: upsert client %q: it kept changing meanwhile", c.ID)
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

// DeleteClient removes the client (ErrNotFound if unknown). Its grants
// die with the record: a client registered again under the id gets
// another Generation, which they do not match; their records go with
// their TTLs, and a consent when the user consents again. Access tokens
// already issued to it are the caller's to cut off (a client cutoff).
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	if err := s.hashDel(ctx, s.kClients(), id, "client"); err != nil {
		return err
	}
	s.announce(ctx, s.kClientChanges(), id)
	return nil
}
