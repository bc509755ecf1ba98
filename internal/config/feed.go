package config

// RevocationFeed tunes the revocation feed (GET /oauth2/revocation-feed),
// which resource servers long-poll. The endpoint is always served.
type RevocationFeed struct {
	// MaxWaiters bounds the feed requests one instance holds while they
	// wait for a revocation; more are answered 503 with Retry-After. A
	// held request costs a connection and a goroutine, no Redis
	// connection.
	MaxWaiters int `yaml:"max_waiters"`
}

func (c *Config) feedSettings() []setting {
	return []setting{
		{"revocation_feed.max_waiters", "revocation feed requests one instance holds while they wait; more are answered 503", (*intValue)(&c.RevocationFeed.MaxWaiters)},
	}
}

func (c *Config) validateFeed(bad func(setting, format string, args ...any)) {
	if c.RevocationFeed.MaxWaiters < 1 || c.RevocationFeed.MaxWaiters > 1_000_000 {
		bad("revocation_feed.max_waiters", "must be from 1 to 1000000, not %d", c.RevocationFeed.MaxWaiters)
	}
}
