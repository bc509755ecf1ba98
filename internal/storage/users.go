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

// Both user hashes share the {users} tag, so each script below changes
// the record and the username index together or not at all.

// createUser: KEYS byid, byname; ARGV id, username, json. A second
// delivery finds its own record (the same JSON) and answers 'ok'.
var createUser = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[3] then return {'ok'} end
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 or redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  return {'conflict'}
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
return {'ok'}
`)

// releaseName is the Lua helper of the scripts that drop a user's record
// or rename it: the username in record goes, but only while it still
// names user id, so that a name someone else holds now stays theirs.
const releaseName = `
local function release_name(id, record)
  local name = cjson.decode(record)['username']
  if redis.call('HGET', KEYS[2], name) == id then redis.call('HDEL', KEYS[2], name) end
end
`

// upsertUser: KEYS byid, byname; ARGV username, expected id (” = none),
// id, json. The caller read the username's id and built the record with
// it; if the index moved meanwhile the script asks for a retry. A new
// username for an existing id is a rename: the old name is released. A
// second delivery finds its own record (UpdatedAt makes each call's JSON
// its own) and answers 'ok'.
var upsertUser = redis.NewScript(releaseName + `
if redis.call('HGET', KEYS[1], ARGV[3]) == ARGV[4] then return {'ok'} end
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if (cur or '') ~= ARGV[2] then return {'retry'} end
if not cur then
  local old = redis.call('HGET', KEYS[1], ARGV[3])
  if old then release_name(ARGV[3], old) end
end
redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return {'ok'}
`)

// userByName: KEYS byid, byname; ARGV username.
var userByName = redis.NewScript(`
local id = redis.call('HGET', KEYS[2], ARGV[1])
if not id then return {'nf'} end
local u = redis.call('HGET', KEYS[1], id)
if not u then return {'nf'} end
return {'ok', u}
`)

// deleteUser: KEYS byid, byname, passkey handles, passkey ids, the
// user's passkeys; ARGV id.
var deleteUser = redis.NewScript(releaseName + dropPasskeys + `
local u = redis.call('HGET', KEYS[1], ARGV[1])
if not u then return {'nf'} end
redis.call('HDEL', KEYS[1], ARGV[1])
release_name(ARGV[1], u)
drop_passkeys()
return {'ok'}
`)

// updateUser: KEYS byid, byname; ARGV id, username, json. Replaces an
// existing user whose username is unchanged; never creates one.
var updateUser = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return {'nf'} end
if redis.call('HGET', KEYS[2], ARGV[2]) ~= ARGV[1] then return {'conflict'} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return {'ok'}
`)

func (s *Store) userKeys() []string { return []string{s.kUsersByID(), s.kUsersByName()} }

// prepareUser fills defaults and checks what the scripts rely on.
func (s *Store) prepareUser(u *User) error {
	if u.Username == "" {
		return errors.New("storage: empty username")
	}
	if u.ID == "" {
		u.ID = secret.NewToken(16)
	}
	if err := checkID("user id", u.ID); err != nil {
		return err
	}
	now := s.now().UTC()
	if u.CreatedAt.IsZero() {
		u.CreatedAt = now
	}
	if u.UpdatedAt.IsZero() {
		u.UpdatedAt = now
	}
	return nil
}

// CreateUser stores u; ErrConflict if the username (or id) is taken. An
// empty ID is filled with a random one.
func (s *Store) CreateUser(ctx context.Context, u *User) error {
	if err := s.prepareUser(u); err != nil {
		return err
	}
	status, err := s.writeUser(ctx, createUser, u, u.ID, u.Username)
	if err != nil {
		return err
	}
	if status == "conflict" {
		return ErrConflict
	}
	return nil
}

// writeUser runs a user script with args and u's JSON as its last
// argument, and announces u.ID to the caches when the script wrote it.
func (s *Store) writeUser(ctx context.Context, script *redis.Script, u *User, args ...any) (string, error) {
	raw, err := encode(u, "user")
	if err != nil {
		return "", err
	}
	_, status, err := s.runScript(ctx, script, s.userKeys(), append(args, raw)...)
	if err != nil {
		return "", err
	}
	if status == "ok" {
		s.announce(ctx, s.kUserChanges(), u.ID)
	}
	return status, nil
}

// UpsertUser creates u or replaces the user holding u.Username, keeping
// that user's ID and CreatedAt.
func (s *Store) UpsertUser(ctx context.Context, u *User) error {
	for range 10 {
		expected := ""
		old, err := s.GetUserByUsername(ctx, u.Username)
		switch {
		case err == nil:
			expected, u.ID, u.CreatedAt = old.ID, old.ID, old.CreatedAt
		case !errors.Is(err, ErrNotFound):
			return err
		}
		if err := s.prepareUser(u); err != nil {
			return err
		}
		u.UpdatedAt = s.now().UTC()
		status, err := s.writeUser(ctx, upsertUser, u, u.Username, expected, u.ID)
		if err != nil || status == "ok" {
			return err
		}
	}
	return errors.New("storage: upsert user: username index kept changing")
}

// UpdateUser replaces the stored user u.ID, keeping its username: unlike
// UpsertUser it never creates a user, so an update racing a delete cannot
// bring the user back. ErrNotFound if the user is gone, ErrConflict if
// u.Username is not the user's current username.
func (s *Store) UpdateUser(ctx context.Context, u *User) error {
	if err := s.prepareUser(u); err != nil {
		return err
	}
	u.UpdatedAt = s.now().UTC()
	status, err := s.writeUser(ctx, updateUser, u, u.ID, u.Username)
	switch {
	case err != nil:
		return err
	case status == "nf":
		return ErrNotFound
	case status == "conflict":
		return ErrConflict
	}
	return nil
}

// GetUser returns the user or ErrNotFound.
func (s *Store) GetUser(ctx context.Context, id string) (*User, error) {
	return hashGet[User](ctx, s.rdb, s.kUsersByID(), id, "user")
}

// GetUserByUsername returns the user or ErrNotFound (one round trip).
func (s *Store) GetUserByUsername(ctx context.Context, username string) (*User, error) {
	res, status, err := s.runScript(ctx, userByName, s.userKeys(), username)
	if err != nil {
		return nil, err
	}
	if status != "ok" {
		return nil, ErrNotFound
	}
	return decode[User](str(res, 1), "user")
}

// ListUsers returns every user sorted by username.
func (s *Store) ListUsers(ctx context.Context) ([]*User, error) {
	out, err := hashValues[User](ctx, s.rdb, s.kUsersByID(), "user")
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b *User) int { return strings.Compare(a.Username, b.Username) })
	return out, nil
}

// DeleteUser removes the user, its username and its passkeys in one
// script (ErrNotFound if unknown), then its remembered consents. Refresh families are the caller's to
// revoke (RevokeUserFamilies) so it can deny their access tokens.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	if err := checkID("user id", id); err != nil {
		return ErrNotFound
	}
	keys := append(s.userKeys(), s.kPasskeyHandles(), s.kPasskeyIDs(), s.kPasskeys(id))
	_, status, err := s.runScriptOnce(ctx, deleteUser, keys, id)
	if err != nil {
		return err
	}
	if status != "ok" {
		return ErrNotFound
	}
	s.announce(ctx, s.kUserChanges(), id)
	if err := s.rdb.Del(ctx, s.kConsents(id)).Err(); err != nil {
		return fmt.Errorf("storage: delete user consents: %w", err)
	}
	if err := s.rdb.Del(ctx, s.kUserClients(id)).Err(); err != nil {
		return fmt.Errorf("storage: delete user clients: %w", err)
	}
	if err := s.RemoveSecondFactors(ctx, id); err != nil {
		return err
	}
	return nil
}
