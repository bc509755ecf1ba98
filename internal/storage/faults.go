package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultTimeout bounds every Redis command when Options.Timeout is zero:
// a stalled Redis costs a request at most this long before it is answered
// 503, instead of the length of the stall.
const DefaultTimeout = 2 * time.Second

// ErrUnavailable: Redis did not answer in time, refused the connection, or
// said it cannot serve now (LOADING, CLUSTERDOWN, MASTERDOWN, READONLY…).
// Whether the command ran is unknown. Callers answer 503 with Retry-After,
// never 500; the wrapped error says what happened, for the log.
var ErrUnavailable = errors.New("storage: redis unavailable")

type unavailableError struct{ err error }

func (e unavailableError) Error() string        { return "storage: redis unavailable: " + e.err.Error() }
func (e unavailableError) Unwrap() []error      { return []error{ErrUnavailable, e.err} }
func (e unavailableError) Is(target error) bool { return target == ErrUnavailable }

// unavailableReplies are the error replies by which Redis says "not now"
// rather than "no": the same command may succeed later or elsewhere. A
// MOVED or ASK reaches the store only from a command sent straight to a
// node (noResend, acked.go) whose slot map was out of date, or after the
// cluster client ran out of redirects: the command did not run.
var unavailableReplies = []string{"LOADING", "CLUSTERDOWN", "TRYAGAIN", "MASTERDOWN", "READONLY", "BUSY", "NOREPLICAS", "MOVED", "ASK"}

// classify turns a transport failure (timeout, refused or dropped
// connection, closed pool, expired context) or a "not now" reply into
// ErrUnavailable; every other reply (redis.Nil, NOSCRIPT, a script's own
// error) is returned as it is.
func classify(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return err
	}
	var reply redis.Error
	if errors.As(err, &reply) {
		for _, p := range unavailableReplies {
			if strings.HasPrefix(reply.Error(), p) {
				return unavailableError{err}
			}
		}
		return err
	}
	return unavailableError{err}
}

// deadlineHook gives every command (and pipeline) a deadline of at most
// timeout and classifies its failure. The command's read deadline is the
// context's (ContextTimeoutEnabled), so a command that timed out is never
// re-sent: go-redis only retries while the context lives (see
// redelivery.go for why that matters).
type deadlineHook struct{ timeout time.Duration }

func (h deadlineHook) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= h.timeout {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, h.timeout)
}

func (h deadlineHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h deadlineHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		ctx, cancel := h.bound(ctx)
		defer cancel()
		err := next(ctx, cmd)
		if c := classify(err); c != err {
			cmd.SetErr(c)
			return c
		}
		return err
	}
}

func (h deadlineHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		ctx, cancel := h.bound(ctx)
		defer cancel()
		err := next(ctx, cmds)
		for _, cmd := range cmds {
			if c := classify(cmd.Err()); c != cmd.Err() {
				cmd.SetErr(c)
			}
		}
		return classify(err)
	}
}

// failFast tunes go-redis for a bounded wait: deadlines from the context,
// read/write/pool/dial timeouts no longer than one command may take, and
// no re-sending of a command after a failure (MaxRetries -1; see
// redelivery.go). Settings given in the URL's query win. It takes the
// fields one by one because Options, ClusterOptions and FailoverOptions
// share them but no type.
func failFast(read, write, pool, dial *time.Duration, retries *int, ctxTimeout *bool, timeout time.Duration) {
	for _, d := range []*time.Duration{read, write, pool, dial} {
		if *d == 0 {
			*d = timeout
		}
	}
	if *retries == 0 {
		*retries = -1
	}
	*ctxTimeout = true
}

// tune adds the deadline hook to a client built with failFast options.
func tune(rdb redis.UniversalClient, timeout time.Duration) {
	h := deadlineHook{timeout: timeout}
	rdb.AddHook(h)
	// noResend talks to a Cluster's node clients directly; they get the
	// same deadline, so those commands cannot wait out a stall either,
	// and they report a node that is gone (followSlotMap).
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		follow := followSlotMap{cc}
		cc.OnNewNode(func(n *redis.Client) { n.AddHook(h); n.AddHook(follow) })
	}
}

// followSlotMap reloads a Cluster's slot map as soon as a node fails a
// command the way a dead or demoted master does (refused or dropped
// connection, timeout, CLUSTERDOWN, MOVED…). go-redis reloads it by
// itself only after a MOVED or once a minute, and a killed master answers
// nothing, let alone MOVED: every client of the store (the cluster
// client, noResend's node clients, the rate limiter) would keep sending
// its slots to the dead address for up to a minute after the replica took
// over. Failures before the promotion reload the old map again; the first
// one after it finds the new master. ReloadState runs in the background
// and coalesces calls (one reload per 200 ms at most), so a burst of
// failures costs one CLUSTER SLOTS.
type followSlotMap struct{ cc *redis.ClusterClient }

func (f followSlotMap) reloadAfter(ctx context.Context, cmd redis.Cmder, err error) {
	// The reload's own CLUSTER SLOTS failing on the dead node must not
	// schedule another reload, or the client would ask every 200 ms
	// until the node came back.
	if err == nil || errors.Is(err, redis.Nil) || cmd.Name() == "cluster" {
		return
	}
	if !errors.Is(classify(err), ErrUnavailable) {
		return // an answer from a serving master (a script's error, NOSCRIPT…)
	}
	f.cc.ReloadState(ctx)
}

func (f followSlotMap) DialHook(next redis.DialHook) redis.DialHook { return next }

func (f followSlotMap) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		f.reloadAfter(ctx, cmd, err)
		return err
	}
}

func (f followSlotMap) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		if err != nil && len(cmds) > 0 {
			f.reloadAfter(ctx, cmds[0], err)
		}
		return err
	}
}

// noResend returns where to send a command that must never be sent twice
// (see redelivery.go): on a Cluster, the master of key's slot directly,
// because the cluster client re-sends after a dropped connection to try
// another node; elsewhere the store's client, which never re-sends.
func (s *Store) noResend(ctx context.Context, key string) (redis.Cmdable, error) {
	cc, ok := s.rdb.(*redis.ClusterClient)
	if !ok {
		return s.rdb, nil
	}
	node, err := cc.MasterForKey(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("storage: master for key: %w", classify(err))
	}
	return node, nil
}
