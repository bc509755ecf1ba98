package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Key layout (p = prefix). A {…} hash tag appears only where one atomic
// step touches several keys; single-key records need none.
//
//	p clients                  HASH  client id -> Client JSON
//	p {users}:id               HASH  user id -> User JSON        } one slot: usernames are
//	p {users}:name             HASH  username -> user id         } unique in one script
//	p code:<sha256>            HASH  code, exp, red (redemption) ; TTL
//	p rt:{<family>}            HASH  family record + current/previous hash ; TTL
//	p rt:{<family>}:used       ZSET  every hash the family issued ; same TTL
//	p user-families:<user id>  HASH  family id -> client id (RevokeUserFamilies) ; TTL
//	p consent:<user id>        HASH  client id -> Consent JSON
//	p revoked-jti              ZSET  jti scored by exp (unix ms) ; TTL = latest exp
//	p revocations              pub/sub channel of RevokedJTI JSON
//	p client-changes           pub/sub channel of changed client ids (ClientCache)
//	p user-changes             pub/sub channel of changed user ids (UserCache)
//	p signing-keys             HASH  kid -> SigningKey JSON
//
// Clients, users and signing keys are admin-scale data kept in one hash
// each (one slot on Cluster): that buys atomic uniqueness without a
// cross-slot protocol. The per-request data (codes, refresh families,
// consents) is spread over the cluster by its own key.
func (s *Store) kClients() string                { return s.prefix + "clients" }
func (s *Store) kUsersByID() string              { return s.prefix + "{users}:id" }
func (s *Store) kUsersByName() string            { return s.prefix + "{users}:name" }
func (s *Store) kCode(hash string) string        { return s.prefix + "code:" + hash }
func (s *Store) kFamily(id string) string        { return s.prefix + "rt:{" + id + "}" }
func (s *Store) kFamilyUsed(id string) string    { return s.prefix + "rt:{" + id + "}:used" }
func (s *Store) kUserFamilies(uid string) string { return s.prefix + "user-families:" + uid }
func (s *Store) kConsents(uid string) string     { return s.prefix + "consent:" + uid }
func (s *Store) kRevokedJTI() string             { return s.prefix + "revoked-jti" }
func (s *Store) kRevocations() string            { return s.prefix + "revocations" }
func (s *Store) kSigningKeys() string            { return s.prefix + "signing-keys" }

// checkID rejects ids that would break a key or its hash tag.
func checkID(what, id string) error {
	if id == "" {
		return fmt.Errorf("storage: empty %s", what)
	}
	if strings.ContainsAny(id, "{}") {
		return fmt.Errorf("storage: %s %q must not contain '{' or '}'", what, id)
	}
	return nil
}

// unixMs is how times travel to Lua: integers of milliseconds are exact
// in Lua's doubles.
func unixMs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMs(v string) time.Time {
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// runScript runs a Lua script (EVALSHA, EVAL on NOSCRIPT) and returns its
// reply as a list whose first element is a status word.
func (s *Store) runScript(ctx context.Context, sc *redis.Script, keys []string, args ...any) ([]any, string, error) {
	res, err := sc.Run(ctx, s.rdb, keys, args...).Slice()
	if err != nil {
		return nil, "", fmt.Errorf("storage: script: %w", err)
	}
	if len(res) == 0 {
		return nil, "", errors.New("storage: script returned nothing")
	}
	status, _ := res[0].(string)
	return res, status, nil
}

// str reads element i of a script reply as a string ("" if nil/false).
func str(res []any, i int) string {
	if i >= len(res) {
		return ""
	}
	v, _ := res[i].(string)
	return v
}

func decode[T any](raw, what string) (*T, error) {
	v := new(T)
	if err := json.Unmarshal([]byte(raw), v); err != nil {
		return nil, fmt.Errorf("storage: decode %s: %w", what, err)
	}
	return v, nil
}

func encode(v any, what string) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("storage: encode %s: %w", what, err)
	}
	return string(b), nil
}

// hashValues decodes every value of a HASH holding JSON records.
func hashValues[T any](ctx context.Context, rdb redis.UniversalClient, key, what string) ([]*T, error) {
	vals, err := rdb.HVals(ctx, key).Result()
	if err != nil {
		return nil, fmt.Errorf("storage: list %s: %w", what, err)
	}
	out := make([]*T, 0, len(vals))
	for _, raw := range vals {
		v, err := decode[T](raw, what)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// hashGet reads one JSON record from a HASH field; ErrNotFound if absent.
func hashGet[T any](ctx context.Context, rdb redis.UniversalClient, key, field, what string) (*T, error) {
	raw, err := rdb.HGet(ctx, key, field).Result()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("storage: get %s: %w", what, err)
	}
	return decode[T](raw, what)
}

// hashDel deletes one HASH field; ErrNotFound if it was absent.
func hashDel(ctx context.Context, rdb redis.UniversalClient, key, field, what string) error {
	n, err := rdb.HDel(ctx, key, field).Result()
	if err != nil {
		return fmt.Errorf("storage: delete %s: %w", what, err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}
