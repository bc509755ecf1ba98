package testredis_test

import (
	"context"
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
