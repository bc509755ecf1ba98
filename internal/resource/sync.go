package resource

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/oauth2d/oauth2d/internal/storage"
)

// resyncRetry is how soon a failed resync is tried again.
const resyncRetry = time.Second

// Load subscribes to revocations, loads the current revocation state and
// returns once the middleware can serve (or with the error that kept it
// from loading). ctx bounds the subscriptions: pass the server's
// lifetime, and call Follow with it to keep the state current.
func (a *Authenticator) Load(ctx context.Context) error {
	loop, err := a.start(ctx)
	if err != nil {
		return err
	}
	a.loop = loop
	return nil
}

// Follow keeps the state Load loaded current until ctx ends; serve runs it
// under its errgroup. It returns nil when ctx ends.
func (a *Authenticator) Follow(ctx context.Context) error {
	if a.loop == nil {
		return errors.New("resource: Follow before Load")
	}
	a.loop(ctx)
	return nil
}

// start subscribes before it loads: a revocation published between the
// load and the subscription would otherwise be missed.
func (a *Authenticator) start(ctx context.Context) (func(context.Context), error) {
	if !a.started.CompareAndSwap(false, true) {
		return nil, errors.New("resource: authenticator already started")
	}
	ctx, cancel := context.WithCancel(ctx)
	reconnected := make(chan struct{}, 1)
	onReconnect := func() {
		select {
		case reconnected <- struct{}{}:
		default: // a resync is already pending
		}
	}
	jtis, err := a.feed.SubscribeRevocations(ctx, onReconnect)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("resource: %w", err)
	}
	cuts, err := a.feed.SubscribeCutoffs(ctx, onReconnect)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("resource: %w", err)
	}
	if err := a.reload(ctx); err != nil {
		cancel()
		return nil, err
	}
	a.ready.Store(true)
	return func(stop context.Context) {
		defer cancel()
		go func() {
			select {
			case <-stop.Done():
				cancel()
			case <-ctx.Done():
			}
		}()
		a.follow(ctx, jtis, cuts, reconnected)
	}, nil
}

// follow applies published revocations as they come, and reloads
// everything after a reconnect (what was published while the link was
// down is lost) and every resync interval.
func (a *Authenticator) follow(ctx context.Context, jtis <-chan storage.RevokedJTI, cuts <-chan storage.Cutoff, reconnected <-chan struct{}) {
	ticker := time.NewTicker(a.resync)
	defer ticker.Stop()
	var retry <-chan time.Time
	reload := func(why string) {
		retry = nil
		if err := a.reload(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			a.log.Warn("resource: revocation resync failed; retrying", "why", why, "err", err)
			retry = time.After(resyncRetry)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case r, ok := <-jtis:
			if !ok {
				jtis = nil
				a.lost(ctx, "revocations")
				continue
			}
			a.deny.DenyJTI(r.JTI, r.ExpiresAt)
		case c, ok := <-cuts:
			if !ok {
				cuts = nil
				a.lost(ctx, "cutoffs")
				continue
			}
			a.deny.AddCutoff(publicCutoff(c))
		case <-reconnected:
			a.log.Info("resource: revocation subscription re-established; resyncing")
			reload("reconnect")
		case <-retry:
			reload("retry")
		case <-ticker.C:
			reload("interval")
		}
	}
}

// lost handles a subscription channel that closed before ctx ended
// (against the storage contract): the instance can no longer promise
// timely revocation, so it stops serving protected routes.
func (a *Authenticator) lost(ctx context.Context, what string) {
	if ctx.Err() == nil {
		a.ready.Store(false)
		a.log.Error("resource: " + what + " subscription ended; protected routes answer 503")
	}
}

// reload merges the whole stored revocation state into memory and drops
// what has expired.
func (a *Authenticator) reload(ctx context.Context) error {
	jtis, err := a.feed.RevokedJTIs(ctx)
	if err != nil {
		return fmt.Errorf("resource: load revoked jtis: %w", err)
	}
	cuts, err := a.feed.Cutoffs(ctx)
	if err != nil {
		return fmt.Errorf("resource: load cutoffs: %w", err)
	}
	a.deny.DenyJTIs(jtis)
	for _, c := range cuts {
		a.deny.AddCutoff(publicCutoff(c))
	}
	a.deny.Prune(a.now())
	return nil
}
