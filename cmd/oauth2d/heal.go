package main

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/oauth2d/oauth2d/internal/storage"
)

// dataCheckInterval is how often the guard reads the data markers: a
// Redis that came back empty is noticed within it (sooner when /readyz is
// asked), and the reads cost one pipeline of four GETs.
const dataCheckInterval = 2 * time.Second

// dataGuard notices that Redis lost its data (restarted without
// persistence, failed over to an empty replica) and heals what the
// server itself put there: it re-applies the bootstrap file (its users
// under the ids they had, see bootstrap.Applier), puts the signing keys
// back and drops the client and user caches, then sets the data
// markers again (storage/heal.go). Until then the instance is not ready.
// Every instance runs one; concurrent heals write the same records
// (upserts by id and username), so none is duplicated.
//
// What the server cannot rebuild stays lost: refresh families, codes,
// sessions, consents, comments. The in-memory deny list and cutoffs are
// kept, not dropped: they only deny, and they are then the last copy of
// revocations Redis forgot. So is the bearer middleware's cache of
// verified signatures: the keys that made them are put back.
type dataGuard struct {
	store    *storage.Store
	heal     func(ctx context.Context) error
	logger   *slog.Logger
	interval time.Duration

	epoch   atomic.Pointer[string] // the epoch this instance has seen whole
	healthy atomic.Bool
	kick    chan struct{}
}

func newDataGuard(store *storage.Store, heal func(context.Context) error, logger *slog.Logger) *dataGuard {
	return &dataGuard{store: store, heal: heal, logger: logger, interval: dataCheckInterval, kick: make(chan struct{}, 1)}
}

// start marks the data whole: call it once the bootstrap is applied and the
// keys are stored.
func (g *dataGuard) start(ctx context.Context) error {
	epoch, err := g.store.MarkDataEpoch(ctx)
	if err != nil {
		return err
	}
	g.epoch.Store(&epoch)
	g.healthy.Store(true)
	return nil
}

// Run checks the markers every interval (and when /readyz saw them change)
// until ctx ends.
func (g *dataGuard) Run(ctx context.Context) error {
	ticker := time.NewTicker(g.interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		case <-g.kick:
		}
		g.check(ctx)
	}
}

func (g *dataGuard) check(ctx context.Context) {
	epoch, err := g.store.DataEpoch(ctx)
	if err != nil || epoch == *g.epoch.Load() {
		return // an outage is not a loss: the storage check reports it
	}
	g.healthy.Store(false)
	start := time.Now()
	if epoch == "" {
		g.logger.Error("Redis lost its data (its data markers are gone): re-applying the bootstrap file, restoring signing keys and dropping caches; not ready until done")
	} else {
		g.logger.Warn("Redis lost its data and another instance healed it; re-applying the bootstrap file and dropping caches here too")
	}
	if err := g.heal(ctx); err != nil {
		if ctx.Err() == nil {
			g.logger.Error("healing after data loss failed; retrying", "err", err)
		}
		return
	}
	if epoch, err = g.store.MarkDataEpoch(ctx); err != nil {
		return
	}
	g.epoch.Store(&epoch)
	g.healthy.Store(true)
	g.logger.Warn("healed after data loss; ready again", "took", time.Since(start).Round(time.Millisecond))
}

var errDataLost = errors.New("serve: Redis lost its data; healing")

// Ping fails while the data is lost or being healed, reading the markers
// itself so that readiness fails the moment they go, not at the next check.
func (g *dataGuard) Ping(ctx context.Context) error {
	if !g.healthy.Load() {
		return errDataLost
	}
	epoch, err := g.store.DataEpoch(ctx)
	if err != nil {
		return err
	}
	if epoch != *g.epoch.Load() {
		select {
		case g.kick <- struct{}{}:
		default:
		}
		return errDataLost
	}
	return nil
}
