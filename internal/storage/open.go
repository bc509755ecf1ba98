package storage

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/oauth2d/oauth2d/internal/tracing"
)

// DefaultPrefix is the key prefix used when Options.Prefix is empty.
const DefaultPrefix = "oauth2d:"

// openTimeout bounds the first PING so a wrong URL fails fast at start-up.
const openTimeout = 5 * time.Second

// Options configure Open.
type Options struct {
	// URL selects the Redis deployment:
	//   ""                                  embedded in-process server (data lost on exit)
	//   redis://[user:pass@]host:port[/db]  standalone; rediss:// for TLS; a bare
	//                                       host:port means redis://host:port
	//   redis://[user:pass@]sentinel:26379?master_name=mymaster[&addr=sentinel2:26379]
	//                                       Sentinel (go-redis ParseFailoverURL form; the
	//                                       userinfo authenticates to the sentinels)
	//   host1:port,host2:port,…             Cluster seeds; items may be redis:// or
	//                                       rediss:// URLs, whose first one gives the
	//                                       credentials and TLS. A trailing comma names a
	//                                       cluster with a single seed.
	URL string
	// Prefix starts every key (DefaultPrefix when empty). It must not
	// contain '{' or '}': the store puts hash tags after it.
	Prefix string
	Logger *slog.Logger
	// Now is the clock for expiry decisions (time.Now when nil). Redis
	// TTLs still run on the server's clock.
	Now func() time.Time
	// Timeout bounds each command, from sending it to reading its answer
	// (DefaultTimeout when zero). A command that runs out of it fails with
	// ErrUnavailable and is not re-sent.
	Timeout time.Duration
	// TracerProvider, when set, traces the Redis commands and pipelines
	// sent within a trace (redisotel), on every client the store talks
	// through: a Cluster's node clients too, which noResend uses
	// directly. Nil: no tracing hooks at all. Spans name the command,
	// never its arguments: those carry hashes, records and tokens.
	TracerProvider trace.TracerProvider
	// MinReplicasAck, when positive, makes the writes a failover must not
	// lose (a refresh family created or rotated, a code issued, a consent,
	// a client registered) wait until that many replicas of their master
	// have them (WAIT, up to half of Timeout); fewer in time and the call
	// fails with ErrUnavailable, so the caller answers 503 and the client
	// retries, instead of holding a token a failover may forget. Zero (the
	// default) acknowledges on the master alone: Redis replication is
	// asynchronous. The embedded Redis has no replicas: leave it zero.
	MinReplicasAck int
}

// Store is oauth2d's Redis data layer. It is safe for concurrent use.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
	log    *slog.Logger
	now    func() time.Time
	mini   *miniredis.Miniredis // non-nil when embedded
	// minAcks and ackWait: Options.MinReplicasAck (acked.go).
	minAcks int
	ackWait time.Duration
}

var _ Storage = (*Store)(nil)

// Open connects to the Redis named by opts.URL (or starts the embedded
// one) and checks that it answers.
func Open(ctx context.Context, opts Options) (*Store, error) {
	s := &Store{prefix: opts.Prefix, log: opts.Logger, now: opts.Now}
	if s.prefix == "" {
		s.prefix = DefaultPrefix
	}
	if strings.ContainsAny(s.prefix, "{}") {
		return nil, fmt.Errorf("storage: prefix %q must not contain '{' or '}'", s.prefix)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if opts.MinReplicasAck < 0 {
		return nil, fmt.Errorf("storage: min replicas ack %d is negative", opts.MinReplicasAck)
	}
	s.minAcks, s.ackWait = opts.MinReplicasAck, timeout/2
	if opts.URL == "" {
		s.startEmbedded(timeout)
	} else {
		rdb, err := newClient(opts.URL, timeout)
		if err != nil {
			return nil, fmt.Errorf("storage: redis url %q: %w", redactURL(opts.URL), err)
		}
		s.rdb = rdb
	}
	tune(s.rdb, timeout)
	if opts.TracerProvider != nil {
		// Added after the deadline hook, so inside it: a span times the
		// command as sent, and a Cluster's OnNewNode instruments each
		// node client as it is made. Only commands within a trace get a
		// span: the workers' polling is not worth one.
		err := redisotel.InstrumentTracing(s.rdb, redisotel.WithTracerProvider(tracing.ChildrenOnly(opts.TracerProvider)),
			redisotel.WithDBStatement(false), redisotel.WithCallerEnabled(false))
		if err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("storage: tracing: %w", err)
		}
	}
	pctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	if err := s.rdb.Ping(pctx).Err(); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("storage: redis %q does not answer: %w", redactURL(opts.URL), err)
	}
	return s, nil
}

// startEmbedded runs miniredis in-process. It is reached through an
// in-memory pipe, so no port is opened. ClockTTL makes its TTLs follow the
// wall clock like a real server (miniredis only moves TTLs on request).
func (s *Store) startEmbedded(timeout time.Duration) {
	m := miniredis.NewMiniRedis()
	m.ClockTTL(true)
	s.mini = m
	o := &redis.Options{
		Addr:   "embedded",
		Dialer: func(context.Context, string, string) (net.Conn, error) { return m.Dial() },
	}
	failFast(&o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout, &o.DialTimeout, &o.MaxRetries, &o.ContextTimeoutEnabled, timeout)
	s.rdb = redis.NewClient(o)
	s.log.Warn("storage: using the embedded in-process Redis: all data lives in memory and is lost on exit; set a Redis URL for anything but development")
}

// newClient builds the go-redis client for a non-empty URL, tuned to fail
// within timeout (failFast).
func newClient(raw string, timeout time.Duration) (redis.UniversalClient, error) {
	if strings.Contains(raw, ",") {
		o, err := clusterOptions(raw)
		if err != nil {
			return nil, err
		}
		failFast(&o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout, &o.DialTimeout, &o.MaxRetries, &o.ContextTimeoutEnabled, timeout)
		return redis.NewClusterClient(o), nil
	}
	if !strings.Contains(raw, "://") {
		raw = "redis://" + raw // bare host:port
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("not a URL")
	}
	if u.Query().Has("master_name") {
		o, err := redis.ParseFailoverURL(raw)
		if err != nil {
			return nil, err
		}
		failFast(&o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout, &o.DialTimeout, &o.MaxRetries, &o.ContextTimeoutEnabled, timeout)
		return redis.NewFailoverClient(o), nil
	}
	o, err := redis.ParseURL(raw)
	if err != nil {
		return nil, err
	}
	failFast(&o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout, &o.DialTimeout, &o.MaxRetries, &o.ContextTimeoutEnabled, timeout)
	return redis.NewClient(o), nil
}

func clusterOptions(raw string) (*redis.ClusterOptions, error) {
	opts := &redis.ClusterOptions{}
	first := true
	for item := range strings.SplitSeq(raw, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if !strings.Contains(item, "://") {
			if _, _, err := net.SplitHostPort(item); err != nil {
				return nil, fmt.Errorf("cluster seed %q is not host:port", item)
			}
			opts.Addrs = append(opts.Addrs, item)
			first = false
			continue
		}
		o, err := redis.ParseURL(item)
		if err != nil {
			return nil, err
		}
		opts.Addrs = append(opts.Addrs, o.Addr)
		if first {
			opts.Username, opts.Password = o.Username, o.Password
			if o.TLSConfig != nil {
				opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
			}
		}
		first = false
	}
	if len(opts.Addrs) == 0 {
		return nil, errors.New("no cluster seeds")
	}
	return opts, nil
}

// redactURL hides passwords so the URL can appear in errors and logs.
func redactURL(raw string) string {
	if raw == "" {
		return "embedded"
	}
	parts := strings.Split(raw, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			parts[i] = u.Redacted()
		} else if err != nil && strings.Contains(p, "@") {
			parts[i] = "<unparsable>"
		}
	}
	return strings.Join(parts, ",")
}

// Close closes the client and stops the embedded server, if any.
func (s *Store) Close() error {
	err := s.rdb.Close()
	if s.mini != nil {
		s.mini.Close()
	}
	return err
}

// Ping reports whether Redis answers (readiness). On a Cluster that
// means every master, each saying the cluster is ok: a PING answered by
// one node said ready while the slots of a killed master, or the whole
// cluster (CLUSTERDOWN until a replica is promoted), refused every
// command. Asking every master loads the slot map afresh, so a ready
// answer also means the store now sends each slot to its live master.
// With MinReplicasAck, a master with fewer replicas connected would
// refuse the writes that wait for them (acked.go): not ready either.
func (s *Store) Ping(ctx context.Context) error {
	cc, ok := s.rdb.(*redis.ClusterClient)
	if !ok {
		if err := s.rdb.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("storage: ping: %w", err)
		}
		if c, ok := s.rdb.(*redis.Client); ok && s.minAcks > 0 {
			return s.enoughReplicas(ctx, c)
		}
		return nil
	}
	err := cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		info, err := node.ClusterInfo(ctx).Result()
		if err != nil {
			return fmt.Errorf("%s: %w", node.Options().Addr, err)
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return fmt.Errorf("%s: cluster state not ok", node.Options().Addr)
		}
		if s.minAcks > 0 {
			return s.enoughReplicas(ctx, node)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("storage: ping every master: %w", err)
	}
	return nil
}

// enoughReplicas fails when master has fewer than MinReplicasAck replicas
// connected.
func (s *Store) enoughReplicas(ctx context.Context, master *redis.Client) error {
	info, err := master.Info(ctx, "replication").Result()
	if err != nil {
		return fmt.Errorf("storage: %s: %w", master.Options().Addr, err)
	}
	_, rest, _ := strings.Cut(info, "connected_slaves:")
	n, _ := strconv.Atoi(strings.TrimSpace(strings.SplitN(rest, "\n", 2)[0]))
	if n < s.minAcks {
		return fmt.Errorf("storage: %s has %d replicas connected, redis.min_replicas_ack is %d", master.Options().Addr, n, s.minAcks)
	}
	return nil
}

// Redis is the underlying client, for callers that keep their own keys
// (rate limiting). They must put them under Prefix.
func (s *Store) Redis() redis.UniversalClient { return s.rdb }

// Prefix is the key prefix of this store.
func (s *Store) Prefix() string { return s.prefix }

// Embedded reports whether the store runs on the in-process server.
func (s *Store) Embedded() bool { return s.mini != nil }
