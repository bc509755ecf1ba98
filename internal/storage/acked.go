package storage

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Writes a failover must not lose (Options.MinReplicasAck). Redis
// replicates asynchronously: a master may acknowledge a write and die
// before any replica has it, and the promoted replica then has never seen
// a refresh token the client holds. WAIT after the write, on the same
// connection, blocks until that many replicas have every write the
// connection made, or its timeout ends. It does not make the write
// durable (a replica that acknowledged may itself be lost, and a write
// WAIT gave up on may still survive), but the client is handed only what
// the replicas already hold.
//
// The write and its WAIT go to the key's master over one connection of
// its own, which go-redis never re-sends on; the writes sent this way are
// idempotent (redelivery.go), so a client retrying after the 503 of a
// short WAIT is answered as the first time or as a grace retry.

// runScriptAcked is runScript for a write that must be on MinReplicasAck
// replicas before it is answered.
func (s *Store) runScriptAcked(ctx context.Context, sc *redis.Script, keys []string, args ...any) ([]any, string, error) {
	if s.minAcks == 0 {
		return s.runScript(ctx, sc, keys, args...)
	}
	var res []any
	var status string
	err := s.acked(ctx, keys[0], func(c redis.Cmdable) error {
		var err error
		res, status, err = scriptOn(ctx, c, sc, keys, args...)
		return err
	})
	return res, status, err
}

// acked runs write on one connection to the master of key, then waits
// for MinReplicasAck replicas to acknowledge it (on s.rdb directly when
// the option is off).
func (s *Store) acked(ctx context.Context, key string, write func(redis.Cmdable) error) error {
	if s.minAcks == 0 {
		return write(s.rdb)
	}
	var master *redis.Client
	switch c := s.rdb.(type) {
	case *redis.ClusterClient:
		m, err := c.MasterForKey(ctx, key)
		if err != nil {
			return fmt.Errorf("storage: master for key: %w", classify(err))
		}
		master = m
	case *redis.Client: // one server, or Sentinel's current master
		master = c
	default:
		return fmt.Errorf("storage: cannot wait for replicas through %T", s.rdb)
	}
	conn := master.Conn()
	defer conn.Close()
	if err := write(conn); err != nil {
		return err
	}
	n, err := conn.Wait(ctx, s.minAcks, s.ackWait).Result()
	if err != nil {
		return fmt.Errorf("storage: wait for replicas: %w", classify(err))
	}
	if n < int64(s.minAcks) {
		return unavailableError{fmt.Errorf("%d of %d replicas acknowledged the write within %v", n, s.minAcks, s.ackWait)}
	}
	return nil
}
