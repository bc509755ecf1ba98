package ratelimit

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"sync"
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

// ErrBusy is Guard's answer when this Limiter holds as many attempts as
// WithMaxPending allows, or when an attempt waited longer than
// WithMaxWait for its turn: the server is overloaded, no budget is spent.
// The attempt was not judged and spent nothing; callers answer 503 with
// Retry-After, never "too many failed attempts".
var ErrBusy = errors.New("ratelimit: too many password attempts in progress")

// Option changes a Limiter.
type Option func(*Limiter)

// WithClock sets the clock (time.Now by default). The budgets are kept in
// the clock's milliseconds, so every instance should keep time with NTP.
func WithClock(now func() time.Time) Option { return func(l *Limiter) { l.now = now } }

// WithThrottleObserver has f called with the budget's name for every
// attempt refused (for a metric of throttled attempts).
func WithThrottleObserver(f func(budget string)) Option { return func(l *Limiter) { l.observe = f } }

// WithMaxPending bounds the attempts Guard holds at once, waiting for
// their turn or being checked; one more is answered ErrBusy at once. It
// bounds what a flood of attempts costs an instance (goroutines, and the
// polling of budgets full of attempts in flight). Zero or less: no bound.
func WithMaxPending(n int) Option {
	return func(l *Limiter) {
		l.pending = nil
		if n > 0 {
			l.pending = make(chan struct{}, n)
		}
	}
}

// WithMaxWait bounds how long an attempt waits for its turn: for attempts
// in flight on its budgets to end, and inside check (the password
// checker's queue, which takes the context Guard gives check). Past it,
// Guard answers ErrBusy. Zero: only the caller's context bounds the wait.
func WithMaxWait(d time.Duration) Option { return func(l *Limiter) { l.maxWait = max(d, 0) } }

// Limiter keeps the budgets in Redis.
type Limiter struct {
	rdb     redis.UniversalClient
	prefix  string
	limits  Limits
	now     func() time.Time
	observe func(budget string)
	pending chan struct{} // a place per attempt held; nil: no bound
	maxWait time.Duration
	ended   signal // fired when an attempt of this instance ends
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
// An attempt takes a place in each budget before check runs, so that
// concurrent guesses cannot all pass a budget that has room for one, and
// gives it back when check ends: a failure turns its place into a spent
// unit, anything else frees it. Only spent units refuse an attempt with
// *Throttled. A budget whose room is taken by attempts still in flight
// (on any instance) makes the attempt wait until one of them ends: their
// outcome is not known yet, and none of them may turn out a failure. So
// a right password is refused only for failures that happened, and the
// password checks that can fail within a budget's window never exceed
// the budget, however many attempts arrive at once; the one exception is
// a check that outlives its place's lease (placeLease).
//
// The wait and the number of attempts held are bounded (WithMaxWait,
// WithMaxPending); past either, Guard answers ErrBusy. A budget key is a
// hash of the username and the address: neither length nor content of
// what the caller sent reaches Redis.
func (l *Limiter) Guard(ctx context.Context, username, ip string, check func(context.Context) (bool, error)) (bool, error) {
	if !l.hold() {
		return false, ErrBusy
	}
	defer l.unhold()
	if l.maxWait > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, l.maxWait, ErrBusy)
		defer cancel()
	}
	a := attempt{id: rand.Text(), budgets: l.budgets(username, ip)}
	if err := l.admit(ctx, a); err != nil {
		return false, late(ctx, err)
	}
	ok, err := check(ctx)
	err = late(ctx, err) // cut short in the checker's queue, say
	// A failure of ours (Redis, the checker, overload) is not a failed
	// guess.
	if eerr := l.end(ctx, a, err == nil && !ok); eerr != nil && err == nil {
		err = eerr
	}
	return ok, err
}

// late makes err, which ended an attempt whose wait passed WithMaxWait
// (ctx's cause is then ErrBusy), an ErrBusy: whatever it was cut short in,
// the attempt waited too long.
func late(ctx context.Context, err error) error {
	var throttled *Throttled
	if err == nil || errors.Is(err, ErrBusy) || errors.As(err, &throttled) || !errors.Is(context.Cause(ctx), ErrBusy) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrBusy, err)
}

// Spend takes one unit of the per-address budget for a request that is
// counted whatever its outcome (a public client's pushed authorization
// request), and says whether one was left, else how long until one is.
// Only Limits.PerIP applies.
func (l *Limiter) Spend(ctx context.Context, ip string) (bool, time.Duration, error) {
	if l.limits.PerIP <= 0 {
		return true, 0, nil
	}
	wait, err := l.run(ctx, budget{BudgetIP, l.key("ip", addressKey(ip)), l.limits.PerIP}, opCharge, "")
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

// attempt is one password attempt: its id names its places in the
// budgets.
type attempt struct {
	id      string
	budgets []budget
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

// key is <prefix>budget:<kind>:<base64url(sha256(value))>: fixed length,
// and the username is not readable in Redis.
func (l *Limiter) key(kind, value string) string {
	sum := sha256.Sum256([]byte(value))
	return l.prefix + "budget:" + kind + ":" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// hold takes one of the WithMaxPending places, if one is free.
func (l *Limiter) hold() bool {
	if l.pending == nil {
		return true
	}
	select {
	case l.pending <- struct{}{}:
		return true
	default:
		return false
	}
}

func (l *Limiter) unhold() {
	if l.pending != nil {
		<-l.pending
	}
}

// pollInterval is how often an attempt waiting for its turn looks again
// at its budgets; it learns at once when an attempt of this instance
// ends, but not when one of another instance does.
const pollInterval = 50 * time.Millisecond

// errInFlight: a budget has no room for the attempt, but only because of
// attempts in flight, none of which has failed yet.
var errInFlight = errors.New("ratelimit: budget taken by attempts in flight")

// admit takes a's place in every budget, waiting while attempts in flight
// are all that stands in the way. It ends with *Throttled for a spent
// budget, ErrBusy past WithMaxWait, or the caller's context error.
func (l *Limiter) admit(ctx context.Context, a attempt) error {
	for {
		ended := l.ended.next() // taken first, so an end during take is not missed
		err := l.take(ctx, a)
		if !errors.Is(err, errInFlight) {
			return err
		}
		poll := time.NewTimer(pollInterval)
		select {
		case <-ended:
		case <-poll.C:
		case <-ctx.Done():
			poll.Stop()
			return context.Cause(ctx)
		}
		poll.Stop()
	}
}

// take takes a's place in every budget, or none: when a budget refuses,
// what was already taken is given back. A spent budget answers *Throttled
// even when an earlier one was only full of attempts in flight
// (errInFlight), so that a spent budget is not waited on.
func (l *Limiter) take(ctx context.Context, a attempt) error {
	var taken []budget
	inFlight := false
	for _, b := range a.budgets {
		wait, err := l.run(ctx, b, opReserve, a.id)
		if err != nil {
			// b too: a reserve that timed out here may still run once
			// Redis answers again (a stall), and its place must not stay
			// until its lease runs out. Freeing a place never taken does
			// nothing.
			_ = l.release(ctx, a.id, append(taken, b), false)
			return err
		}
		switch {
		case wait == inFlightReply:
			inFlight = true
		case wait > 0:
			if err := l.release(ctx, a.id, taken, false); err != nil {
				return err
			}
			if l.observe != nil {
				l.observe(b.name)
			}
			return &Throttled{Budget: b.name, RetryAfter: max(wait, time.Second)}
		default:
			taken = append(taken, b)
		}
	}
	if inFlight {
		if err := l.release(ctx, a.id, taken, false); err != nil {
			return err
		}
		return errInFlight
	}
	return nil
}

// end gives back a's places once its check is over: as spent units if it
// failed, else freed. Attempts of this instance waiting for room look
// again at once.
func (l *Limiter) end(ctx context.Context, a attempt, failed bool) error {
	defer l.ended.fire()
	return l.release(ctx, a.id, a.budgets, failed)
}

// releaseTimeout bounds a release, which runs on its own deadline.
const releaseTimeout = 2 * time.Second

// release gives back the places of attempt id in budgets, spending a unit
// in each if failed. It does not end with ctx, so that a request
// cancelled (or past WithMaxWait) does not keep its places until their
// lease runs out.
func (l *Limiter) release(ctx context.Context, id string, budgets []budget, failed bool) error {
	if len(budgets) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	op := opRelease
	if failed {
		op = opFail
	}
	var errs []error
	for _, b := range budgets {
		if _, err := l.run(ctx, b, op, id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// The operations of budgetScript.
const (
	opReserve = "reserve" // take a place for an attempt
	opFail    = "fail"    // turn the attempt's place into a spent unit
	opRelease = "release" // free the attempt's place
	opCharge  = "charge"  // spend a unit at once (Spend)
)

// inFlightReply is budgetScript's answer when only attempts in flight
// stand in the way.
const inFlightReply = -time.Millisecond

// placeLease is how long a place outlives the wait bound: an attempt whose
// instance dies before it ends holds its place this long, and a check
// that takes longer (it cannot: WithMaxWait bounds its wait, argon2id
// takes well under a second) would no longer be held against the budget.
const placeLease = time.Minute

// run applies op to budget b for attempt id and returns how long until a
// unit is free if the budget refused, or inFlightReply.
func (l *Limiter) run(ctx context.Context, b budget, op, id string) (time.Duration, error) {
	interval := max(time.Minute.Milliseconds()/int64(b.limit), 1)
	now := l.now().UnixMilli()
	lease := now + (l.maxWait + placeLease).Milliseconds()
	res, err := budgetScript.Run(ctx, l.rdb, []string{b.key}, op, now, interval, b.limit, id, lease).Int64()
	if err != nil {
		return 0, fmt.Errorf("ratelimit: %w", err)
	}
	return time.Duration(res) * time.Millisecond, nil
}

// budgetScript keeps one budget in one sorted set: the member "tat" holds
// the GCRA (generic cell rate algorithm) theoretical arrival time, in ms,
// of the next unit, and every other member is the place of an attempt in
// flight, scored with the end of its lease. Spending a unit moves the TAT
// one interval on; a budget has room for an attempt while the TAT, moved
// on by one interval for each attempt in flight and one for this one, is
// at most burst intervals ahead of now. Entries whose time has passed are
// dropped first, and the key expires with its last entry, so an idle
// budget costs nothing and the places it holds are at most burst.
//
// ARGV: op, now ms, interval ms, burst, attempt id, lease end ms. Answers
// 0 (done), the wait in ms until a unit is free (refused: the spent units
// alone fill the budget), or -1 (refused: attempts in flight fill it).
// Reserving twice with one id takes one place, so a re-sent script does
// not take two. A re-sent "fail" or "charge" spends two units; that errs
// by one failure, which for a rate limit is harmless.
var budgetScript = redis.NewScript(`
local key = KEYS[1]
local op = ARGV[1]
local now = tonumber(ARGV[2])
local interval = tonumber(ARGV[3])
local burst = tonumber(ARGV[4])
local id = ARGV[5]
redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
local tat = tonumber(redis.call('ZSCORE', key, 'tat') or now)
local inflight = redis.call('ZCARD', key)
if tat > now then inflight = inflight - 1 end
local over = tat + interval - burst * interval - now
if op == 'reserve' then
  if redis.call('ZSCORE', key, id) then return 0 end
  if over > 0 then return over end
  if over + inflight * interval > 0 then return -1 end
  redis.call('ZADD', key, ARGV[6], id)
elseif op == 'charge' then
  over = over + inflight * interval
  if over > 0 then return over end
  redis.call('ZADD', key, string.format('%d', tat + interval), 'tat')
else
  redis.call('ZREM', key, id)
  if op == 'fail' then
    redis.call('ZADD', key, string.format('%d', tat + interval), 'tat')
  end
end
local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
if last[2] then
  redis.call('PEXPIRE', key, string.format('%d', tonumber(last[2]) - now))
end
return 0
`)

// signal wakes every waiter once per fire.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

// next returns a channel closed by the next fire.
func (s *signal) next() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *signal) fire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}

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
