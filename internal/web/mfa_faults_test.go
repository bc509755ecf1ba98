package web_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// When Redis stops answering for the second-factor records, the password
// step and the second-factor step answer 503 with Retry-After (never 500,
// never signed in), and a code refused that way was not spent: it signs
// in once Redis answers again.
func TestSecondFactorWhenRedisStalls(t *testing.T) {
	clock := newTestClock()
	s := webtest.New(t, webtest.Options{Now: clock.Now})
	b := s.NewBrowser(t)
	signInPassword(t, b, "alice", webtest.AlicePassword)
	secret, _ := enrolTOTP(t, b, clock)
	clock.Advance(30 * time.Second)

	stall := &stallKeys{prefix: s.Store.Prefix() + "mfa:"}
	s.Store.Redis().AddHook(stall)
	b2 := s.NewBrowser(t)
	login := b2.Get("/login")
	stall.on.Store(true)
	p := b2.SubmitLogin(login, "alice", webtest.AlicePassword)
	if p.Status != http.StatusServiceUnavailable || p.Header.Get("Retry-After") == "" {
		t.Fatalf("password step with Redis stalled: %d (Retry-After %q)", p.Status, p.Header.Get("Retry-After"))
	}
	stall.on.Store(false)
	p = b2.SubmitLogin(b2.Get("/login"), "alice", webtest.AlicePassword)
	code := totpCode(t, secret, clock)
	stall.on.Store(true)
	if got := b2.SubmitSecondFactor(p, "totp", code); got.Status != http.StatusServiceUnavailable || got.Header.Get("Retry-After") == "" {
		t.Fatalf("second-factor step with Redis stalled: %d (Retry-After %q)", got.Status, got.Header.Get("Retry-After"))
	}
	if acc := b2.Get("/account/consents"); acc.Status != http.StatusFound {
		t.Fatalf("signed in while Redis stalled: %d", acc.Status)
	}
	stall.on.Store(false)
	if got := b2.SubmitSecondFactor(p, "totp", code); got.Status != http.StatusOK || !strings.Contains(got.Body, "connected applications") {
		t.Fatalf("the same code once Redis answers: %d", got.Status)
	}
}

// stallKeys fails, while on, every command and pipeline naming a key
// under prefix as a Redis that stopped answering does: with a network
// timeout, before anything is sent.
type stallKeys struct {
	prefix string
	on     atomic.Bool
}

func (h *stallKeys) hit(cmd redis.Cmder) bool {
	if !h.on.Load() {
		return false
	}
	for _, a := range cmd.Args() {
		if s, ok := a.(string); ok && strings.HasPrefix(s, h.prefix) {
			return true
		}
	}
	return false
}

func stallErr() error { return &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded} }

func (h *stallKeys) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *stallKeys) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.hit(cmd) {
			cmd.SetErr(stallErr())
			return cmd.Err()
		}
		return next(ctx, cmd)
	}
}

func (h *stallKeys) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			if h.hit(cmd) {
				for _, c := range cmds {
					c.SetErr(stallErr())
				}
				return stallErr()
			}
		}
		return next(ctx, cmds)
	}
}
