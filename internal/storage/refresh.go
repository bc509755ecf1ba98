package storage

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// MaxUsedHashes bounds how many hashes a family remembers for reuse
// detection (the current one included, 32 bytes each), so a client
// that refreshes for months cannot grow its family without end. Each
// rotation drops only the oldest beyond the cap, so a token rotated out
// recently is always recognised and revokes the family.
//
// A token more than MaxUsedHashes rotations old is forgotten: presenting
// it answers ErrNotFound and leaves the family alone, as a token that was
// never issued would. That gives up reuse detection only for a token the
// legitimate client replaced a thousand refreshes ago; whoever holds it
// still gets nothing. (storagetest: "reuse detected across the used-hash
// cap".)
const MaxUsedHashes = 1000

// A family is the HASH rt:{id} with one-letter fields (the names are
// stored once per family, so they are kept short):
//
//	c, u, s  the grant: client id, user id ("" for none), scope
//	         space-separated
//	a, m, e  auth time, creation, absolute expiry (unix ms; e is checked
//	         against the caller's clock)
//	r        "1" once revoked (absent before)
//	h        the current token's hash
//	p, t     the hash of the token rotated out last, and when (ms)
//	n        how many rotations the family has had
//	j, x     jti of the newest access token, its expiry (ms)
//	k        the DPoP key thumbprint the family is bound to (absent:
//	         unbound; RFC 9449 §5)
//	g        the client's generation when the family began
//	         (Client.Generation; absent: none, as in families older
//	         versions wrote)
//	v        the resource indicators the grant is restricted to,
//	         space-separated (absent: none, RFC 8707)
//
// Hashes are stored as their 32 raw bytes (rawHash), and every value is
// short, so Redis keeps the hash in its compact listpack encoding. Two
// more keys share the {id} tag:
//
//	rt:{id}:used  ZSET of every hash the family issued (the last
//	              MaxUsedHashes), scored by rotation number; made at
//	              the first rotation, same TTL as the family
//	rt:{id}:succ  STRING, the opaque successor answered inside the grace
//	              window; it expires after twice the window (Redis's
//	              clock; the window itself is checked against the
//	              caller's), so an idle family does not keep it

// familyReply is the Lua tail every family script returns after its
// status word: client, user, scope, auth, made, exp, revoked, ajti,
// aexp, jkt, client generation, resources, amr; extra values follow from
// index familyExtra.
const familyReply = `
local function reply(status, ...)
  local f = redis.call('HMGET', KEYS[1], 'c', 'u', 's', 'a', 'm', 'e', 'r', 'j', 'x', 'k', 'g', 'v', 'w')
  local out = {status}
  for i = 1, 13 do out[i+1] = f[i] or '' end
  for _, v in ipairs({...}) do out[#out+1] = v end
  return out
end
`

// createFamily: KEYS fam, used; ARGV cur, exp ms, made ms, auth ms,
// client, user, scope, ajti, aexp ms, ttl ms, jkt, client generation,
// resources, amr. A second delivery of the
// same call finds its own token (current, or issued and rotated since)
// and answers 'ok'; the same id with another token is 'conflict'.
var createFamily = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('HGET', KEYS[1], 'h') == ARGV[1] or redis.call('ZSCORE', KEYS[2], ARGV[1]) then
    return {'ok'}
  end
  return {'conflict'}
end
redis.call('HSET', KEYS[1], 'h', ARGV[1], 'e', ARGV[2], 'm', ARGV[3], 'a', ARGV[4],
  'c', ARGV[5], 'u', ARGV[6], 's', ARGV[7], 'j', ARGV[8], 'x', ARGV[9])
if ARGV[11] ~= '' then redis.call('HSET', KEYS[1], 'k', ARGV[11]) end
if ARGV[12] ~= '' then redis.call('HSET', KEYS[1], 'g', ARGV[12]) end
if ARGV[13] ~= '' then redis.call('HSET', KEYS[1], 'v', ARGV[13]) end
if ARGV[14] ~= '' then redis.call('HSET', KEYS[1], 'w', ARGV[14]) end
redis.call('PEXPIRE', KEYS[1], ARGV[10])
return {'ok'}
`)

// rotate: KEYS fam, used, succ, grace; ARGV presented, new, successor,
// ajti, aexp ms, now ms, sliding ms, grace ms, max used, client, scope,
// jkt, bind ('1': an unbound family is bound to jkt by this rotation),
// grace ajti (the access token a grace answer carries), client generation,
// resources (a family restricted to resources answers 'target' to any
// other, like 'scope').
// A grace answer records its access token in the grace list, and reuse
// answers that list after the family, so that revoking a reused family
// denies every access token of its newest generation, the grace
// answers' too; a rotation starts the list anew.
// Replies {'nf'} | {'key'} | {'revoked'} | {'scope'} | {'target'} | {'ok', fam…} | {'grace', fam…, succ} | {'reused', fam…, "ajti aexp"…}.
// Another client's attempt is 'nf' before anything else is looked at, and
// so is the client's when the family began under another generation of
// it (a deleted client of the same id: its grants are dead, and they are
// left alone, as an instance with a stale copy of the client must not
// revoke the live family of the new one); a
// family bound to a DPoP key answers 'key' to any other key (or none) and
// is left untouched, so a thief without the key cannot even set off reuse
// detection.
// A second delivery of the same rotation (same presented and new hash:
// the new hash is the request's identity) finds its own result, the new
// hash current and the presented one previous, and answers 'ok' again
// instead of seeing reuse.
var rotate = redis.NewScript(familyReply + `
local now = tonumber(ARGV[6])
local f = redis.call('HMGET', KEYS[1], 'e', 'r', 'h', 'p', 't', 'c', 's', 'n', 'k', 'g', 'v')
if not f[1] or now >= tonumber(f[1]) then return {'nf'} end
if ARGV[10] ~= '' and (f[6] ~= ARGV[10] or (f[10] or '') ~= ARGV[15]) then return {'nf'} end
if f[9] and f[9] ~= ARGV[12] then return {'key'} end
if f[2] == '1' then return {'revoked'} end
if ARGV[2] ~= '' and ARGV[2] == f[3] and ARGV[1] == f[4] then return reply('ok') end
if ARGV[1] == f[3] then
  if ARGV[11] ~= '' then
    local granted = {}
    for s in string.gmatch(f[7] or '', '%S+') do granted[s] = true end
    for s in string.gmatch(ARGV[11], '%S+') do
      if not granted[s] then return {'scope'} end
    end
  end
  if ARGV[16] ~= '' and f[11] then
    local held = {}
    for r in string.gmatch(f[11], '%S+') do held[r] = true end
    for r in string.gmatch(ARGV[16], '%S+') do
      if not held[r] then return {'target'} end
    end
  end
  if ARGV[2] == '' or ARGV[2] == f[3] or redis.call('ZSCORE', KEYS[2], ARGV[2]) then return {'badnew'} end
  local seq = tonumber(f[8] or '0') + 1
  redis.call('HSET', KEYS[1], 'h', ARGV[2], 'p', ARGV[1], 't', ARGV[6], 'n', seq,
    'j', ARGV[4], 'x', ARGV[5])
  if not f[9] and ARGV[13] == '1' and ARGV[12] ~= '' then redis.call('HSET', KEYS[1], 'k', ARGV[12]) end
  if seq == 1 then redis.call('ZADD', KEYS[2], 0, ARGV[1]) end
  redis.call('ZADD', KEYS[2], seq, ARGV[2])
  local extra = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[9])
  if extra > 0 then redis.call('ZREMRANGEBYRANK', KEYS[2], 0, extra - 1) end
  local ttl = tonumber(f[1]) - now
  local sliding = tonumber(ARGV[7])
  if sliding > 0 and sliding < ttl then ttl = sliding end
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
  redis.call('DEL', KEYS[4])
  local grace = tonumber(ARGV[8])
  if grace > 0 and ARGV[3] ~= '' then
    redis.call('SET', KEYS[3], ARGV[3], 'PX', math.min(2 * grace, ttl))
  else
    redis.call('DEL', KEYS[3])
  end
  return reply('ok')
end
local grace = tonumber(ARGV[8])
if f[4] and ARGV[1] == f[4] and grace > 0 and now - tonumber(f[5]) <= grace then
  local succ = redis.call('GET', KEYS[3])
  if succ then
    if ARGV[14] ~= '' then
      redis.call('RPUSH', KEYS[4], ARGV[14] .. ' ' .. ARGV[5])
      redis.call('LTRIM', KEYS[4], -16, -1)
      redis.call('PEXPIRE', KEYS[4], math.max(redis.call('PTTL', KEYS[1]), 1))
    end
    return reply('grace', succ)
  end
end
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  redis.call('HSET', KEYS[1], 'r', '1')
  return reply('reused', unpack(redis.call('LRANGE', KEYS[4], 0, -1)))
end
return {'nf'}
`)

// readFamily: KEYS fam; ARGV now ms. Replies {'nf'} | {'ok', fam…, cur}.
var readFamily = redis.NewScript(familyReply + `
local f = redis.call('HMGET', KEYS[1], 'e', 'h')
if not f[1] or tonumber(ARGV[1]) >= tonumber(f[1]) then return {'nf'} end
return reply('ok', f[2])
`)

// revokeFamily: KEYS fam; ARGV now ms, client (empty for any). Replies
// {'nf'} | {'other'} (another client's family, untouched) | {'ok', fam…}.
var revokeFamily = redis.NewScript(familyReply + `
local f = redis.call('HMGET', KEYS[1], 'e', 'c')
if not f[1] or tonumber(ARGV[1]) >= tonumber(f[1]) then return {'nf'} end
if ARGV[2] ~= '' and f[2] ~= ARGV[2] then return {'other'} end
redis.call('HSET', KEYS[1], 'r', '1')
return reply('ok')
`)

// The user's family index, user-fams:<uid>, is a ZSET of the ids of the
// user's families, each scored by the family's absolute expiry (unix ms):
// the latest moment it can live, as sliding only shortens a family's life
// and the absolute expiry never moves. The client is not repeated there
// (the family record has it; revokeFamily checks it), which keeps an
// entry at an id and an integer. Every script that touches the index
// drops the members whose score is not after the caller's now (their
// family has expired whatever else happened to it), so the index holds
// at most the families that can still be alive, and sets the key's TTL
// to the latest score. The family keys live in other slots, so a family
// that died early (sliding TTL) keeps its member until its score passes
// or RevokeUserFamilies finds it gone.
//
// The legacy index, user-families:<uid> (keys.go), is the HASH family id
// -> client id older versions write (HSET) and read (HGETALL, HDEL). It
// keeps its name and type so that, during a rolling upgrade, an older
// instance's login and revocation of a user never meet this ZSET
// (WRONGTYPE). This version never writes it; RevokeUserFamilies folds
// its entries into the ZSET (userFamilies) and then deletes those fields.
// The older version extended the hash's TTL to its longest family's
// absolute life, so now + its PTTL is a bound no entry outlives; a hash
// without TTL (never written so) gives unbounded entries ('+inf'), which
// go when RevokeUserFamilies finds their family gone.
//
// familyIndex is the Lua both index scripts share; KEYS[1] is the index
// and ARGV[1] the caller's now (ms). closeIndex prunes and sets the TTL
// (none while an unbounded entry is left: a TTL set before it was folded
// in must not take it away).
const familyIndex = `
local now = tonumber(ARGV[1])
local function closeIndex()
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  if top[2] and redis.call('ZCOUNT', KEYS[1], '+inf', '+inf') == 0 then
    redis.call('PEXPIRE', KEYS[1], tonumber(top[2]) - now)
  elseif top[2] then
    redis.call('PERSIST', KEYS[1])
  end
end
`

// indexFamily: KEYS user-fams; ARGV now ms, family id, absolute expiry
// ms. A second delivery adds the same member with the same score again
// and prunes with the same now: nothing changes but the TTL, which is set
// again from the same scores.
var indexFamily = redis.NewScript(familyIndex + `
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
closeIndex()
return {'ok'}
`)

// userFamilies: KEYS user-fams; ARGV now ms, bound, id…: the ids read
// from the legacy hash, added with the score bound ('+inf' for none) or
// kept at a higher one they have. Replies {'ok', id…}: the families that
// can still be alive (after pruning, as indexFamily does). A second
// delivery adds nothing new: a score only ever rises to the same bound.
var userFamilies = redis.NewScript(familyIndex + `
local bound = ARGV[2]
for i = 3, #ARGV do
  local cur = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if not cur or (cur ~= 'inf' and (bound == '+inf' or tonumber(cur) < tonumber(bound))) then
    redis.call('ZADD', KEYS[1], bound, ARGV[i])
  end
end
closeIndex()
local out = redis.call('ZRANGE', KEYS[1], 0, -1)
table.insert(out, 1, 'ok')
return out
`)

// legacyFamilies: KEYS user-families (the legacy hash); no ARGV. Replies
// {'ok', pttl, id…}: the family ids an older version indexed and the
// hash's PTTL, read together so the bound covers every id read (the
// older version's writes only ever raised the TTL). Anything but a hash
// reads as empty. Read-only.
var legacyFamilies = redis.NewScript(`
if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then return {'ok', -2} end
local out = redis.call('HKEYS', KEYS[1])
table.insert(out, 1, redis.call('PTTL', KEYS[1]))
table.insert(out, 1, 'ok')
return out
`)

// rawHash is how a token hash is stored in a family: the 32 bytes a
// 64-digit hex sha256 stands for, half its size. Anything else is kept as
// it is.
func rawHash(h string) string {
	if len(h) != 64 {
		return h
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return h
	}
	return string(b)
}

func (s *Store) familyKeys(id string) []string {
	return []string{s.kFamily(id), s.kFamilyUsed(id), s.kFamilySucc(id), s.kFamilyGrace(id)}
}

// familyExtra is where the values after the family start in a script
// reply.
const familyExtra = 14

// familyFrom rebuilds family id from a script reply: res[1:familyExtra]
// are client, user, scope, auth, made, exp, revoked, ajti, aexp, jkt,
// client generation and resources.
func familyFrom(id string, res []any) *RefreshFamily {
	return &RefreshFamily{
		ID: id, ClientID: str(res, 1), UserID: str(res, 2), Scope: strings.Fields(str(res, 3)),
		AuthTime: fromMs(str(res, 4)), CreatedAt: fromMs(str(res, 5)), ExpiresAt: fromMs(str(res, 6)),
		Revoked: str(res, 7) == "1", AccessJTI: str(res, 8), AccessExpiresAt: fromMs(str(res, 9)),
		JKT: str(res, 10), ClientGeneration: str(res, 11), Resources: strings.Fields(str(res, 12)),
		AMR: strings.Fields(str(res, 13)),
	}
}

// CreateFamily stores a new family with its first token. Its TTL is
// min(Sliding, Family.ExpiresAt-now); Sliding 0 means only the absolute
// expiry. An existing id is ErrConflict. A family of a user is also in
// the user's index (indexFamily) until its ExpiresAt.
func (s *Store) CreateFamily(ctx context.Context, r NewRefresh) error {
	f := r.Family
	if err := checkID("family id", f.ID); err != nil {
		return err
	}
	if r.TokenHash == "" {
		return errors.New("storage: empty refresh token hash")
	}
	now := s.now()
	life := f.ExpiresAt.Sub(now)
	if life <= 0 {
		return errors.New("storage: refresh family already expired")
	}
	ttl := life
	if r.Sliding > 0 {
		ttl = min(r.Sliding, life)
	}
	if f.CreatedAt.IsZero() {
		f.CreatedAt = now.UTC()
	}
	_, status, err := s.runScriptAcked(ctx, createFamily, s.familyKeys(f.ID)[:2],
		rawHash(r.TokenHash), unixMs(f.ExpiresAt), unixMs(f.CreatedAt), unixMs(f.AuthTime),
		f.ClientID, f.UserID, strings.Join(f.Scope, " "), f.AccessJTI, unixMs(f.AccessExpiresAt),
		max(ttl.Milliseconds(), 1), f.JKT, f.ClientGeneration, strings.Join(f.Resources, " "), strings.Join(f.AMR, " "))
	if err != nil {
		return err
	}
	if status == "conflict" {
		return ErrConflict
	}
	// Index second: an index member always has its record, so a member
	// RevokeUserFamilies finds without one is gone for good and can be
	// pruned. (Indexed first, a revocation between the two steps pruned
	// the member of a family about to be written, which no later
	// revocation would then find.) A family left unindexed by a failure
	// here was never handed out: CreateFamily returns the error before
	// its token is issued. The member goes once the absolute expiry has
	// passed, or earlier when RevokeUserFamilies finds the family gone.
	if f.UserID != "" {
		_, _, err := s.runScript(ctx, indexFamily, []string{s.kUserFamilies(f.UserID)},
			unixMs(now), f.ID, unixMs(f.ExpiresAt))
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) readFamily(ctx context.Context, familyID string) (*RefreshFamily, string, error) {
	if checkID("family id", familyID) != nil {
		return nil, "", ErrNotFound
	}
	res, status, err := s.runScript(ctx, readFamily, []string{s.kFamily(familyID)}, unixMs(s.now()))
	if err != nil {
		return nil, "", err
	}
	if status != "ok" {
		return nil, "", ErrNotFound
	}
	return familyFrom(familyID, res), str(res, familyExtra), nil
}

// CheckRefresh returns the family if tokenHash is its current token:
// ErrRevoked for a revoked family, ErrNotFound otherwise.
func (s *Store) CheckRefresh(ctx context.Context, familyID, tokenHash string) (*RefreshFamily, error) {
	f, cur, err := s.readFamily(ctx, familyID)
	if err != nil {
		return nil, err
	}
	if f.Revoked {
		return nil, ErrRevoked
	}
	if tokenHash == "" || rawHash(tokenHash) != cur {
		return nil, ErrNotFound
	}
	return f, nil
}

// Rotate replaces the family's current token in one script; see
// RefreshStore. On ErrRefreshReused the result holds the revoked family.
func (s *Store) Rotate(ctx context.Context, r Rotation) (*RotationResult, error) {
	if checkID("family id", r.FamilyID) != nil {
		return nil, ErrNotFound
	}
	now := r.Now
	if now.IsZero() {
		now = s.now()
	}
	res, status, err := s.runScriptAcked(ctx, rotate, s.familyKeys(r.FamilyID),
		rawHash(r.PresentedHash), rawHash(r.NewHash), r.Successor, r.AccessJTI, unixMs(r.AccessExpiresAt),
		unixMs(now), r.Sliding.Milliseconds(), r.Grace.Milliseconds(), MaxUsedHashes,
		r.ClientID, strings.Join(r.Scope, " "), r.JKT, boolArg(r.BindKey), r.GraceAccessJTI, r.ClientGeneration,
		strings.Join(r.Resources, " "))
	if err != nil {
		return nil, err
	}
	switch status {
	case "nf":
		return nil, ErrNotFound
	case "revoked":
		return nil, ErrRevoked
	case "scope":
		return nil, ErrScopeExceedsGrant
	case "target":
		return nil, ErrTargetExceedsGrant
	case "key":
		return nil, ErrProofKeyMismatch
	case "badnew":
		return nil, errors.New("storage: rotate: new hash is empty or was used before")
	}
	out := &RotationResult{Family: *familyFrom(r.FamilyID, res)}
	switch status {
	case "ok":
		return out, nil
	case "grace":
		out.GraceSuccessor = []byte(str(res, familyExtra))
		return out, nil
	case "reused":
		for i := familyExtra; i < len(res); i++ {
			jti, exp, _ := strings.Cut(str(res, i), " ")
			out.GraceAccess = append(out.GraceAccess, AccessRef{JTI: jti, ExpiresAt: fromMs(exp)})
		}
		return out, ErrRefreshReused
	}
	return nil, fmt.Errorf("storage: rotate: unexpected reply %q", status)
}

// RevokeFamily marks the family revoked and returns it; ErrNotFound if
// unknown or expired. Idempotent. The keys keep their TTL so a later
// presentation answers ErrRevoked.
func (s *Store) RevokeFamily(ctx context.Context, familyID string) (*RefreshFamily, error) {
	f, _, err := s.revokeFamilyOf(ctx, familyID, "")
	return f, err
}

// revokeFamilyOf is RevokeFamily for a family of clientID only (any when
// empty): another client's family is left alone and answers other.
func (s *Store) revokeFamilyOf(ctx context.Context, familyID, clientID string) (f *RefreshFamily, other bool, err error) {
	if checkID("family id", familyID) != nil {
		return nil, false, ErrNotFound
	}
	res, status, err := s.runScript(ctx, revokeFamily, []string{s.kFamily(familyID)}, unixMs(s.now()), clientID)
	switch {
	case err != nil:
		return nil, false, err
	case status == "other":
		return nil, true, nil
	case status != "ok":
		return nil, false, ErrNotFound
	}
	return familyFrom(familyID, res), false, nil
}

// RevokeUserFamilies revokes the user's families for clientID (every
// client when empty) one by one, each through the single-family script
// (families live in different slots), which leaves another client's
// family alone. It reads only the index members that can still be alive
// (userFamilies prunes the rest), so its work is bounded by the user's
// live logins, and drops the members whose family is gone already
// (sliding expiry).
//
// Families an older version indexed in the legacy hash (an older
// instance may still be writing it during a rolling upgrade) are folded
// into the index first, by the same userFamilies call, and only then
// deleted from the hash, field by field: the two keys are in different
// slots, so a crash between the steps leaves the ids in both, and the
// next call folds them again; a field an older instance adds meanwhile
// stays for the next call. Once folded, a legacy family is revoked (and
// answered again on a second delivery) like any other.
func (s *Store) RevokeUserFamilies(ctx context.Context, userID, clientID string) ([]*RefreshFamily, error) {
	now := s.now()
	legacy, bound, err := s.legacyUserFamilies(ctx, userID, now)
	if err != nil {
		return nil, err
	}
	idx := s.kUserFamilies(userID)
	args := []any{unixMs(now), bound}
	for _, id := range legacy {
		args = append(args, id)
	}
	res, _, err := s.runScript(ctx, userFamilies, []string{idx}, args...)
	if err != nil {
		return nil, fmt.Errorf("storage: user families: %w", err)
	}
	if len(legacy) > 0 {
		if err := s.rdb.HDel(ctx, s.kLegacyUserFamilies(userID), legacy...).Err(); err != nil {
			return nil, fmt.Errorf("storage: legacy user families: %w", classify(err))
		}
	}
	var out []*RefreshFamily
	var gone []any
	for i := 1; i < len(res); i++ {
		id := str(res, i)
		f, other, err := s.revokeFamilyOf(ctx, id, clientID)
		switch {
		case errors.Is(err, ErrNotFound):
			gone = append(gone, id)
		case err != nil:
			return out, err
		case !other:
			out = append(out, f)
		}
	}
	if len(gone) > 0 {
		if err := s.rdb.ZRem(ctx, idx, gone...).Err(); err != nil {
			return out, fmt.Errorf("storage: prune user families: %w", err)
		}
	}
	return out, nil
}

// legacyUserFamilies reads the legacy hash index of the user: the family
// ids in it and the score bound for them, now + the hash's PTTL ('+inf'
// when it has none). No ids: nothing to fold.
func (s *Store) legacyUserFamilies(ctx context.Context, userID string, now time.Time) (ids []string, bound string, err error) {
	res, _, err := s.runScript(ctx, legacyFamilies, []string{s.kLegacyUserFamilies(userID)})
	if err != nil {
		return nil, "", fmt.Errorf("storage: legacy user families: %w", err)
	}
	bound = "+inf"
	if pttl, _ := res[1].(int64); pttl > 0 {
		bound = strconv.FormatInt(unixMs(now)+pttl, 10)
	}
	for i := 2; i < len(res); i++ {
		ids = append(ids, str(res, i))
	}
	return ids, bound, nil
}

// boolArg is how a script argument says yes ("1") or no ("").
func boolArg(b bool) string {
	if b {
		return "1"
	}
	return ""
}
