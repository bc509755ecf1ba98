package web_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
)

// When Redis does not answer for the passkey records or the used
// challenges, a passkey sign-in is the 503 page with Retry-After, not a
// refusal of the passkey and not a 500, and signs nobody in; once Redis
// answers again the passkey works.
func TestPasskeySignInWhenRedisStalls(t *testing.T) {
	for _, stalled := range []string{"{users}:passkey", "webauthn-used:"} {
		t.Run(stalled, func(t *testing.T) {
			w := newPasskeyWorld(t)
			s := w.s
			if stalled == "webauthn-used:" && strings.Contains(s.RedisURL, ",") {
				// Left for the next session (see the closing note): on a
				// Cluster the hook on Store.Redis() does not see the write
				// of the used-challenge record.
				t.Skip("on a Redis Cluster, never-re-sent scripts go to the node clients (runScriptOnce), which a hook on Store.Redis() does not wrap")
			}
			hook := &stallKeys{part: stalled}
			s.Store.Redis().AddHook(hook)
			b, login := w.loginPage(t)
			cred, err := w.a.Get(login.PasskeyOptions())
			if err != nil {
				t.Fatal(err)
			}
			hook.on.Store(true)
			p := b.SubmitPasskey(login, cred)
			hook.on.Store(false)
			if p.Status != http.StatusServiceUnavailable || p.Header.Get("Retry-After") == "" {
				t.Fatalf("got %d Retry-After=%q, want 503 with Retry-After:\n%s", p.Status, p.Header.Get("Retry-After"), p.Body)
			}
			if sessionCookie(t, s, b) != nil {
				t.Fatal("signed in while Redis stalled")
			}
			if k := w.stored(t); !k.LastUsedAt.IsZero() {
				t.Fatalf("the passkey was marked used: %+v", k)
			}
			b, login = w.loginPage(t)
			if p := b.SignInWithPasskey(login, w.a); p.Status != http.StatusOK || !strings.Contains(p.Body, "connected applications") {
				t.Fatalf("after the stall: %d %s", p.Status, p.Body)
			}
		})
	}
}

// stallKeys fails every command that names a key containing part, while
// on, as a Redis that stopped answering does: with a network timeout.
type stallKeys struct {
	part string
	on   atomic.Bool
}

func (*stallKeys) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *stallKeys) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.on.Load() && h.names(cmd) {
			err := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}
func (h *stallKeys) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			if h.on.Load() && h.names(cmd) {
				err := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
				for _, c := range cmds {
					c.SetErr(err)
				}
				return err
			}
		}
		return next(ctx, cmds)
	}
}

func (h *stallKeys) names(cmd redis.Cmder) bool {
	for _, a := range cmd.Args()[1:] {
		if s, ok := a.(string); ok && strings.Contains(s, h.part) {
			return true
		}
	}
	return false
}

// The same for a passkey as the second factor: a stalled Redis while the
// assertion is checked is the 503 page, not a refusal; the pending sign-in
// stays pending and the passkey unused, and the page's next ceremony
// passes once Redis answers.
func TestSecondFactorPasskeyWhenRedisStalls(t *testing.T) {
	for _, stalled := range []string{"{users}:passkey", "webauthn-used:"} {
		t.Run(stalled, func(t *testing.T) {
			w := newPasskeyWorld(t)
			if stalled == "webauthn-used:" && strings.Contains(w.s.RedisURL, ",") {
				t.Skip("on a Redis Cluster, never-re-sent scripts go to the node clients (runScriptOnce), which a hook on Store.Redis() does not wrap")
			}
			hook := &stallKeys{part: stalled}
			w.s.Store.Redis().AddHook(hook)
			b, p, _ := passkeySecondFactorPage(t, w)
			cred, err := w.a.Get(p.PasskeyOptions())
			if err != nil {
				t.Fatal(err)
			}
			hook.on.Store(true)
			got := b.SubmitSecondFactorPasskey(p, cred)
			hook.on.Store(false)
			if got.Status != http.StatusServiceUnavailable || got.Header.Get("Retry-After") == "" {
				t.Fatalf("got %d Retry-After=%q, want 503 with Retry-After:\n%s", got.Status, got.Header.Get("Retry-After"), got.Body)
			}
			if acc := b.Get("/account/consents"); acc.Status != http.StatusFound {
				t.Fatalf("signed in while Redis stalled: %d", acc.Status)
			}
			if k := w.stored(t); !k.LastUsedAt.IsZero() {
				t.Fatalf("the passkey was marked used: %+v", k)
			}
			again := b.Get("/login/second-factor?req=" + p.Hidden("req"))
			cred, err = w.a.Get(again.PasskeyOptions())
			if err != nil {
				t.Fatal(err)
			}
			if got := b.SubmitSecondFactorPasskey(again, cred); got.Status != http.StatusSeeOther {
				t.Fatalf("after the stall: %d %s", got.Status, got.Body)
			}
		})
	}
}
