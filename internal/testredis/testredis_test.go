package testredis_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

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
