package testredis

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth2d/oauth2d/internal/testenv/prereq"
)

// Failover tests kill a master and watch oauth2d follow the promotion.
// The deployments here belong to one test each: killing a node of the
// shared Cluster would break every other test.

// nodeSet is the servers of one deployment, found by address so that a
// test can kill the one that is master now.
type nodeSet struct {
	mu    sync.Mutex
	procs map[string]*proc
}

func (n *nodeSet) add(p *proc) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.procs == nil {
		n.procs = map[string]*proc{}
	}
	n.procs[p.addr] = p
}

// kill sends SIGKILL to the server at addr: no goodbye to its peers or
// clients, as when a host dies.
func (n *nodeSet) kill(t testing.TB, addr string) {
	t.Helper()
	n.mu.Lock()
	p := n.procs[addr]
	delete(n.procs, addr)
	n.mu.Unlock()
	if p == nil {
		t.Fatalf("testredis: no server of this deployment at %s", addr)
	}
	p.stop()
}

// signal pauses (SIGSTOP) or resumes (SIGCONT) the server at addr.
func (n *nodeSet) signal(t testing.TB, addr string, sig syscall.Signal) {
	t.Helper()
	n.mu.Lock()
	p := n.procs[addr]
	n.mu.Unlock()
	if p == nil {
		t.Fatalf("testredis: no server of this deployment at %s", addr)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("testredis: %v to %s: %v", sig, addr, err)
	}
}

func (n *nodeSet) stopAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range n.procs {
		p.stop()
	}
	n.procs = nil
}

// FailoverCluster is a Redis Cluster of three masters with replicas, for
// one test alone.
type FailoverCluster struct {
	*Server
	nodes nodeSet
}

// NewFailoverCluster starts a Cluster of 3 masters with replicas each
// whose nodes declare a silent peer failed after nodeTimeout
// (cluster-node-timeout), and waits until every replica has synced. It is stopped when t ends.
// Without redis-server and redis-cli the test is skipped (fails under CI);
// a redis-server that cannot run in cluster mode skips it.
func NewFailoverCluster(t testing.TB, nodeTimeout time.Duration, replicas int) *FailoverCluster {
	t.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			prereq.Missing(t, bin, "not on PATH: failover tests start a Cluster with replicas", redisInstall)
			return nil
		}
	}
	c := &FailoverCluster{}
	t.Cleanup(c.nodes.stopAll)
	n := 3 * (1 + replicas)
	addrs := make([]string, 0, n)
	for range n {
		p, err := shared.startRedis(true,
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", strconv.FormatInt(nodeTimeout.Milliseconds(), 10))
		if err != nil {
			t.Skipf("testredis: redis-server does not start in cluster mode: %v", err)
		}
		c.nodes.add(p)
		addrs = append(addrs, p.addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	if out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput(); err != nil {
		t.Skipf("testredis: redis-cli --cluster create with replicas: %v: %s", err, out)
	}
	for _, addr := range addrs {
		if err := waitNode(ctx, addr, func(c *redis.Client) bool {
			info, err := c.ClusterInfo(ctx).Result()
			if err != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(n)) {
				return false
			}
			repl, err := c.Info(ctx, "replication").Result()
			return err == nil && (strings.Contains(repl, "role:master") || strings.Contains(repl, "master_link_status:up"))
		}); err != nil {
			t.Fatal(err)
		}
	}
	c.Server = &Server{URL: strings.Join(addrs, ","), Prefix: newPrefix(), Kind: Cluster3}
	return c
}

// MasterOf asks the surviving nodes, in turn, which node serves slot:
// the address the first one that answers names.
func (c *FailoverCluster) MasterOf(ctx context.Context, slot int) (string, error) {
	nodes, err := c.NodesOf(ctx, slot)
	if err != nil {
		return "", err
	}
	return nodes[0], nil
}

// NodesOf is MasterOf followed by the master's replicas.
func (c *FailoverCluster) NodesOf(ctx context.Context, slot int) ([]string, error) {
	c.nodes.mu.Lock()
	addrs := make([]string, 0, len(c.nodes.procs))
	for a := range c.nodes.procs {
		addrs = append(addrs, a)
	}
	c.nodes.mu.Unlock()
	var lastErr error
	for _, a := range addrs {
		n := redis.NewClient(&redis.Options{Addr: a, MaxRetries: -1, DialTimeout: 200 * time.Millisecond, ReadTimeout: 500 * time.Millisecond})
		slots, err := n.ClusterSlots(ctx).Result()
		_ = n.Close()
		if err != nil {
			lastErr = err
			continue
		}
		for _, s := range slots {
			if s.Start <= slot && slot <= s.End && len(s.Nodes) > 0 {
				addrs := make([]string, 0, len(s.Nodes))
				for _, n := range s.Nodes {
					addrs = append(addrs, n.Addr)
				}
				return addrs, nil
			}
		}
		lastErr = fmt.Errorf("testredis: slot %d not served", slot)
	}
	return nil, lastErr
}

// SlotOf asks a node which slot key hashes to.
func (c *FailoverCluster) SlotOf(ctx context.Context, key string) (int, error) {
	nodes, err := c.NodesOf(ctx, 0)
	if err != nil {
		return 0, err
	}
	n := redis.NewClient(&redis.Options{Addr: nodes[0]})
	defer n.Close()
	slot, err := n.ClusterKeySlot(ctx, key).Result()
	return int(slot), err
}

// Kill sends SIGKILL to the node at addr.
func (c *FailoverCluster) Kill(t testing.TB, addr string) { c.nodes.kill(t, addr) }

// Pause stops the node at addr (SIGSTOP): a replica paused falls behind
// its master, as across a slow link.
func (c *FailoverCluster) Pause(t testing.TB, addr string) { c.nodes.signal(t, addr, syscall.SIGSTOP) }

// Resume continues a paused node (SIGCONT).
func (c *FailoverCluster) Resume(t testing.TB, addr string) { c.nodes.signal(t, addr, syscall.SIGCONT) }

// CutReplicas closes the master's links to its replicas. A replica that
// is paused cannot link again: what the master writes from then on exists
// on the master alone, as when a replica falls behind across a slow link.
func (c *FailoverCluster) CutReplicas(t testing.TB, master string) {
	t.Helper()
	n := redis.NewClient(&redis.Options{Addr: master})
	defer n.Close()
	if err := n.Do(context.Background(), "CLIENT", "KILL", "TYPE", "replica").Err(); err != nil {
		t.Fatalf("testredis: CLIENT KILL TYPE replica on %s: %v", master, err)
	}
}

// SentinelGroup is a master with one replica watched by three sentinels,
// for one test alone. Its URL is the go-redis failover form
// storage.Options takes.
type SentinelGroup struct {
	*Server
	nodes     nodeSet
	sentinels []string
}

// SentinelMaster is the name the sentinels monitor.
const SentinelMaster = "oauth2d"

// NewSentinelGroup starts a master, a replica and three sentinels (quorum
// 2) that consider the master down after downAfter, and waits until the
// replica has synced and every sentinel knows the others and the
// replica. It is stopped when t ends.
func NewSentinelGroup(t testing.TB, downAfter time.Duration) *SentinelGroup {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		prereq.Missing(t, "redis-server", "not on PATH: failover tests start a Sentinel deployment", redisInstall)
		return nil
	}
	g := &SentinelGroup{}
	t.Cleanup(g.nodes.stopAll)
	master, err := shared.startRedis(false)
	if err != nil {
		t.Fatal(err)
	}
	g.nodes.add(master)
	host, port, _ := net.SplitHostPort(master.addr)
	replica, err := shared.startRedis(false, "--replicaof", host, port)
	if err != nil {
		t.Fatal(err)
	}
	g.nodes.add(replica)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := waitNode(ctx, replica.addr, func(c *redis.Client) bool {
		repl, err := c.Info(ctx, "replication").Result()
		return err == nil && strings.Contains(repl, "master_link_status:up")
	}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for i := range 3 {
		conf := filepath.Join(dir, fmt.Sprintf("sentinel-%d.conf", i))
		body := fmt.Sprintf("sentinel monitor %[1]s %[2]s %[3]s 2\n"+
			"sentinel down-after-milliseconds %[1]s %[4]d\n"+
			"sentinel failover-timeout %[1]s 10000\n", SentinelMaster, host, port, downAfter.Milliseconds())
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := startSentinel(conf)
		if err != nil {
			t.Skipf("testredis: redis-server does not start as a sentinel: %v", err)
		}
		g.nodes.add(s)
		g.sentinels = append(g.sentinels, s.addr)
	}
	for _, addr := range g.sentinels {
		if err := waitNode(ctx, addr, func(c *redis.Client) bool {
			m, err := c.Do(ctx, "SENTINEL", "MASTER", SentinelMaster).Result()
			fields, _ := m.(map[any]any)
			if l, ok := m.([]any); ok {
				fields = map[any]any{}
				for i := 0; i+1 < len(l); i += 2 {
					fields[l[i]] = l[i+1]
				}
			}
			return err == nil && fields["num-other-sentinels"] == "2" && fields["num-slaves"] == "1"
		}); err != nil {
			t.Fatal(err)
		}
	}
	url := "redis://" + g.sentinels[0] + "?master_name=" + SentinelMaster
	for _, a := range g.sentinels[1:] {
		url += "&addr=" + a
	}
	g.Server = &Server{URL: url, Prefix: newPrefix(), Kind: Process}
	return g
}

func startSentinel(conf string) (*proc, error) {
	var lastErr error
	for range 5 {
		port, err := freePort(false)
		if err != nil {
			return nil, err
		}
		p, err := shared.startConfigured(port, conf, "--sentinel")
		if err == nil {
			return p, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

// Master asks the sentinels, in turn, for the master's address.
func (g *SentinelGroup) Master(ctx context.Context) (string, error) {
	var lastErr error
	for _, a := range g.sentinels {
		s := redis.NewSentinelClient(&redis.Options{Addr: a, MaxRetries: -1, DialTimeout: 200 * time.Millisecond, ReadTimeout: 500 * time.Millisecond})
		hp, err := s.GetMasterAddrByName(ctx, SentinelMaster).Result()
		_ = s.Close()
		if err != nil {
			lastErr = err
			continue
		}
		return net.JoinHostPort(hp[0], hp[1]), nil
	}
	return "", lastErr
}

// Kill sends SIGKILL to the server at addr.
func (g *SentinelGroup) Kill(t testing.TB, addr string) { g.nodes.kill(t, addr) }

// waitNode polls the server at addr until ok says it is as wanted.
func waitNode(ctx context.Context, addr string, ok func(*redis.Client) bool) error {
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	for !ok(c) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("testredis: %s not ready in time", addr)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}
