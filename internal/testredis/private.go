package testredis

import (
	"net"
	"os/exec"
	"strconv"
	"syscall"
	"testing"

	"github.com/oauth2d/oauth2d/internal/testenv/prereq"
)

// Private is a redis-server of one test's own, for fault injection: the
// test may stop it (SIGSTOP, a stall), resume it, or kill it and start it
// again empty on the same port, without disturbing the servers other
// tests share. It runs without persistence, as the one New starts.
type Private struct {
	*Server
	port int
	p    *proc
}

// NewPrivate starts a redis-server for t alone, stopped when t ends.
// Without redis-server on PATH the test is skipped (it fails under CI,
// see prereq): the embedded Redis cannot be stopped or killed, so fault
// tests have nothing to inject faults into.
func NewPrivate(t testing.TB) *Private {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		prereq.Missing(t, "redis-server", "not on PATH: fault-injection tests need a redis-server they can stop and kill", redisInstall)
		return nil
	}
	p, err := shared.startRedis(false)
	if err != nil {
		t.Fatal(err)
	}
	_, portStr, _ := net.SplitHostPort(p.addr)
	port, _ := strconv.Atoi(portStr)
	r := &Private{Server: &Server{URL: "redis://" + p.addr + "/0", Prefix: newPrefix(), Kind: Process}, port: port, p: p}
	t.Cleanup(func() { r.p.stop() })
	return r
}

// Pause stops the server with SIGSTOP: connections stay open and commands
// queue unanswered, as in a stall (a long fork, a swapping host, a
// network partition that keeps TCP up).
func (r *Private) Pause(t testing.TB) {
	t.Helper()
	if err := r.p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("testredis: SIGSTOP: %v", err)
	}
}

// Resume continues a paused server (SIGCONT); it then runs every command
// that queued meanwhile.
func (r *Private) Resume(t testing.TB) {
	t.Helper()
	if err := r.p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatalf("testredis: SIGCONT: %v", err)
	}
}

// RestartEmpty kills the server (SIGKILL) and starts a new one on the same
// port with no data, as a restart without persistence or a failover to an
// empty replica does.
func (r *Private) RestartEmpty(t testing.TB) {
	t.Helper()
	r.p.stop()
	p, err := shared.startRedisOn(r.port)
	if err != nil {
		t.Fatalf("testredis: restart on port %d: %v", r.port, err)
	}
	r.p = p
}
