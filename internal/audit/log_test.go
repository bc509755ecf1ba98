package audit

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testredis"
)

func TestMain(m *testing.M) { testredis.Main(m) }

// redisClient is the store's client, whose timeouts the server's audit
// log shares (storage.Open: fail fast, the context's deadline obeyed).
func redisClient(t testing.TB, url string) redis.UniversalClient {
	t.Helper()
	st, err := storage.Open(context.Background(), storage.Options{URL: url, Prefix: "audit-test:"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st.Redis()
}

// lockedBuffer is a log sink the writer and the test share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// run starts l's writer; stopping it (at the test's end, or by the
// returned func) waits for its drain.
func run(t testing.TB, l *Log) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = l.Run(ctx)
	}()
	stop = sync.OnceFunc(func() { cancel(); <-done })
	t.Cleanup(stop)
	return stop
}

// An event reaches the log and the stream with the schema's field names;
// empty fields are left out, and the request's id and address come from
// the context.
func TestEventInLogAndStream(t *testing.T) {
	srv := testredis.New(t)
	rdb := redisClient(t, srv.URL)
	var logs lockedBuffer
	l, err := New(Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil)), Redis: rdb, StreamKey: srv.Prefix + "audit"})
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, l)
	ctx := With(NewContext(context.Background(), l), Event{RequestID: "req-1", IP: "192.0.2.7"})
	ctx = With(ctx, Event{Client: "app"})
	Emit(ctx, Event{Event: TokenIssued, Outcome: Success, Subject: "u1", GrantType: "password", Scope: "openid profile", Audience: "https://api", JTI: "j1"})
	stop()

	entries, err := rdb.XRange(context.Background(), srv.Prefix+"audit", "-", "+").Result()
	if err != nil || len(entries) != 1 {
		t.Fatalf("stream: %v, %v", entries, err)
	}
	got := entries[0].Values
	want := map[string]string{"event": TokenIssued, "outcome": Success, "subject": "u1", "client": "app", "ip": "192.0.2.7",
		"request_id": "req-1", "grant_type": "password", "scope": "openid profile", "aud": "https://api", "jti": "j1"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("stream field %s = %v, want %q", k, got[k], v)
		}
	}
	if _, err := time.Parse(time.RFC3339Nano, got["time"].(string)); err != nil {
		t.Errorf("stream time: %v", err)
	}
	if len(got) != len(want)+1 {
		t.Errorf("stream entry has fields beyond the event's: %v", got)
	}
	line := logs.String()
	if !strings.Contains(line, `"msg":"audit","audit":{"time":`) || !strings.Contains(line, `"request_id":"req-1"`) || strings.Contains(line, `"actor"`) {
		t.Errorf("log line: %s", line)
	}
}

// The stream is capped near StreamMaxLen (MAXLEN ~ trims whole nodes of
// up to 100 entries).
func TestStreamIsTrimmed(t *testing.T) {
	srv := testredis.New(t)
	rdb := redisClient(t, srv.URL)
	key := srv.Prefix + "audit"
	l, err := New(Options{Logger: slog.New(slog.DiscardHandler), Redis: rdb, StreamKey: key, StreamMaxLen: 50, Queue: 2000})
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, l)
	ctx := NewContext(context.Background(), l)
	for range 1000 {
		Emit(ctx, Event{Event: SignIn, Outcome: Success})
	}
	stop()
	n, err := rdb.XLen(context.Background(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	if n < 50 || n > 50+100 {
		t.Errorf("stream holds %d entries after 1000 events, want about 50", n)
	}
	if d := testutil.ToFloat64(l.dropped.WithLabelValues(DropQueueFull)) + testutil.ToFloat64(l.dropped.WithLabelValues(DropRedis)); d != 0 {
		t.Errorf("%v events dropped", d)
	}
}

// A stalled Redis (SIGSTOP) does not make Emit wait: the writer's round
// trip times out, the queue fills, and what does not fit is dropped and
// counted, and reported in the log. The writer stops within its bound.
func TestStalledRedisDropsAndCounts(t *testing.T) {
	srv := testredis.NewPrivate(t)
	rdb := redisClient(t, srv.URL)
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	l, err := New(Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Redis: rdb, StreamKey: srv.Prefix + "audit",
		Queue: 16, WriteTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, l)
	srv.Pause(t)
	defer srv.Resume(t)
	ctx := NewContext(context.Background(), l)
	start := time.Now()
	for range 1000 {
		Emit(ctx, Event{Event: SignIn, Outcome: Failure})
	}
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("1000 events took %v to emit while Redis stalls", took)
	}
	if d := testutil.ToFloat64(l.dropped.WithLabelValues(DropQueueFull)); d < 1000-16-maxBatch {
		t.Errorf("dropped (queue full) = %v, want most of 1000", d)
	}
	start = time.Now()
	stop()
	if took := time.Since(start); took > drainTimeout+time.Second {
		t.Errorf("the writer took %v to stop while Redis stalls", took)
	}
	if d := testutil.ToFloat64(l.dropped.WithLabelValues(DropRedis)); d < 1 {
		t.Errorf("dropped (redis) = %v, want the writes that timed out", d)
	}
	if !strings.Contains(logs.String(), "audit: events not written to the stream") {
		t.Errorf("drops not reported in the log:\n%s", logs.String())
	}
}

func TestUnknownUsernameIsNotTheUsername(t *testing.T) {
	h := UnknownUsername("alice-password")
	if strings.Contains(h, "alice") || h != UnknownUsername("alice-password") || h == UnknownUsername("alice-passwore") {
		t.Errorf("UnknownUsername = %q", h)
	}
}

// BenchmarkEmit is what an event costs the request that emits it: the
// log line (JSON, to nowhere) and, with the stream, the queue.
func BenchmarkEmit(b *testing.B) {
	ev := Event{Event: TokenIssued, Outcome: Success, Actor: "app", Subject: "u1", Client: "app", GrantType: "password",
		Scope: "openid profile", Audience: "https://api.example.com", JTI: "0123456789abcdef0123456789abcdef"}
	for _, stream := range []bool{false, true} {
		b.Run(fmt.Sprintf("stream=%t", stream), func(b *testing.B) {
			o := Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))}
			if stream {
				srv := testredis.New(b)
				o.Redis, o.StreamKey = redisClient(b, srv.URL), srv.Prefix+"audit"
			}
			l, err := New(o)
			if err != nil {
				b.Fatal(err)
			}
			stop := run(b, l)
			ctx := NewContext(context.Background(), l)
			b.ReportAllocs()
			for b.Loop() {
				Emit(ctx, ev)
			}
			stop()
			b.ReportMetric(testutil.ToFloat64(l.dropped.WithLabelValues(DropQueueFull)), "dropped")
		})
	}
}

// BenchmarkStreamWrite is what the writer spends per event on Redis
// (pipelined XADD MAXLEN ~, batches of what is queued): events are
// queued as fast as the writer takes them.
func BenchmarkStreamWrite(b *testing.B) {
	srv := testredis.New(b)
	l, err := New(Options{Logger: slog.New(slog.DiscardHandler), Redis: redisClient(b, srv.URL), StreamKey: srv.Prefix + "audit"})
	if err != nil {
		b.Fatal(err)
	}
	ev := Event{Time: time.Now(), Event: TokenIssued, Outcome: Success, Subject: "u1", Client: "app", JTI: "0123456789abcdef"}
	for b.Loop() {
		_ = l.write(context.Background(), []Event{ev})
	}
}
