package storage_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testredis"
)

// loseAnswer is a hook on the client of every node: once armed, the first
// script that touches key runs on Redis and then has its answer lost, as
// if the connection dropped on the way back. Below the cluster client, so
// that client sees a dropped connection and may re-send.
type loseAnswer struct {
	key   string
	armed atomic.Bool
	runs  atomic.Int32 // scripts on key that ran on Redis since armed
}

func (h *loseAnswer) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *loseAnswer) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		// A NOSCRIPT answer to EVALSHA did not run the script.
		if err != nil || !h.armed.Load() || !isScriptOn(cmd, h.key) {
			return err
		}
		if h.runs.Add(1) == 1 {
			return io.EOF
		}
		return nil
	}
}

func (h *loseAnswer) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func isScriptOn(cmd redis.Cmder, key string) bool {
	name := cmd.Name()
	return (name == "evalsha" || name == "eval") && slices.Contains(cmd.Args(), any(key))
}

// TestClaimWithLostAnswerIsNotResent: claimLogouts must never reach Redis
// twice (redelivery.go). Its first run leases the due delivery; if the
// answer is lost and the command re-sent (the cluster client does that
// after a dropped connection), the second run finds nothing due and the
// claim answers "nothing to deliver" while a lease nobody holds hides
// the delivery. Not re-sent, the claim reports that Redis did not answer,
// and the delivery comes back, once, when the lease lapses.
func TestClaimWithLostAnswerIsNotResent(t *testing.T) {
	for _, topology := range []struct {
		name string
		srv  func(testing.TB) *testredis.Server
	}{
		{"standalone", testredis.New},
		{"cluster", testredis.Cluster},
	} {
		t.Run(topology.name, func(t *testing.T) {
			s := open(t, topology.srv(t))
			ctx := context.Background()
			hook := &loseAnswer{key: s.LogoutJobsKey()}
			rdb := s.Redis()
			if cc, ok := rdb.(*redis.ClusterClient); ok {
				cc.OnNewNode(func(n *redis.Client) { n.AddHook(hook) })
			}
			if err := testredis.ForEachMaster(ctx, rdb, func(_ context.Context, c *redis.Client) error {
				c.AddHook(hook)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			d := &storage.LogoutDelivery{ID: "jti-1", ClientID: "web", SID: "sid-1", CreatedAt: now}
			if err := s.EnqueueLogouts(ctx, []*storage.LogoutDelivery{d}, now); err != nil {
				t.Fatal(err)
			}
			const lease = time.Second
			hook.armed.Store(true)
			got, err := s.ClaimLogouts(ctx, time.Now(), lease, 10)
			hook.armed.Store(false)
			if runs := hook.runs.Load(); runs != 1 {
				t.Errorf("the claim ran on Redis %d times, want once", runs)
			}
			if err == nil {
				t.Fatalf("a claim whose answer was lost answered %d deliveries and no error; want ErrUnavailable", len(got))
			}
			if !errors.Is(err, storage.ErrUnavailable) {
				t.Fatalf("claim = %v, want ErrUnavailable", err)
			}
			// Late, never twice: the lost claim's lease lapses, and then
			// one claim gets the delivery, on its second attempt.
			if got, err := s.ClaimLogouts(ctx, time.Now(), lease, 10); err != nil || len(got) != 0 {
				t.Fatalf("claim inside the lost claim's lease = %d deliveries, %v; want none", len(got), err)
			}
			time.Sleep(lease)
			got, err = s.ClaimLogouts(ctx, time.Now(), lease, 10)
			if err != nil || len(got) != 1 || got[0].ID != d.ID || got[0].Attempts != 2 {
				t.Fatalf("claim after the lease = %+v, %v; want %s on its second attempt", got, err, d.ID)
			}
		})
	}
}
