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

// newClientRecord checks a new client's id, sets its zero Generation and
// times, and encodes it.
func (s *Store) newClientRecord(c *Client) (string, error) {
	if err := checkID("client id", c.ID); err != nil {
		return "", err
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
	return encode(c, "client")
}

// CreateClient stores c unless its id exists (ErrConflict). Zero
// CreatedAt/UpdatedAt are set to now, and an empty Generation to a fresh
// one.
func (s *Store) CreateClient(ctx context.Context, c *Client) error {
	raw, err := s.newClientRecord(c)
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

// deleteClient: KEYS clients, self-registered; ARGV id. The record and
// its place among the self-registered go together.
var deleteClient = redis.NewScript(`
local n = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[1])
if n == 0 then return {'missing'} end
return {'ok'}
`)

// DeleteClient removes the client (ErrNotFound if unknown), and frees its
// place among the self-registered if it had one. Its grants die with the
// record: a client registered again under the id gets another
// Generation, which they do not match; their records go with their TTLs,
// and a consent when the user consents again. Access tokens already
// issued to it are the caller's to cut off (a client cutoff).
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	if err := checkID("client id", id); err != nil {
		return err
	}
	_, status, err := s.runScriptOnce(ctx, deleteClient, []string{s.kClients(), s.kSelfRegistered()}, id)
	if err != nil {
		return fmt.Errorf("storage: delete client: %w", err)
	}
	if status != "ok" {
		return ErrNotFound
	}
	s.announce(ctx, s.kClientChanges(), id)
	return nil
}

// createSelfRegistered: KEYS clients, self-registered; ARGV id, json,
// max. createClient, counted: the set of self-registered ids is the count,
// so a record deleted by any path (DeleteClient) frees its place. A
// second delivery of the same call finds its own record and answers 'ok'.
var createSelfRegistered = redis.NewScript(`
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old == ARGV[2] then return {'ok'} end
if old then return {'conflict'} end
if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[3]) then return {'full'} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
return {'ok'}
`)

// CreateSelfRegisteredClient is CreateClient for a client that registered
// itself (RFC 7591): at most max of them are stored (ErrTooManyClients).
func (s *Store) CreateSelfRegisteredClient(ctx context.Context, c *Client, max int) error {
	if !c.SelfRegistered {
		return errors.New("storage: create self-registered client: SelfRegistered is not set")
	}
	raw, err := s.newClientRecord(c)
	if err != nil {
		return err
	}
	_, status, err := s.runScriptAcked(ctx, createSelfRegistered, []string{s.kClients(), s.kSelfRegistered()}, c.ID, raw, max)
	if err != nil {
		return err
	}
	switch status {
	case "ok":
		s.announce(ctx, s.kClientChanges(), c.ID)
		return nil
	case "full":
		return ErrTooManyClients
	default:
		return ErrConflict
	}
}

// UpdateClient replaces the stored client c.ID, keeping its Generation
// and CreatedAt; UpdatedAt is now. It never creates: ErrNotFound when
// the id is not stored, also when a delete overtakes it.
func (s *Store) UpdateClient(ctx context.Context, c *Client) error {
	if err := checkID("client id", c.ID); err != nil {
		return err
	}
	now := s.now().UTC()
	for range maxUpsertAttempts {
		read, err := s.rdb.HGet(ctx, s.kClients(), c.ID).Result()
		if errors.Is(err, redis.Nil) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("storage: update client: %w", classify(err))
		}
		old, err := decode[Client](read, "client")
		if err != nil {
			return err
		}
		next := *c
		next.UpdatedAt, next.Generation, next.CreatedAt = now, old.Generation, old.CreatedAt
		raw, err := encode(&next, "client")
		if err != nil {
			return err
		}
		_, status, err := s.runScriptAcked(ctx, replaceClient, []string{s.kClients()}, c.ID, read, raw)
		if err != nil {
			return err
		}
		if status == "ok" {
			*c = next
			s.announce(ctx, s.kClientChanges(), c.ID)
			return nil
		}
	}
	return fmt.Errorf("storage: update client %q: it kept changing meanwhile", c.ID)
}

// SelfRegisteredClients counts the self-registered clients stored.
func (s *Store) SelfRegisteredClients(ctx context.Context) (int, error) {
	n, err := s.rdb.SCard(ctx, s.kSelfRegistered()).Result()
	if err != nil {
		return 0, fmt.Errorf("storage: count self-registered clients: %w", classify(err))
	}
	return int(n), nil
}
