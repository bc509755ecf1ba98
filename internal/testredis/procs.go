package testredis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// proc is one redis-server this package started.
type proc struct {
	addr   string
	dir    string
	cmd    *exec.Cmd
	out    *lockedBuffer
	exited chan struct{}
}

// lockedBuffer collects a server's output for failure messages.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// spawner starts child processes from one goroutine locked to its OS
// thread for the life of the process: the parent-death signal fires when
// the thread that forked the child exits, so the forking thread must
// outlive every test.
type spawner struct {
	once sync.Once
	reqs chan spawnReq
}

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

func (s *spawner) start(cmd *exec.Cmd) error {
	s.once.Do(func() {
		s.reqs = make(chan spawnReq)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives as long as the process
			for r := range s.reqs {
				setParentDeathSignal(r.cmd)
				r.done <- r.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	s.reqs <- spawnReq{cmd: cmd, done: done}
	return <-done
}

// startRedis starts redis-server on a free loopback port with persistence
// off and extra arguments, and waits until it answers PING. A lost race
// for the port is retried on another port.
func (r *registry) startRedis(needBusPort bool, extra ...string) (*proc, error) {
	var lastErr error
	for range 5 {
		p, err := r.tryStartRedis(needBusPort, extra...)
		if err == nil {
			return p, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func (r *registry) tryStartRedis(needBusPort bool, extra ...string) (*proc, error) {
	port, err := freePort(needBusPort)
	if err != nil {
		return nil, err
	}
	return r.startRedisOn(port, extra...)
}

// startRedisOn starts redis-server on port (persistence off) and waits
// until it answers.
func (r *registry) startRedisOn(port int, extra ...string) (*proc, error) {
	return r.startConfigured(port, "", extra...)
}

// startConfigured is startRedisOn with a config file first on the command
// line, where redis-server wants it (a sentinel must have one it can
// rewrite); conf "" means none.
func (r *registry) startConfigured(port int, conf string, extra ...string) (*proc, error) {
	dir, err := os.MkdirTemp("", "testredis-")
	if err != nil {
		return nil, fmt.Errorf("testredis: %w", err)
	}
	var args []string
	if conf != "" {
		args = append(args, conf)
	}
	args = append(args,
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no",
	)
	p := &proc{
		addr:   net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		dir:    dir,
		cmd:    exec.Command("redis-server", append(args, extra...)...),
		out:    &lockedBuffer{},
		exited: make(chan struct{}),
	}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := r.spawn.start(p.cmd); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("testredis: start redis-server: %w", err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	if err := p.waitReady(5 * time.Second); err != nil {
		p.stop()
		return nil, err
	}
	r.track(p)
	return p, nil
}

func (p *proc) waitReady(timeout time.Duration) error {
	c := redis.NewClient(&redis.Options{Addr: p.addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("testredis: redis-server on %s exited: %s", p.addr, p.out.String())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testredis: redis-server on %s not ready: %v: %s", p.addr, err, p.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *proc) stop() {
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	_ = os.RemoveAll(p.dir)
}

// freePort finds a loopback port nobody listens on; for cluster nodes the
// bus port (port+10000) must be free as well.
func freePort(needBusPort bool) (int, error) {
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("testredis: free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if !needBusPort {
			return port, nil
		}
		if port+10000 > 65535 {
			continue
		}
		bus, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+10000)))
		if err != nil {
			continue
		}
		_ = bus.Close()
		return port, nil
	}
	return 0, errors.New("testredis: no free port pair for a cluster node")
}
