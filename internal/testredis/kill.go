package testredis

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// KillPubSub drops every pub/sub connection on every node behind rdb, as
// a failover or a network cut would, so a test can watch a subscriber
// come back. On a Cluster the subscription may live on any node: killing
// on one node only would leave it untouched. It returns
// errors.ErrUnsupported when the server cannot kill connections (the
// embedded fallback).
func KillPubSub(ctx context.Context, rdb redis.UniversalClient) error {
	kill := func(ctx context.Context, c *redis.Client) error {
		return c.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err()
	}
	var err error
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		err = c.ForEachShard(ctx, kill)
	case *redis.Client:
		err = kill(ctx, c)
	default:
		return fmt.Errorf("testredis: cannot kill connections through %T: %w", rdb, errors.ErrUnsupported)
	}
	if err != nil && strings.Contains(err.Error(), "unknown subcommand") {
		return fmt.Errorf("testredis: %w: %v", errors.ErrUnsupported, err)
	}
	if err != nil {
		return fmt.Errorf("testredis: CLIENT KILL TYPE pubsub: %w", err)
	}
	return nil
}
