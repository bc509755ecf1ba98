package oauth

import (
	"context"
	"errors"
	"slices"

	"github.com/oauth2d/oauth2d/internal/storage"
)

// rememberSessionClient notes that the client is being signed in through
// the browser session, so that the session's end reaches it (OIDC
// Back-Channel Logout 1.0 §2.3). Only an OpenID request signs a client in:
// its ID token carries the sid a logout token will name. A failure costs
// the client its logout token, not the user their sign-in: it is logged.
func (a *Authorizer) rememberSessionClient(ctx context.Context, sess *storage.BrowserSession, client *storage.Client, scope []string) {
	if sess.SID == "" || !slices.Contains(scope, ScopeOpenID) {
		return
	}
	err := a.store.AddSessionClient(ctx, sess.SID, client.ID, client.Generation)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		a.log.WarnContext(ctx, "oauth: remember the session's client; it will not be told when the session ends",
			"client_id", client.ID, "err", err)
	}
}
