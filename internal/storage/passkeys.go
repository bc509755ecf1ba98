package storage

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth2d/oauth2d/internal/secret"
)

// Bounds of the passkey records.
const (
	// MaxPasskeys is how many passkeys one user may register.
	MaxPasskeys = 20
	// MaxPasskeyIDLen bounds a credential id (WebAuthn Level 3 §5.1:
	// at most 1023 bytes).
	MaxPasskeyIDLen = 1023
	// MaxPasskeyHandleLen bounds a user handle (WebAuthn §5.4.3: at most
	// 64 bytes).
	MaxPasskeyHandleLen = 64
	// MaxPasskeyNameLen bounds the name a user gives a passkey, in bytes.
	MaxPasskeyNameLen = 64
	// MaxCeremonyTTL bounds how long RecordCeremony remembers a used
	// challenge: ceremonies last minutes.
	MaxCeremonyTTL = time.Hour
)

// ErrPasskeysFull: the user holds MaxPasskeys passkeys already; nothing
// was written.
var ErrPasskeysFull = errors.New("storage: the user has the most passkeys allowed")

// Passkey is a WebAuthn credential record (WebAuthn Level 3 §4,
// "credential record") of one user.
type Passkey struct {
	ID        []byte `json:"id"` // credential id
	UserID    string `json:"user_id"`
	Name      string `json:"name"`
	PublicKey []byte `json:"public_key"` // COSE_Key
	SignCount uint32 `json:"sign_count"`
	// UserVerified is the record's uvInitialized; BackupEligible and
	// BackupState the BE and BS flags of the last ceremony.
	UserVerified      bool      `json:"uv,omitempty"`
	BackupEligible    bool      `json:"be,omitempty"`
	BackupState       bool      `json:"bs,omitempty"`
	Transports        []string  `json:"transports,omitempty"`
	AAGUID            []byte    `json:"aaguid,omitempty"`
	Attachment        string    `json:"attachment,omitempty"`
	AttestationType   string    `json:"attestation_type,omitempty"`
	AttestationFormat string    `json:"attestation_format,omitempty"`
	CreatedAt         time.Time `json:"created_at"`
	LastUsedAt        time.Time `json:"last_used_at,omitzero"`
}

// PasskeyStore keeps users' passkeys (package web, passkeys.go).
type PasskeyStore interface {
	// PasskeyHandle returns the user's WebAuthn user handle, or
	// ErrNotFound while they have registered none.
	PasskeyHandle(ctx context.Context, userID string) ([]byte, error)
	// PasskeyUser returns the id of the user whose handle this is, or
	// ErrNotFound.
	PasskeyUser(ctx context.Context, handle []byte) (string, error)
	// ListPasskeys returns the user's passkeys, oldest first.
	ListPasskeys(ctx context.Context, userID string) ([]*Passkey, error)
	// AddPasskey stores p for p.UserID under handle, which becomes the
	// user's handle if they have none. ErrNotFound if the user does not
	// exist, ErrConflict if the credential id is registered already (to
	// anyone) or handle is not the user's, ErrPasskeysFull.
	AddPasskey(ctx context.Context, handle []byte, p *Passkey) error
	// UpdatePasskey replaces old by p (same user and id) if the stored
	// record is still old; ErrConflict if it changed meanwhile (another
	// ceremony used it), ErrNotFound if it was removed.
	UpdatePasskey(ctx context.Context, old, p *Passkey) error
	// DeletePasskey removes one of the user's passkeys; ErrNotFound if
	// the user has no such passkey.
	DeletePasskey(ctx context.Context, userID string, id []byte) error
	// RecordCeremony remembers a ceremony's challenge as used for ttl
	// (at most MaxCeremonyTTL) and reports whether it was new: of
	// concurrent calls, exactly one sees true.
	RecordCeremony(ctx context.Context, challenge string, ttl time.Duration) (bool, error)
}

var _ PasskeyStore = (*Store)(nil)

// The passkey keys share the {users} tag, so that DeleteUser removes a
// user's passkeys, handle and credential ids in the script that removes
// the user, and AddPasskey adds none to a user being deleted.

// addPasskey: KEYS byid, handles, ids, passkeys; ARGV user id, handle,
// credential field, json, max. A second delivery finds its own record
// and answers 'ok'.
var addPasskey = redis.NewScript(`
local field = 'c:' .. ARGV[3]
if redis.call('HGET', KEYS[4], field) == ARGV[4] then return {'ok'} end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return {'nf'} end
if redis.call('HEXISTS', KEYS[3], ARGV[3]) == 1 then return {'conflict'} end
local h = redis.call('HGET', KEYS[4], 'handle')
if h and h ~= ARGV[2] then return {'conflict'} end
if not h and redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then return {'conflict'} end
if redis.call('HLEN', KEYS[4]) - 1 >= tonumber(ARGV[5]) then return {'full'} end
redis.call('HSET', KEYS[4], 'handle', ARGV[2], field, ARGV[4])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[3], ARGV[1])
return {'ok'}
`)

// updatePasskey: KEYS passkeys; ARGV credential field, old json, new
// json. A second delivery finds the new record and answers 'ok'.
var updatePasskey = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'c:' .. ARGV[1])
if cur == ARGV[3] then return {'ok'} end
if not cur then return {'nf'} end
if cur ~= ARGV[2] then return {'conflict'} end
redis.call('HSET', KEYS[1], 'c:' .. ARGV[1], ARGV[3])
return {'ok'}
`)

// deletePasskey: KEYS handles, ids, passkeys; ARGV credential field. The
// handle stays the user's: a passkey removed here may live on in the
// authenticator, and must find the same account if it is registered
// again.
var deletePasskey = redis.NewScript(`
if redis.call('HDEL', KEYS[3], 'c:' .. ARGV[1]) == 0 then return {'nf'} end
redis.call('HDEL', KEYS[2], ARGV[1])
return {'ok'}
`)

// dropPasskeys is the part of deleteUser (users.go) that removes the
// user's passkeys: KEYS[3] handles, KEYS[4] ids, KEYS[5] passkeys.
const dropPasskeys = `
local function drop_passkeys()
  local all = redis.call('HGETALL', KEYS[5])
  for i = 1, #all, 2 do
    local f = all[i]
    if f == 'handle' then redis.call('HDEL', KEYS[3], all[i + 1])
    elseif string.sub(f, 1, 2) == 'c:' then redis.call('HDEL', KEYS[4], string.sub(f, 3)) end
  end
  redis.call('DEL', KEYS[5])
end
`

// passkeyField names a credential id inside the passkey hashes: a hash,
// so its size does not depend on what an authenticator sent.
func passkeyField(id []byte) string { return secret.SHA256(string(id)) }

func encodeHandle(h []byte) string { return base64.RawURLEncoding.EncodeToString(h) }

func checkPasskeyUser(userID string) error { return checkID("user id", userID) }

// PasskeyHandle implements PasskeyStore.
func (s *Store) PasskeyHandle(ctx context.Context, userID string) ([]byte, error) {
	if err := checkPasskeyUser(userID); err != nil {
		return nil, err
	}
	raw, err := s.rdb.HGet(ctx, s.kPasskeys(userID), "handle").Result()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("storage: passkey handle: %w", classify(err))
	}
	return base64.RawURLEncoding.DecodeString(raw)
}

// PasskeyUser implements PasskeyStore.
func (s *Store) PasskeyUser(ctx context.Context, handle []byte) (string, error) {
	if len(handle) == 0 || len(handle) > MaxPasskeyHandleLen {
		return "", ErrNotFound
	}
	uid, err := s.rdb.HGet(ctx, s.kPasskeyHandles(), encodeHandle(handle)).Result()
	if errors.Is(err, redis.Nil) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("storage: passkey user: %w", classify(err))
	}
	return uid, nil
}

// ListPasskeys implements PasskeyStore.
func (s *Store) ListPasskeys(ctx context.Context, userID string) ([]*Passkey, error) {
	if err := checkPasskeyUser(userID); err != nil {
		return nil, err
	}
	all, err := s.rdb.HGetAll(ctx, s.kPasskeys(userID)).Result()
	if err != nil {
		return nil, fmt.Errorf("storage: list passkeys: %w", classify(err))
	}
	out := make([]*Passkey, 0, len(all))
	for f, raw := range all {
		if !strings.HasPrefix(f, "c:") {
			continue
		}
		p, err := decode[Passkey](raw, "passkey")
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *Passkey) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

func checkPasskey(p *Passkey) error {
	switch {
	case len(p.ID) == 0 || len(p.ID) > MaxPasskeyIDLen:
		return errors.New("storage: a passkey needs an id of 1 to 1023 bytes")
	case len(p.PublicKey) == 0:
		return errors.New("storage: a passkey needs a public key")
	case len(p.Name) > MaxPasskeyNameLen:
		return errors.New("storage: passkey name too long")
	}
	return checkPasskeyUser(p.UserID)
}

// AddPasskey implements PasskeyStore.
func (s *Store) AddPasskey(ctx context.Context, handle []byte, p *Passkey) error {
	if err := checkPasskey(p); err != nil {
		return err
	}
	if len(handle) == 0 || len(handle) > MaxPasskeyHandleLen {
		return errors.New("storage: a passkey handle has 1 to 64 bytes")
	}
	raw, err := encode(p, "passkey")
	if err != nil {
		return err
	}
	keys := []string{s.kUsersByID(), s.kPasskeyHandles(), s.kPasskeyIDs(), s.kPasskeys(p.UserID)}
	_, status, err := s.runScript(ctx, addPasskey, keys, p.UserID, encodeHandle(handle), passkeyField(p.ID), raw, MaxPasskeys)
	switch {
	case err != nil:
		return err
	case status == "nf":
		return ErrNotFound
	case status == "conflict":
		return ErrConflict
	case status == "full":
		return ErrPasskeysFull
	}
	return nil
}

// UpdatePasskey implements PasskeyStore.
func (s *Store) UpdatePasskey(ctx context.Context, old, p *Passkey) error {
	if err := checkPasskey(p); err != nil {
		return err
	}
	if old.UserID != p.UserID || string(old.ID) != string(p.ID) {
		return errors.New("storage: a passkey update keeps its user and id")
	}
	was, err := encode(old, "passkey")
	if err != nil {
		return err
	}
	now, err := encode(p, "passkey")
	if err != nil {
		return err
	}
	_, status, err := s.runScript(ctx, updatePasskey, []string{s.kPasskeys(p.UserID)}, passkeyField(p.ID), was, now)
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

// DeletePasskey implements PasskeyStore.
func (s *Store) DeletePasskey(ctx context.Context, userID string, id []byte) error {
	if err := checkPasskeyUser(userID); err != nil {
		return err
	}
	if len(id) == 0 || len(id) > MaxPasskeyIDLen {
		return ErrNotFound
	}
	keys := []string{s.kPasskeyHandles(), s.kPasskeyIDs(), s.kPasskeys(userID)}
	_, status, err := s.runScriptOnce(ctx, deletePasskey, keys, passkeyField(id))
	if err != nil {
		return err
	}
	if status != "ok" {
		return ErrNotFound
	}
	return nil
}

// RecordCeremony implements PasskeyStore. One SET NX on a key named by
// the challenge's hash, never re-sent (redelivery.go): a second delivery
// would call the ceremony a replay.
func (s *Store) RecordCeremony(ctx context.Context, challenge string, ttl time.Duration) (bool, error) {
	if challenge == "" || ttl <= 0 || ttl > MaxCeremonyTTL {
		return false, errors.New("storage: a ceremony needs a challenge and a ttl of at most an hour")
	}
	key := s.kCeremony(secret.SHA256(challenge))
	rdb, err := s.noResend(ctx, key)
	if err != nil {
		return false, err
	}
	ok, err := rdb.SetNX(ctx, key, "1", ttl).Result()
	if err != nil {
		return false, fmt.Errorf("storage: record ceremony: %w", classify(err))
	}
	return ok, nil
}
