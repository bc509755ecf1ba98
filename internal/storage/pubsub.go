package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// subscribe delivers each message published on channel from now on,
// decoded by decode (false drops a malformed message), until ctx ends;
// then it closes the channel. It returns once the subscription is active.
//
// go-redis re-subscribes by itself after a lost connection. The first
// subscription confirmation is consumed here, so every later one means a
// reconnect, and onReconnect (if not nil) is called from the delivery
// goroutine: messages published while the link was down are lost, and
// the caller resyncs from the stored state.
func subscribe[T any](ctx context.Context, s *Store, channel string, onReconnect func(), decode func(payload string) (T, bool)) (<-chan T, error) {
	ps := s.rdb.Subscribe(ctx, channel)
	if _, err := ps.Receive(ctx); err != nil {
		_ = ps.Close()
		return nil, fmt.Errorf("storage: subscribe %s: %w", channel, err)
	}
	in := ps.ChannelWithSubscriptions(
		redis.WithChannelSize(1024),
		redis.WithChannelHealthCheckInterval(15*time.Second))
	out := make(chan T, 64)
	go func() {
		defer close(out)
		defer ps.Close()
		for {
			var msg any
			select {
			case <-ctx.Done():
				return
			case m, ok := <-in:
				if !ok {
					return
				}
				msg = m
			}
			switch m := msg.(type) {
			case *redis.Subscription:
				if m.Kind == "subscribe" && onReconnect != nil {
					onReconnect()
				}
			case *redis.Message:
				v, ok := decode(m.Payload)
				if !ok {
					s.log.Warn("storage: ignoring malformed message", "channel", channel)
					continue
				}
				select {
				case out <- v:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}
