package testredis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/oauth2d/oauth2d/internal/testenv/prereq"
)

// Kind says where a Server's Redis comes from.
type Kind string

const (
	External Kind = "external"     // OAUTH2D_TEST_REDIS_URL / OAUTH2D_TEST_REDIS_CLUSTER_URL
	Process  Kind = "redis-server" // a redis-server this package started
	Cluster3 Kind = "cluster"      // a 3-master cluster this package started
	Embedded Kind = "miniredis"    // in-process fallback
)

// Environment variables read by New and Cluster.
const (
	EnvURL        = "OAUTH2D_TEST_REDIS_URL"
	EnvClusterURL = "OAUTH2D_TEST_REDIS_CLUSTER_URL" // comma-separated host:port seeds
	// EnvTopology=cluster makes New return Cluster, so that whole suites
	// written for one server also run on a Cluster (CI does).
	EnvTopology = "OAUTH2D_TEST_REDIS_TOPOLOGY"
)

// Server is a Redis one test may use under its own key prefix.
type Server struct {
	// URL is what storage.Options.URL takes: "redis://127.0.0.1:port/0",
	// or a comma-separated host:port list for a cluster.
	URL string
	// Prefix is unique per call ("t-<16 hex>:"); every key the test
	// writes must start with it.
	Prefix string
	Kind   Kind
	// Mini is the embedded server when Kind == Embedded (tests may
	// FastForward it), else nil.
	Mini *miniredis.Miniredis
}

// IsCluster reports whether URL names a cluster.
func (s *Server) IsCluster() bool { return strings.Contains(s.URL, ",") }

// Client returns a go-redis client for the server, closed when the test
// ends.
func (s *Server) Client(t testing.TB) redis.UniversalClient {
	t.Helper()
	var c redis.UniversalClient
	if s.IsCluster() {
		c = redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(s.URL, ",")})
	} else {
		opts, err := redis.ParseURL(s.URL)
		if err != nil {
			t.Fatalf("testredis: %v", err)
		}
		c = redis.NewClient(opts)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// registry holds the servers started for this test binary. It is package
// state on purpose: starting one redis-server per test binary (not per
// test) is what keeps the suites fast, and Main needs to find them.
type registry struct {
	spawn spawner

	mu    sync.Mutex
	procs []*proc

	single     sync.Once
	singleURL  string
	singleErr  error
	cluster    sync.Once
	clusterURL string
	clusterErr error
}

var shared = &registry{}

func (r *registry) track(p *proc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.procs = append(r.procs, p)
}

func (r *registry) stopAll() {
	r.mu.Lock()
	procs := r.procs
	r.procs = nil
	r.mu.Unlock()
	for _, p := range procs {
		p.stop()
	}
}

// Main runs the tests and then stops every server this package started.
// Call it from TestMain: func TestMain(m *testing.M) { testredis.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	shared.stopAll()
	os.Exit(code)
}

// New returns a Redis for t with a fresh prefix (see the package doc for
// where it comes from). Under CI it never falls back to the embedded
// Redis: without redis-server the test fails (see prereq).
func New(t testing.TB) *Server {
	t.Helper()
	if os.Getenv(EnvTopology) == "cluster" {
		return Cluster(t)
	}
	if url := os.Getenv(EnvURL); url != "" {
		return &Server{URL: url, Prefix: newPrefix(), Kind: External}
	}
	if _, err := exec.LookPath("redis-server"); err == nil {
		shared.single.Do(func() {
			p, err := shared.startRedis(false)
			if err != nil {
				shared.singleErr = err
				return
			}
			shared.singleURL = "redis://" + p.addr + "/0"
		})
		if shared.singleErr != nil {
			t.Fatal(shared.singleErr)
		}
		return &Server{URL: shared.singleURL, Prefix: newPrefix(), Kind: Process}
	}
	if prereq.CI() {
		prereq.Missing(t, "redis-server", "not on PATH and "+EnvURL+" unset", redisInstall)
		return nil
	}
	s := NewEmbedded(t)
	t.Logf("testredis: redis-server not on PATH and %s unset: using embedded miniredis", EnvURL)
	return s
}

// redisInstall says how to get the programs New and Cluster start.
const redisInstall = "apt-get install -y redis-server redis-tools"

// NewEmbedded returns an in-process miniredis for t alone, for a test that
// wants the embedded Redis whatever the machine has (New under CI never
// gives it).
func NewEmbedded(t testing.TB) *Server {
	t.Helper()
	m := miniredis.NewMiniRedis()
	if err := m.Start(); err != nil {
		t.Fatalf("testredis: start miniredis: %v", err)
	}
	// TTLs follow the wall clock, as on a real server.
	m.ClockTTL(true)
	t.Cleanup(m.Close)
	return &Server{URL: "redis://" + m.Addr() + "/0", Prefix: newPrefix(), Kind: Embedded, Mini: m}
}

// Cluster returns a real 3-master Redis Cluster with a fresh prefix:
// OAUTH2D_TEST_REDIS_CLUSTER_URL if set, else one started (once per test
// binary) from redis-server and redis-cli on PATH. Without them the test
// is skipped, or fails under CI (see prereq).
func Cluster(t testing.TB) *Server {
	t.Helper()
	if url := os.Getenv(EnvClusterURL); url != "" {
		return &Server{URL: url, Prefix: newPrefix(), Kind: External}
	}
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			prereq.Missing(t, bin, "not on PATH and "+EnvClusterURL+" unset: cannot start a Redis Cluster", redisInstall)
			return nil
		}
	}
	shared.cluster.Do(func() {
		shared.clusterURL, shared.clusterErr = shared.startCluster()
	})
	if shared.clusterErr != nil {
		t.Fatal(shared.clusterErr)
	}
	return &Server{URL: shared.clusterURL, Prefix: newPrefix(), Kind: Cluster3}
}

func (r *registry) startCluster() (string, error) {
	addrs := make([]string, 0, 3)
	for range 3 {
		p, err := r.startRedis(true,
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "3000")
		if err != nil {
			return "", err
		}
		addrs = append(addrs, p.addr)
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("testredis: redis-cli --cluster create: %v: %s", err, out)
	}
	if err := waitClusterOK(ctx, addrs); err != nil {
		return "", err
	}
	return strings.Join(addrs, ","), nil
}

// waitClusterOK waits until every node reports cluster_state:ok and sees
// all three masters, so the first test does not race slot propagation.
func waitClusterOK(ctx context.Context, addrs []string) error {
	for _, addr := range addrs {
		c := redis.NewClient(&redis.Options{Addr: addr})
		var info string
		var err error
		for {
			info, err = c.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") &&
				strings.Contains(info, "cluster_known_nodes:3") {
				break
			}
			select {
			case <-ctx.Done():
				_ = c.Close()
				return fmt.Errorf("testredis: cluster node %s not ready: %v %s", addr, err, info)
			case <-time.After(50 * time.Millisecond):
			}
		}
		_ = c.Close()
	}
	return nil
}

func newPrefix() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "t-" + hex.EncodeToString(b) + ":"
}
