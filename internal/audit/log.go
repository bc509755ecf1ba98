package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// Defaults of Options.
const (
	DefaultStreamMaxLen = 100_000
	DefaultQueue        = 4096
	DefaultWriteTimeout = time.Second
	// DropReportInterval: drops are logged at most this often, with how
	// many there were, so that a Redis outage does not flood the log.
	DropReportInterval = time.Minute
	// maxBatch is how many queued events one round trip writes.
	maxBatch = 128
	// drainTimeout bounds the writing of what is still queued when Run's
	// context ends (shutdown).
	drainTimeout = 2 * time.Second
)

// Options configure a Log. Logger is required.
type Options struct {
	Logger *slog.Logger
	// Redis and StreamKey: where the stream is written; a nil Redis
	// writes no stream (audit.stream: false), only the log.
	Redis     redis.UniversalClient
	StreamKey string
	// StreamMaxLen caps the stream (XADD MAXLEN ~): Redis trims whole
	// nodes, so it may hold up to a node (100 entries) more.
	StreamMaxLen int64
	// Queue is how many events may wait for the writer; beyond it they
	// are dropped (and counted).
	Queue int
	// WriteTimeout bounds one round trip of the writer.
	WriteTimeout time.Duration
	// Metrics registers oauth2d_audit_events_dropped_total; nil: not
	// registered (counted all the same).
	Metrics prometheus.Registerer
	Now     func() time.Time
}

// Log records events: each to the log at once, and to the stream
// through a bounded queue that one writer (Run) empties. Emit never
// waits for Redis: a full queue, a failing or stalled Redis lose stream
// entries (never log lines), each counted by reason.
type Log struct {
	logger       *slog.Logger
	rdb          redis.UniversalClient
	key          string
	maxLen       int64
	writeTimeout time.Duration
	now          func() time.Time
	queue        chan Event
	dropped      *prometheus.CounterVec
	// unreported counts drops since the writer last logged them; Emit
	// adds to it, the writer reads and resets it.
	unreported atomic.Int64
}

// Reasons of oauth2d_audit_events_dropped_total.
const (
	DropQueueFull = "queue_full" // the writer was behind (Redis slow or stalled)
	DropRedis     = "redis"      // the write failed or timed out
)

// New returns a Log; run its writer with Run when it has a stream.
func New(o Options) (*Log, error) {
	if o.Logger == nil {
		return nil, errors.New("audit: a logger is required")
	}
	if o.Redis != nil && o.StreamKey == "" {
		return nil, errors.New("audit: a stream needs a key")
	}
	l := &Log{
		logger: o.Logger, rdb: o.Redis, key: o.StreamKey,
		maxLen:       cmpPositive(o.StreamMaxLen, DefaultStreamMaxLen),
		writeTimeout: cmpPositive(o.WriteTimeout, DefaultWriteTimeout),
		now:          o.Now,
		queue:        make(chan Event, cmpPositive(o.Queue, DefaultQueue)),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oauth2d_audit_events_dropped_total",
			Help: "Audit events not written to the Redis stream (they are still in the log), by reason: queue_full or redis.",
		}, []string{"reason"}),
	}
	if l.now == nil {
		l.now = time.Now
	}
	if o.Metrics != nil {
		if err := o.Metrics.Register(l.dropped); err != nil {
			return nil, fmt.Errorf("audit: metrics: %w", err)
		}
	}
	return l, nil
}

func cmpPositive[T int | int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

func (l *Log) record(ctx context.Context, ev Event) {
	l.logger.LogAttrs(ctx, slog.LevelInfo, "audit", logAttrs(ev))
	if l.rdb == nil {
		return
	}
	select {
	case l.queue <- ev:
	default:
		l.drop(DropQueueFull, 1)
	}
}

func (l *Log) drop(reason string, n int) {
	l.dropped.WithLabelValues(reason).Add(float64(n))
	l.unreported.Add(int64(n))
}

// Run writes queued events to the stream until ctx ends, then writes
// what is still queued (within a bound) and returns nil. Without a
// stream it only waits for ctx.
func (l *Log) Run(ctx context.Context) error {
	if l.rdb == nil {
		<-ctx.Done()
		return nil
	}
	report := time.NewTicker(DropReportInterval)
	defer report.Stop()
	// Writes outlive ctx by at most WriteTimeout: an event taken from the
	// queue as the server stops is still written, not lost.
	writes := context.WithoutCancel(ctx)
	var lastErr error
	for {
		select {
		case ev := <-l.queue:
			if err := l.write(writes, l.batch(ev)); err != nil {
				lastErr = err
			}
		case <-report.C:
			l.reportDrops(writes, lastErr)
			lastErr = nil
		case <-ctx.Done():
			l.drain(writes)
			l.reportDrops(writes, lastErr)
			return nil
		}
	}
}

// batch is first and what else is queued, up to maxBatch.
func (l *Log) batch(first Event) []Event {
	evs := []Event{first}
	for len(evs) < maxBatch {
		select {
		case ev := <-l.queue:
			evs = append(evs, ev)
		default:
			return evs
		}
	}
	return evs
}

// drain writes what is queued at shutdown, for at most drainTimeout.
func (l *Log) drain(ctx context.Context) {
	deadline := time.Now().Add(drainTimeout)
	for time.Now().Before(deadline) {
		select {
		case ev := <-l.queue:
			_ = l.write(ctx, l.batch(ev))
		default:
			return
		}
	}
	if n := len(l.queue); n > 0 {
		l.drop(DropRedis, n)
	}
}

// write adds evs to the stream in one round trip; what fails is dropped.
func (l *Log) write(ctx context.Context, evs []Event) error {
	ctx, cancel := context.WithTimeout(ctx, l.writeTimeout)
	defer cancel()
	cmds, err := l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, ev := range evs {
			fs := ev.fields()
			values := make([]any, 0, 2*len(fs))
			for _, f := range fs {
				values = append(values, f.name, f.value)
			}
			p.XAdd(ctx, &redis.XAddArgs{Stream: l.key, MaxLen: l.maxLen, Approx: true, Values: values})
		}
		return nil
	})
	if err == nil {
		return nil
	}
	failed := 0
	for _, c := range cmds {
		if c.Err() != nil {
			failed++
		}
	}
	l.drop(DropRedis, max(failed, 1))
	return err
}

func (l *Log) reportDrops(ctx context.Context, lastErr error) {
	n := l.unreported.Swap(0)
	if n == 0 {
		return
	}
	attrs := []any{"dropped", n, "stream", l.key}
	if lastErr != nil {
		attrs = append(attrs, "err", lastErr)
	}
	l.logger.WarnContext(ctx, "audit: events not written to the stream (they are in the log)", attrs...)
}
