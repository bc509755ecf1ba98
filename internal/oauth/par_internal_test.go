package oauth

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"testing"

	"github.com/oauth2d/oauth2d/internal/storage"
)

// downPushed is a PAR store whose Redis does not answer.
type downPushed struct{}

func (downPushed) SavePushedRequest(context.Context, string, *storage.AuthRequest) error {
	return fmt.Errorf("storage: save pushed request: %w", storage.ErrUnavailable)
}

func (downPushed) GetPushedRequest(context.Context, string) (*storage.AuthRequest, error) {
	return nil, fmt.Errorf("storage: get pushed request: %w", storage.ErrUnavailable)
}

func (downPushed) TakePushedRequest(context.Context, string) (*storage.AuthRequest, error) {
	return nil, fmt.Errorf("storage: take pushed request: %w", storage.ErrUnavailable)
}

// A request_uri that cannot be looked up because Redis is down is a 503
// page (DESIGN §8: never 500), like a client that cannot be loaded.
func TestTakePushedUnavailable(t *testing.T) {
	a := &Authorizer{pushed: downPushed{}, log: slog.New(slog.DiscardHandler)}
	v := url.Values{"client_id": {"app"}, "request_uri": {RequestURIPrefix + "abc"}}
	_, e, pe := a.parseOrTakePushed(context.Background(), v)
	if e != nil || pe == nil {
		t.Fatalf("got %v, %v; want an error page", e, pe)
	}
	if pe.status != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", pe.status)
	}
}
