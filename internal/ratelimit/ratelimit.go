// Package ratelimit slows down password guessing: every password attempt,
// at the token endpoint or on the login page, spends one unit of a
// per-username and a per-client-IP budget kept in Redis (GCRA through
// github.com/go-redis/redis_rate, one atomic script per check, so
// concurrent attempts cannot race past the limit).
package ratelimit

import (
	"context"
	"fmt"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Limits are attempts per minute; zero turns that budget off.
type Limits struct {
	PerUsername int
	PerIP       int
}

// Limiter checks attempts against Limits.
type Limiter struct {
	limiter *redis_rate.Limiter
	prefix  string
	limits  Limits
}

// New returns a Limiter whose keys live under prefix (redis_rate puts its
// own "rate:" in front of them).
func New(rdb redis.UniversalClient, prefix string, limits Limits) *Limiter {
	return &Limiter{limiter: redis_rate.NewLimiter(rdb), prefix: prefix, limits: limits}
}

// Allow spends one attempt for username and for ip. It reports whether the
// attempt may go ahead and, if not, how long to wait. Both budgets are
// spent even when the first refuses, so that a refused attempt still
// counts against the other key.
func (l *Limiter) Allow(ctx context.Context, username, ip string) (bool, time.Duration, error) {
	var wait time.Duration
	allowed := true
	checks := []struct {
		key   string
		limit int
	}{
		{"rl:user:" + username, l.limits.PerUsername},
		{"rl:ip:" + ip, l.limits.PerIP},
	}
	for _, c := range checks {
		if c.limit <= 0 {
			continue
		}
		res, err := l.limiter.Allow(ctx, l.prefix+c.key, redis_rate.PerMinute(c.limit))
		if err != nil {
			return false, 0, fmt.Errorf("ratelimit: %w", err)
		}
		if res.Allowed == 0 {
			allowed = false
			wait = max(wait, res.RetryAfter)
		}
	}
	return allowed, wait, nil
}
