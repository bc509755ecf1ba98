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

// Key layout (p = prefix). Every key and channel the package uses is
// here, each built by the one helper below it; nothing else assembles a
// key. A {…} hash tag appears only where one atomic step (a script)
// touches several keys, so Cluster can run it on one slot.
//
//	key                        type     content ; lifetime
//	p clients                  HASH     client id -> Client JSON ; kept
//	p {users}:id               HASH     user id -> User JSON ; kept       } one slot: usernames
//	p {users}:name             HASH     username -> user id ; kept        } are unique in one script
//	{p clients}:self-registered SET     ids of the clients that registered themselves (RFC
//	                                    7591), at most registration.max_clients ; kept,
//	                                    each id until its client is deleted
//	{p clients}:bootstrap      STRING   JSON list of the client ids the bootstrap file declared
//	                                    when last applied (bootstrap.go) ; kept
//	p {users}:bootstrap        STRING   JSON list of the usernames it declared ; kept
//	p resources                HASH     resource id -> Resource JSON (resources.go), at most
//	                                    MaxResources fields ; kept
//	{p resources}:bootstrap    STRING   JSON list of the resource ids the bootstrap file
//	                                    declared ; kept
//	p consent:<user id>        HASH     client id -> Consent JSON ; kept until DeleteUser
//	                                    (one given to a deleted client, of another
//	                                    generation than its id's client now, holds
//	                                    nothing and stays until the user consents again)
//	p signing-keys             HASH     kid -> SigningKey JSON ; kept
//	p code:<sha256>            HASH     code, exp, red (redemption) ; TTL to the code's expiry,
//	                                    then at least RedeemedCodeRetention once redeemed
//	p rt:{<family>}            HASH     family record, current/previous hash (refresh.go) ;
//	                                    TTL = min(sliding, absolute expiry)
//	p rt:{<family>}:used       ZSET     the family's last MaxUsedHashes hashes ; same TTL (from
//	                                    the first rotation)
//	p rt:{<family>}:succ       STRING   sealed successor for the grace window ; 2 × the window
//	p rt:{<family>}:grace      LIST     "<jti> <exp ms>" of the access tokens the grace window
//	                                    answered since the last rotation (at most 16) ; the
//	                                    family's TTL
//	p user-fams:<user id>      ZSET     family id scored by its absolute expiry (ms); members
//	                                    past it pruned on every write (refresh.go); read
//	                                    with consent:<user id> by UserGrants (grants.go), at
//	                                    most MaxGrantFamilies members, latest first ;
//	                                    TTL = latest score
//	p user-families:<user id>  HASH     legacy: family id -> client id, written (HSET) by
//	                                    versions before user-fams; only read and emptied
//	                                    here (RevokeUserFamilies) ; TTL = its longest
//	                                    family's absolute life, set by those versions.
//	                                    Drop it (kLegacyUserFamilies and its reads) once
//	                                    no such version runs and the longest refresh
//	                                    family life (absolute) has passed since the last
//	                                    one stopped: every such hash has expired by then
//	p revoked-jti              ZSET     jti scored by exp (unix ms) ; TTL = latest exp
//	{p revoked-jti}:feed       STREAM   entries jti, exp (ms): one per change of revoked-jti
//	                                    (feed.go), in its slot; the stream's first entry
//	                                    ever also first=1 ; kept, capped at about
//	                                    FeedMaxLen entries
//	p {cutoffs}:nbf            HASH     principal -> not-before (unix ms) } TTL = latest until
//	p {cutoffs}:until          ZSET     principal scored by until (ms)    }
//	p {cutoffs}:feed           STREAM   entries p, nbf, until (ms): one per change of a
//	                                    principal's cutoff ; kept, capped as the one above
//	p session:<sha256>         STRING   BrowserSession JSON ; TTL = idle ttl, capped by ExpiresAt
//	p authreq:<id>             STRING   AuthRequest JSON ; TTL to ExpiresAt
//	p login:<sid>              HASH     user, session, exp, c:<client id> per client
//	                                    signed in ("g:<its generation>", "1" from
//	                                    older versions) ; TTL to the session's ExpiresAt
//	p user-logins:<user id>    ZSET     sid scored by its ExpiresAt (ms), at most
//	                                    MaxUserSessions ; TTL = latest
//	p user-clients:<user id>   ZSET     "<client id> <sid>" scored by until (ms), sid ""
//	                                    for the password grant: relying parties the user
//	                                    signed in to, and through which browser session;
//	                                    they may outlive that session (userclients.go) ;
//	                                    at most MaxUserClients members in all, pruned
//	                                    on write ; TTL = latest, at most MaxUserClientLife;
//	                                    deleted by DeleteUser
//	p mfa:<user id>            HASH     totp (TOTPFactor JSON, its secret sealed by package
//	                                    account), totp_id, step (last used TOTP time step),
//	                                    pending (an unconfirmed TOTPFactor, its Until inside),
//	                                    rc:<sha256> "1" per unused recovery code, rc_used
//	                                    (ms) ; kept until RemoveSecondFactors or DeleteUser;
//	                                    without a confirmed factor, TTL to the pending
//	                                    enrolment's Until
//	p {logouts}:jobs           HASH     delivery id -> LogoutDelivery JSON } one slot: claims
//	p {logouts}:due            ZSET     delivery id scored by due time (ms) } are one script ;
//	                                    both kept until the queue drains
//	p par:<sha256>             STRING   pushed AuthRequest JSON (RFC 9126) ; TTL to ExpiresAt
//	p device:<sha256>          HASH     a device authorization (RFC 8628, device.go) under
//	                                    its device code's hash: req (DeviceAuthorization
//	                                    JSON), exp, st, iv, last, poll, ans, grant, red ;
//	                                    TTL to ExpiresAt + DeviceRetention
//	p device-uc:<sha256>       STRING   its device code's hash, under its user code's hash ;
//	                                    TTL to the authorization's ExpiresAt
//	p dpop-jti:<sha256>        STRING   "1": a DPoP proof seen (key thumbprint + jti) ;
//	                                    TTL until the proof is too old to accept
//	p client-jti:<sha256>      STRING   "1": a client assertion seen (client id + jti,
//	                                    private_key_jwt) ; TTL until the assertion's exp
//	                                    (plus the clock skew allowed); written only for
//	                                    assertions whose signature verified
//	p {users}:passkey-handles  HASH     WebAuthn user handle (base64url) -> user id } one slot
//	p {users}:passkey-ids      HASH     sha256(credential id) -> user id           } with the
//	p {users}:passkeys:<uid>   HASH     "handle" -> the user's handle, "c:<sha256 } users, so
//	                                    of credential id>" -> Passkey JSON, at    } DeleteUser
//	                                    most MaxPasskeys (passkeys.go) ; kept     } drops them
//	                                    until removed or DeleteUser               } atomically
//	p webauthn-used:<sha256>   STRING   "1": a WebAuthn challenge used up (its sealed
//	                                    ceremony passed) ; TTL until the ceremony expires
//	p {comments}:byid          HASH     comment id -> Comment JSON ; kept } one slot:
//	p {comments}:order         ZSET     comment id scored by seq ; kept   } a page is
//	p {comments}:seq           STRING   last sequence number (INCR) ; kept } one script
//	p audit                    STREAM   audit events (package audit writes it: XADD MAXLEN ~
//	                                    audit.stream_max_len) ; kept, trimmed by length
//	{p clients}:marker         STRING   data epoch (heal.go) ; kept   } each on the slot of
//	p {users}:marker           STRING   data epoch ; kept             } the data it guards,
//	{p signing-keys}:marker    STRING   data epoch ; kept             } so its loss is theirs
//	{p resources}:marker       STRING   data epoch ; kept             }
//
// Pub/sub channels (no data at rest):
//
//	p revocations              RevokedJTI JSON, one per RevokeJTI
//	p cutoffs                  Cutoff JSON, one per SetCutoff
//	p client-changes           changed client id (ClientCache)
//	p user-changes             changed user id (UserCache)
//	p resource-changes         "*": the registry changed (ResourceCache)
//
// Clients, users, signing keys and comments are admin- or demo-scale data
// kept in one hash each (one slot on Cluster): that buys atomic
// uniqueness and ordering without a cross-slot protocol. The per-request
// data (codes, refresh families, consents, sessions) is spread over the
// cluster by its own key.
//
// Not written by this package: the password-attempt budgets of package
// ratelimit (<p>budget:ui:<h>, <p>budget:ip:<h>, <p>budget:u:<h>, h the
// base64url SHA-256 of username+address, address, username; ZSET, member
// "tat" the GCRA time in ms and one member per attempt in flight scored
// with its lease end, at most the budget's burst of them; TTL until its
// last entry passes), which it builds from Redis() and Prefix(), and the
// same per-address budgets of public clients' pushed requests under
// <p>par:budget:ip:<h> (a second Limiter, prefix <p>par:) and of their
// DPoP proofs at the token endpoint under <p>dpop:budget:ip:<h> (a third,
// prefix <p>dpop:), which bound the par: and dpop-jti: records anonymous
// callers can make, and of client ID metadata document fetches under
// <p>cimd:budget:ip:<h> (prefix <p>cimd:, package clientmeta), which
// bounds the fetches anonymous callers can cause (the documents
// themselves are kept in each instance's memory only); likewise
// <p>device-start:budget:ip:<h> bounds the device authorizations public
// clients start per address, and <p>device-guess:budget:ip:<h> the wrong
// user codes one address may enter; and
// <p>register:budget:ip:<h> (prefix <p>register:) with
// registration.max_clients bounds the clients registrations (RFC 7591)
// can make.
// Pending authorization requests of anonymous visitors and
// the login form's CSRF token are not stored at all (sealed in the browser).
func (s *Store) kClients() string                { return s.prefix + "clients" }
func (s *Store) kResources() string              { return s.prefix + "resources" }
func (s *Store) kUsersByID() string              { return s.prefix + "{users}:id" }
func (s *Store) kUsersByName() string            { return s.prefix + "{users}:name" }
func (s *Store) kBootstrapClients() string       { return "{" + s.kClients() + "}:bootstrap" }
func (s *Store) kSelfRegistered() string         { return "{" + s.kClients() + "}:self-registered" }
func (s *Store) kBootstrapUsers() string         { return s.prefix + "{users}:bootstrap" }
func (s *Store) kBootstrapResources() string     { return "{" + s.kResources() + "}:bootstrap" }
func (s *Store) kConsents(uid string) string     { return s.prefix + "consent:" + uid }
func (s *Store) kSigningKeys() string            { return s.prefix + "signing-keys" }
func (s *Store) kCode(hash string) string        { return s.prefix + "code:" + hash }
func (s *Store) kFamily(id string) string        { return s.prefix + "rt:{" + id + "}" }
func (s *Store) kFamilyUsed(id string) string    { return s.prefix + "rt:{" + id + "}:used" }
func (s *Store) kFamilySucc(id string) string    { return s.prefix + "rt:{" + id + "}:succ" }
func (s *Store) kFamilyGrace(id string) string   { return s.prefix + "rt:{" + id + "}:grace" }
func (s *Store) kUserFamilies(uid string) string { return s.prefix + "user-fams:" + uid }
func (s *Store) kRevokedJTI() string             { return s.prefix + "revoked-jti" }
func (s *Store) kCutoffsNBF() string             { return s.prefix + "{cutoffs}:nbf" }
func (s *Store) kCutoffsUntil() string           { return s.prefix + "{cutoffs}:until" }
func (s *Store) kCutoffFeed() string             { return s.prefix + "{cutoffs}:feed" }
func (s *Store) kSession(hash string) string     { return s.prefix + "session:" + hash }
func (s *Store) kAuthRequest(id string) string   { return s.prefix + "authreq:" + id }
func (s *Store) kLogin(sid string) string        { return s.prefix + "login:" + sid }
func (s *Store) kUserLogins(uid string) string   { return s.prefix + "user-logins:" + uid }
func (s *Store) kUserClients(uid string) string  { return s.prefix + "user-clients:" + uid }
func (s *Store) kMFA(uid string) string          { return s.prefix + "mfa:" + uid }
func (s *Store) kLogoutJobs() string             { return s.prefix + "{logouts}:jobs" }
func (s *Store) kLogoutDue() string              { return s.prefix + "{logouts}:due" }
func (s *Store) kProof(hash string) string       { return s.prefix + "dpop-jti:" + hash }
func (s *Store) kAssertion(hash string) string   { return s.prefix + "client-jti:" + hash }
func (s *Store) kPushed(hash string) string      { return s.prefix + "par:" + hash }
func (s *Store) kChallenge(hash string) string   { return s.prefix + "auth-session:" + hash }
func (s *Store) kDevice(hash string) string      { return s.prefix + "device:" + hash }
func (s *Store) kUserCode(hash string) string    { return s.prefix + "device-uc:" + hash }
func (s *Store) kCommentsByID() string           { return s.prefix + "{comments}:byid" }
func (s *Store) kCommentsOrder() string          { return s.prefix + "{comments}:order" }
func (s *Store) kCommentsSeq() string            { return s.prefix + "{comments}:seq" }
func (s *Store) kPasskeyHandles() string         { return s.prefix + "{users}:passkey-handles" }
func (s *Store) kPasskeyIDs() string             { return s.prefix + "{users}:passkey-ids" }
func (s *Store) kPasskeys(uid string) string     { return s.prefix + "{users}:passkeys:" + uid }
func (s *Store) kCeremony(hash string) string    { return s.prefix + "webauthn-used:" + hash }

// AuditStreamKey is the stream of audit events, which package audit
// writes through Redis(): its entries are no part of the storage contract.
func (s *Store) AuditStreamKey() string { return s.prefix + "audit" }

// kLegacyUserFamilies is the family index older versions write (see the
// table above for when it can go).
func (s *Store) kLegacyUserFamilies(uid string) string {
	return s.prefix + "user-families:" + uid
}

// kJTIFeed shares the deny set's slot (the tag of a key without braces
// is the whole key), so one script writes both; the set's name predates
// the feed and cannot change without forgetting stored revocations.
func (s *Store) kJTIFeed() string { return "{" + s.kRevokedJTI() + "}:feed" }

// The markers' hash tags put each on its guarded key's slot: the tag of a
// key without braces is the whole key.
func (s *Store) kMarkers() []string {
	return []string{
		"{" + s.kClients() + "}:marker",
		s.prefix + "{users}:marker",
		"{" + s.kSigningKeys() + "}:marker",
		"{" + s.kResources() + "}:marker",
	}
}

func (s *Store) kRevocations() string     { return s.prefix + "revocations" }
func (s *Store) kCutoffChanges() string   { return s.prefix + "cutoffs" }
func (s *Store) kClientChanges() string   { return s.prefix + "client-changes" }
func (s *Store) kUserChanges() string     { return s.prefix + "user-changes" }
func (s *Store) kResourceChanges() string { return s.prefix + "resource-changes" }

// MaxIDLen bounds every id or handle that names a key (checkID), so that
// no caller, however anonymous, can make the store build a huge key: the
// length is checked before anything else. The longest legitimate one is
// a client id (the registration policy accepts 128 characters); family
// ids, sids and the ids of users, requests and comments are 22-character
// tokens and session hashes 64 hex digits. A family id is cut from a
// refresh token, which package oauth refuses above 256 characters in
// all; a sealed authorization handle (kilobytes) never names a key, as
// oauth.PendingRequests opens it without the store. Twice the longest
// legitimate id leaves room without letting keys grow.
const MaxIDLen = 256

// checkID rejects ids that would break a key or its hash tag, or that
// are longer than MaxIDLen. Reads answer such an id as an unknown one.
func checkID(what, id string) error {
	if id == "" {
		return fmt.Errorf("storage: empty %s", what)
	}
	if len(id) > MaxIDLen {
		return fmt.Errorf("storage: %s of %d bytes, longer than %d", what, len(id), MaxIDLen)
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
	return scriptOn(ctx, s.rdb, sc, keys, args...)
}

// runScriptOnce is runScript for a script that must never reach Redis
// twice (redelivery.go).
func (s *Store) runScriptOnce(ctx context.Context, sc *redis.Script, keys []string, args ...any) ([]any, string, error) {
	c, err := s.noResend(ctx, keys[0])
	if err != nil {
		return nil, "", err
	}
	return scriptOn(ctx, c, sc, keys, args...)
}

func scriptOn(ctx context.Context, c redis.Scripter, sc *redis.Script, keys []string, args ...any) ([]any, string, error) {
	res, err := sc.Run(ctx, c, keys, args...).Slice()
	if err != nil {
		return nil, "", fmt.Errorf("storage: script: %w", classify(err))
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

// hashDel deletes one HASH field; ErrNotFound if it was absent. It is
// never re-sent (redelivery.go): a second delivery would answer
// ErrNotFound for a record the first one deleted.
func (s *Store) hashDel(ctx context.Context, key, field, what string) error {
	rdb, err := s.noResend(ctx, key)
	if err != nil {
		return err
	}
	n, err := rdb.HDel(ctx, key, field).Result()
	if err != nil {
		return fmt.Errorf("storage: delete %s: %w", what, classify(err))
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}
