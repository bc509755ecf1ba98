package web_test

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// When Redis does not answer the fetch budget, a document not yet cached
// is not fetched: the authorization endpoint shows the 503 page and the
// token endpoint answers temporarily_unavailable, both with Retry-After,
// never a 500 or an unbudgeted fetch; once Redis answers, the same
// request goes through (the failure left nothing behind), and a cached
// document needs no Redis at all.
func TestClientIDMetadataWhenRedisStalls(t *testing.T) {
	docs := webtest.NewDocumentServer(t)
	s := webtest.New(t, webtest.Options{ClientIDMetadata: documentSettings(), DocumentRoots: docs.Roots})
	docs.ServeDocument(t, "/stall.json", webtest.PublicDocument("Stall", s.RedirectURI), nil)
	id := docs.ClientID("/stall.json")
	stall := &stallBudget{}
	stall.on.Store(true)
	s.Store.Redis().AddHook(stall)

	b := s.NewBrowser(t)
	params, _ := webtest.CodeRequest(id, "openid")
	if p := b.Get("/oauth2/authorize?" + params.Encode()); p.Status != http.StatusServiceUnavailable || p.Header.Get("Retry-After") == "" {
		t.Fatalf("authorize while the budget stalls: %d Retry-After=%q, want 503 with Retry-After", p.Status, p.Header.Get("Retry-After"))
	}
	tok := s.PostToken(t, url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "redirect_uri": {s.RedirectURI}}, id, "")
	if tok.Status != http.StatusServiceUnavailable || tok.Str("error") != "temporarily_unavailable" {
		t.Fatalf("token endpoint while the budget stalls: %d %s", tok.Status, tok.Raw)
	}
	if n := docs.Fetches("/stall.json"); n != 0 {
		t.Fatalf("fetched %d times without a budget", n)
	}

	stall.on.Store(false)
	if p := b.Get("/oauth2/authorize?" + params.Encode()); p.Status != http.StatusSeeOther && p.Status != http.StatusFound {
		t.Fatalf("authorize once Redis answers: %d %s", p.Status, p.Body)
	}
	stall.on.Store(true)
	if p := b.Get("/oauth2/authorize?" + params.Encode()); p.Status != http.StatusSeeOther && p.Status != http.StatusFound {
		t.Fatalf("a cached document needs the budget: %d %s", p.Status, p.Body)
	}
}

// stallBudget fails, while on, every command on a document-fetch budget
// key as a Redis that stopped answering does: with a network timeout.
type stallBudget struct{ on atomic.Bool }

func (*stallBudget) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *stallBudget) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.on.Load() && h.budgetKey(cmd) {
			err := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}

func (h *stallBudget) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			if h.on.Load() && h.budgetKey(cmd) {
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

func (*stallBudget) budgetKey(cmd redis.Cmder) bool {
	for _, a := range cmd.Args() {
		if s, ok := a.(string); ok && strings.Contains(s, "cimd:budget:") {
			return true
		}
	}
	return false
}
