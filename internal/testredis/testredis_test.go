package testredis_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth2d/oauth2d/internal/testredis"
)

func TestMain(m *testing.M) { testredis.Main(m) }

func TestNewGivesWorkingRedisAndUniquePrefix(t *testing.T) {
	a, b := testredis.New(t), testredis.New(t)
	if a.Prefix == b.Prefix {
		t.Fatalf("two calls returned the same prefix %q", a.Prefix)
	}
	if strings.ContainsAny(a.Prefix, "{}") || !strings.HasSuffix(a.Prefix, ":") {
		t.Fatalf("prefix %q must end with ':' and hold no hash-tag braces", a.Prefix)
	}
	ctx := context.Background()
	c := a.Client(t)
	if err := c.Set(ctx, a.Prefix+"k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Get(ctx, a.Prefix+"k").Result(); err != nil || got != "v" {
		t.Fatalf("GET = %q, %v", got, err)
	}
	t.Logf("kind %s url %s", a.Kind, a.URL)
}

func TestClusterHasThreeMasters(t *testing.T) {
	s := testredis.Cluster(t)
	ctx := context.Background()
	c := s.Client(t)
	nodes, err := c.ClusterNodes(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(nodes, "master"); got != 3 {
		t.Fatalf("cluster has %d masters, want 3:\n%s", got, nodes)
	}
	// Keys in different slots land on different nodes and all work.
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		if err := c.Set(ctx, s.Prefix+k, k, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
	}
}

// recorder is a testing.TB that records how the test was ended instead of
// ending it.
type recorder struct {
	testing.TB
	skipped, failed, logged string
}

func (r *recorder) Helper()                    {}
func (r *recorder) Skip(args ...any)           { r.skipped = fmt.Sprint(args...) }
func (r *recorder) Fatal(args ...any)          { r.failed = fmt.Sprint(args...) }
func (r *recorder) Logf(f string, args ...any) { r.logged = fmt.Sprintf(f, args...) }

// A machine without redis-server: New falls back to the embedded Redis
// and says so, except under CI, where the test fails; Cluster skips, or
// fails under CI.
func TestWithoutRedisServer(t *testing.T) {
	tests := []struct {
		name, ci                                string
		get                                     func(testing.TB) *testredis.Server
		wantKind                                testredis.Kind
		wantSkipped, wantFailed, wantLogMention bool
	}{
		{name: "New falls back", ci: "", get: testredis.New, wantKind: testredis.Embedded, wantLogMention: true},
		{name: "New under CI fails", ci: "true", get: testredis.New, wantFailed: true},
		{name: "Cluster skips", ci: "", get: testredis.Cluster, wantSkipped: true},
		{name: "Cluster under CI fails", ci: "true", get: testredis.Cluster, wantFailed: true},
		{name: "NewEmbedded under CI", ci: "true", get: testredis.NewEmbedded, wantKind: testredis.Embedded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			t.Setenv("PATH", t.TempDir())
			for _, env := range []string{testredis.EnvURL, testredis.EnvClusterURL, testredis.EnvTopology} {
				t.Setenv(env, "")
			}
			r := &recorder{TB: t}
			s := tc.get(r)
			if (r.skipped != "") != tc.wantSkipped || (r.failed != "") != tc.wantFailed {
				t.Fatalf("skipped %q, failed %q", r.skipped, r.failed)
			}
			for _, msg := range []string{r.skipped, r.failed} {
				if msg != "" && !strings.Contains(msg, "apt-get install") {
					t.Errorf("message %q does not say how to install redis-server", msg)
				}
			}
			if tc.wantLogMention != strings.Contains(r.logged, "embedded") {
				t.Errorf("logged %q", r.logged)
			}
			if tc.wantKind == "" {
				if s != nil {
					t.Fatalf("got a %s server", s.Kind)
				}
				return
			}
			if s == nil || s.Kind != tc.wantKind {
				t.Fatalf("got %+v, want kind %s", s, tc.wantKind)
			}
			if err := s.Client(t).Ping(context.Background()).Err(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestKillPubSub(t *testing.T) {
	tests := []struct {
		name string
		get  func(testing.TB) *testredis.Server
	}{
		{name: "redis-server", get: testredis.New},
		{name: "cluster", get: testredis.Cluster},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.get(t)
			ctx := context.Background()
			c := s.Client(t)
			sub := c.Subscribe(ctx, s.Prefix+"ch")
			defer sub.Close()
			if _, err := sub.Receive(ctx); err != nil { // the subscription is up
				t.Fatal(err)
			}
			before := pubsubClients(t, c)
			if len(before) == 0 {
				t.Fatal("no pub/sub connection on the server")
			}
			s.KillPubSub(t)
			for id := range pubsubClients(t, c) {
				if before[id] {
					t.Fatalf("pub/sub connection %s survived the kill", id)
				}
			}
			// go-redis notices the kill, reconnects and resubscribes:
			// a message published afterwards still arrives.
			deadline := time.Now().Add(10 * time.Second)
			for {
				if err := c.Publish(ctx, s.Prefix+"ch", "after").Err(); err != nil {
					t.Fatal(err)
				}
				msg, err := sub.ReceiveTimeout(ctx, 200*time.Millisecond)
				if m, ok := msg.(*redis.Message); err == nil && ok && m.Payload == "after" {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("no message after the kill: %v %v", msg, err)
				}
			}
		})
	}
}

// pubsubClients returns the ids of the pub/sub connections on every node.
func pubsubClients(t *testing.T, c redis.UniversalClient) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	list := func(ctx context.Context, c *redis.Client) error {
		out, err := c.Do(ctx, "CLIENT", "LIST", "TYPE", "pubsub").Text()
		for _, line := range strings.Split(out, "\n") {
			if id, _, ok := strings.Cut(line, " "); ok {
				ids[c.Options().Addr+"/"+id] = true
			}
		}
		return err
	}
	var err error
	if cc, ok := c.(*redis.ClusterClient); ok {
		var mu sync.Mutex
		err = cc.ForEachShard(context.Background(), func(ctx context.Context, c *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			return list(ctx, c)
		})
	} else {
		err = list(context.Background(), c.(*redis.Client))
	}
	if err != nil {
		t.Fatal(err)
	}
	return ids
}
