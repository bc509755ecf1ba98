package resourceserver

import (
	"sync"
	"time"
)

// DefaultCacheSize bounds the verified-token cache.
const DefaultCacheSize = 10_000

// cacheKey is SHA-256 of the raw token: the cache never holds a usable
// token, and keys have a fixed size.
type cacheKey [32]byte

// tokenCache remembers tokens whose signature and claims have been
// verified, so each is verified once per instance. It holds at most size
// entries in two generations: when the current one is full it becomes the
// old one and the previous old one is dropped whole, so eviction is O(1)
// and recently used tokens survive (a hit in the old generation moves the
// entry back to the current one). Hits take only a read lock.
//
// The cache says nothing about revocation: the caller checks the deny
// list on every request, cached or not.
type tokenCache struct {
	mu   sync.RWMutex
	cur  map[cacheKey]*Claims
	old  map[cacheKey]*Claims
	half int
}

// newTokenCache holds at most size entries (at least 2).
func newTokenCache(size int) *tokenCache {
	half := max(size/2, 1)
	return &tokenCache{cur: make(map[cacheKey]*Claims, half), half: half}
}

// get returns the claims cached for k unless the token has expired at now
// (then the verifier decides again, with its leeway).
func (tc *tokenCache) get(k cacheKey, now time.Time) *Claims {
	tc.mu.RLock()
	c, ok := tc.cur[k]
	promote := false
	if !ok {
		c, ok = tc.old[k]
		promote = ok
	}
	tc.mu.RUnlock()
	if !ok || !now.Before(c.ExpiresAt) {
		return nil
	}
	if promote {
		tc.put(k, c)
	}
	return c
}

// put caches c under k. Expired claims are not cached.
func (tc *tokenCache) put(k cacheKey, c *Claims) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if len(tc.cur) >= tc.half {
		tc.old, tc.cur = tc.cur, make(map[cacheKey]*Claims, tc.half)
	}
	tc.cur[k] = c
}

// len is the number of entries held (both generations).
func (tc *tokenCache) len() int {
	tc.mu.RLock()
	defer tc.mu.RUnlock()
	return len(tc.cur) + len(tc.old)
}
