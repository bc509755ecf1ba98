package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Limits are failed password checks per minute: each budget allows that
// many failures at once (the burst) and regains one every minute/limit.
// Zero turns a budget off.
type Limits struct {
	// PerUsername counts failures for one username from every address. It
	// stops slow guessing at one account spread over many addresses (a
	// botnet); it is generous, because an attacker who can spend it locks
	// the owner out too. One address can spend at most PerUsernameIP of
	// it, so locking an owner out takes PerUsername/PerUsernameIP
	// addresses.
	PerUsername int
	// PerIP counts failures from one client address for any username. It
	// stops password spraying: one guess at each of many accounts.
	PerIP int
	// PerUsernameIP counts failures for one username from one address, the
	// strict budget. It stops one attacker guessing at one account while
	// the owner, from their own address, is not affected.
	PerUsernameIP int
}

// The budgets, as named in Throttled and in metrics.
const (
	BudgetUsernameIP = "username_ip"
	BudgetIP         = "ip"
	BudgetUsername   = "username"
)

// Throttled is the error of an attempt refused because a budget is spent.
// The attempt was not judged and spent nothing.
type Throttled struct {
	Budget     string        // BudgetUsernameIP, BudgetIP or BudgetUsername
	RetryAfter time.Duration // when that budget has room again (at least 1s)
}

func (e *Throttled) Error() string {
	return fmt.Sprintf("ratelimit: too many failed attempts (%s budget), retry after %s", e.Budget, e.RetryAfter)
}

// RetryAfterSeconds is RetryAfter for a Retry-After header (RFC 9110
// §10.2.3): whole seconds, rounded up, at least 1.
func (e *Throttled) RetryAfterSeconds() string {
	return strconv.FormatInt(max(1, int64((e.RetryAfter+time.Second-1)/time.Second)), 10)
}

// Option changes a Limiter.
type Option func(*Limiter)

// WithClock sets the clock (time.Now by default). The budgets are kept in
// the clock's milliseconds, so every instance should keep time with NTP.
func WithClock(now func() time.Time) Option { return func(l *Limiter) { l.now = now } }

// WithThrottleObserver has f called with the budget's name for every
// attempt refused (for a metric of throttled attempts).
func WithThrottleObserver(f func(budget string)) Option { return func(l *Limiter) { l.observe = f } }

// Limiter keeps the budgets in Redis.
type Limiter struct {
	rdb     redis.UniversalClient
	prefix  string
	limits  Limits
	now     func() time.Time
	observe func(budget string)
}

// New returns a Limiter whose keys live under prefix (the storage prefix,
// so tenants sharing a Redis do not share budgets).
func New(rdb redis.UniversalClient, prefix string, limits Limits, opts ...Option) *Limiter {
	l := &Limiter{rdb: rdb, prefix: prefix, limits: limits, now: time.Now}
	for _, o := range opts {
		o(l)
	}
	return l
}

// Guard runs check, the password check of username from ip, unless one of
// the budgets is spent, in which case it returns *Throttled without
// calling check. A check that fails (ok=false) spends one unit of every
// budget; a success or an error of check spends nothing. This is the one
// place the password grant and the login page both go through.
//
// The units are taken before check runs and given back when it succeeds,
// so concurrent guesses cannot all pass a budget that has room for one.
// A budget key is a hash of the username and the address: neither length
// nor content of what the caller sent reaches Redis.
func (l *Limiter) Guard(ctx context.Context, username, ip string, check func(context.Context) (bool, error)) (bool, error) {
	taken, err := l.take(ctx, username, ip)
	if err != nil {
		return false, err
	}
	ok, err := check(ctx)
	if err != nil || ok {
		// A success costs nothing; neither does a failure of ours.
		if rerr := l.refund(ctx, taken); rerr != nil && err == nil {
			err = rerr
		}
	}
	return ok, err
}

// Spend takes one unit of the per-address budget for a request that is
// counted whatever its outcome (a public client's pushed authorization
// request), and says whether one was left, else how long until one is.
// Only Limits.PerIP applies.
func (l *Limiter) Spend(ctx context.Context, ip string) (bool, time.Duration, error) {
	if l.limits.PerIP <= 0 {
		return true, 0, nil
	}
	wait, err := l.run(ctx, budget{BudgetIP, l.key("ip", addressKey(ip)), l.limits.PerIP}, 1)
	if err != nil {
		return false, 0, err
	}
	if wait > 0 && l.observe != nil {
		l.observe(BudgetIP)
	}
	return wait == 0, max(wait, 0), nil
}

type budget struct {
	name  string
	key   string
	limit int
}

// budgets are the keys of one attempt, strictest first so that the usual
// refusal needs one round trip.
func (l *Limiter) budgets(username, ip string) []budget {
	ip = addressKey(ip)
	all := []budget{
		{BudgetUsernameIP, l.key("ui", username+"\x00"+ip), l.limits.PerUsernameIP},
		{BudgetIP, l.key("ip", ip), l.limits.PerIP},
		{BudgetUsername, l.key("u", username), l.limits.PerUsername},
	}
	out := all[:0]
	for _, b := range all {
		if b.limit > 0 {
			out = append(out, b)
		}
	}
	return out
}

// key is <prefix>rl:<kind>:<base64url(sha256(value))>: fixed length, and
// the username is not readable in Redis.
func (l *Limiter) key(kind, value string) string {
	sum := sha256.Sum256([]byte(value))
	return l.prefix + "rl:" + kind + ":" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// take takes one unit of every budget, or none: when a budget refuses,
// what was already taken is given back and *Throttled is returned.
func (l *Limiter) take(ctx context.Context, username, ip string) ([]budget, error) {
	var taken []budget
	for _, b := range l.budgets(username, ip) {
		wait, err := l.run(ctx, b, 1)
		if err != nil {
			_ = l.refund(ctx, taken)
			return nil, err
		}
		if wait > 0 {
			if err := l.refund(ctx, taken); err != nil {
				return nil, err
			}
			if l.observe != nil {
				l.observe(b.name)
			}
			return nil, &Throttled{Budget: b.name, RetryAfter: max(wait, time.Second)}
		}
		taken = append(taken, b)
	}
	return taken, nil
}

// refundTimeout bounds a refund, which runs on its own deadline.
const refundTimeout = 2 * time.Second

// refund gives back one unit of each budget taken. It does not end with
// ctx, so that a request cancelled between take and refund (or while
// refused) does not keep the units it took.
func (l *Limiter) refund(ctx context.Context, taken []budget) error {
	if len(taken) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refundTimeout)
	defer cancel()
	var errs []error
	for _, b := range taken {
		if _, err := l.run(ctx, b, -1); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// run takes n units (or gives back -n) and returns how long until a unit is
// free if the budget refused.
func (l *Limiter) run(ctx context.Context, b budget, n int) (time.Duration, error) {
	interval := time.Minute.Milliseconds() / int64(b.limit)
	res, err := gcra.Run(ctx, l.rdb, []string{b.key}, l.now().UnixMilli(), max(interval, 1), b.limit, n).Int64()
	if err != nil {
		return 0, fmt.Errorf("ratelimit: %w", err)
	}
	return time.Duration(res) * time.Millisecond, nil
}

// gcra is the generic cell rate algorithm on one key, which holds the
// theoretical arrival time (TAT, in ms) of the next unit. Taking a unit
// moves it one interval on, unless it would then be more than burst
// intervals ahead of now: then the answer is the wait in ms and nothing
// changes. Giving a unit back moves it one interval back, never before
// now. The key expires when the TAT passes, so an idle budget costs
// nothing. ARGV: now ms, interval ms, burst, n (1 or -1).
//
// A retry that sends the script twice takes (or gives back) two units;
// that errs by one failure, which for a rate limit is harmless.
var gcra = redis.NewScript(`
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new = tat + n * interval
if n > 0 and new - burst * interval > now then
  return new - burst * interval - now
end
if new <= now then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], string.format('%d', new), 'PX', string.format('%d', new - now))
end
return 0
`)

// addressKey is the client address as the budgets count it: an IPv4
// address as it is, an IPv6 address by its /64, since one subscriber is
// usually given a whole /64 and could otherwise draw a fresh budget per
// address. Anything unparsable is counted as given (it is hashed).
func addressKey(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	addr = addr.Unmap()
	if addr.Is4() {
		return addr.String()
	}
	p, err := addr.Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}
