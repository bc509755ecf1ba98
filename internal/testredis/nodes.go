package testredis

import (
	"context"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
)

// ForEachMaster calls fn on every node that holds data behind rdb: each
// master of a Cluster (concurrently, so fn must be safe for that), or the
// one server. A test that looks beneath the store (SCAN for keys, INFO for
// memory) needs every node: a key may live on any of them.
func ForEachMaster(ctx context.Context, rdb redis.UniversalClient, fn func(context.Context, *redis.Client) error) error {
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, fn)
	case *redis.Client:
		return fn(ctx, c)
	default:
		return fmt.Errorf("testredis: cannot reach the nodes behind %T", rdb)
	}
}

// Keys lists the keys behind rdb that match pattern, on every node, with
// SCAN.
func Keys(ctx context.Context, rdb redis.UniversalClient, pattern string) ([]string, error) {
	var mu sync.Mutex // the masters are scanned concurrently
	var keys []string
	err := ForEachMaster(ctx, rdb, func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, pattern, 100).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			keys = append(keys, iter.Val())
			mu.Unlock()
		}
		return iter.Err()
	})
	return keys, err
}
