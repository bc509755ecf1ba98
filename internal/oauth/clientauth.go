package oauth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"golang.org/x/sync/singleflight"

	"github.com/oauth2d/oauth2d/internal/clientmeta"
	"github.com/oauth2d/oauth2d/internal/ratelimit"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// Client authentication methods (RFC 6749 §2.3, RFC 8414 §2).
const (
	authMethodBasic = "client_secret_basic"
	authMethodPost  = "client_secret_post"
	authMethodNone  = "none"
)

// clientCredentials is what a request says about its client, before any of
// it is believed.
type clientCredentials struct {
	id, secret string
	method     string
}

// readClientCredentials finds the client's identity in exactly one place:
// the Basic header (id and secret form-urlencoded first, RFC 6749 §2.3.1),
// the body (client_id + client_secret), or client_id alone for a public
// client. Using two methods at once is refused (RFC 6749 §2.3).
func readClientCredentials(r *http.Request, f form) (clientCredentials, *Error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, payload, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Basic") {
			return clientCredentials{}, ErrInvalidClient.WithDescription("unsupported client authentication scheme")
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(payload))
		if err != nil {
			return clientCredentials{}, ErrInvalidClient.WithDescription("malformed basic credentials")
		}
		rawID, rawSecret, ok := strings.Cut(string(raw), ":")
		id, errID := url.QueryUnescape(rawID)
		sec, errSecret := url.QueryUnescape(rawSecret)
		if !ok || errID != nil || errSecret != nil || id == "" {
			return clientCredentials{}, ErrInvalidClient.WithDescription("malformed basic credentials")
		}
		if len(id) > maxClientIDLen || len(sec) > maxClientSecretLen {
			return clientCredentials{}, ErrInvalidClient
		}
		if f.get("client_secret") != "" {
			return clientCredentials{}, ErrInvalidRequest.WithDescription("more than one client authentication method was used")
		}
		if bodyID := f.get("client_id"); bodyID != "" && bodyID != id {
			return clientCredentials{}, ErrInvalidRequest.WithDescription("client_id does not match the authenticated client")
		}
		return clientCredentials{id: id, secret: sec, method: authMethodBasic}, nil
	}
	id := f.get("client_id")
	if id == "" {
		return clientCredentials{}, ErrInvalidClient.WithDescription("client authentication is required")
	}
	if len(id) > maxClientIDLen || len(f.get("client_secret")) > maxClientSecretLen {
		return clientCredentials{}, ErrInvalidClient
	}
	if sec := f.get("client_secret"); sec != "" {
		return clientCredentials{id: id, secret: sec, method: authMethodPost}, nil
	}
	return clientCredentials{id: id, method: authMethodNone}, nil
}

// clientAuthenticator checks client credentials against the stored hash.
//
// Stored secrets are argon2id hashes, which is right for secrets people
// type but costs milliseconds per check, more than everything else a token
// request does. Once a secret has passed the full check, an HMAC of it under
// a per-process key is kept in memory, bound to the stored hash it matched;
// later requests with the same secret cost one HMAC. A failing secret always
// takes the full check, so guessing stays as slow as the hash makes it, and
// a changed or deleted client misses the cache because its hash differs.
//
// Concurrent requests presenting the same client and secret share one
// full check (a fleet of workers starting at once would otherwise each pay
// for it). Full checks go through the process's secret.Checker, which
// bounds how many run at once and makes an unknown client cost what a
// wrong secret costs; clients with a verified secret never wait for it.
type clientAuthenticator struct {
	clients ClientLookup
	key     [32]byte // per-process HMAC key for the verified-secret cache
	checker *secret.Checker
	flight  singleflight.Group

	mu       sync.RWMutex
	verified map[string]verifiedSecret // client id → last verified secret
	maxCache int
}

type verifiedSecret struct {
	storedHash string
	mac        [sha256.Size]byte
}

func newClientAuthenticator(clients ClientLookup, checker *secret.Checker) (*clientAuthenticator, error) {
	a := &clientAuthenticator{clients: clients, checker: checker, verified: make(map[string]verifiedSecret), maxCache: 10000}
	if _, err := rand.Read(a.key[:]); err != nil {
		return nil, fmt.Errorf("oauth: %w", err)
	}
	return a, nil
}

// authenticate returns the client the request proves to be. Every failure,
// an unknown client included, is the same invalid_client.
func (a *clientAuthenticator) authenticate(ctx context.Context, cc clientCredentials) (*storage.Client, *Error) {
	client, err := a.clients.GetClient(ctx, cc.id)
	if e, ok := errors.AsType[*clientmeta.Error](err); ok {
		if e.RetryAfter > 0 {
			throttled := &ratelimit.Throttled{Budget: ratelimit.BudgetIP, RetryAfter: e.RetryAfter}
			return nil, ErrTooManyRequests.retryAfter(throttled.RetryAfterSeconds()).Wrap(e)
		}
		return nil, ErrInvalidClient.WithDescription(e.Reason)
	}
	if errors.Is(err, storage.ErrNotFound) {
		if cc.secret != "" {
			_, _ = a.checker.Check(ctx, "", cc.secret)
		}
		return nil, ErrInvalidClient
	}
	if err != nil {
		return nil, ErrServerError.Wrap(err)
	}
	if client.Public {
		// Some libraries always send Basic, with an empty password for a
		// public client: that identifies the client as client_id would.
		// A non-empty secret is a confused client and is refused.
		if cc.secret != "" {
			return nil, ErrInvalidClient.WithDescription("a public client does not authenticate with a secret")
		}
		return client, nil
	}
	if cc.method == authMethodNone || client.SecretHash == "" {
		return nil, ErrInvalidClient
	}
	ok, err := a.verifySecret(ctx, client, cc.secret)
	if err != nil {
		return nil, ErrServerError.Wrap(err)
	}
	if !ok {
		return nil, ErrInvalidClient
	}
	return client, nil
}

func (a *clientAuthenticator) verifySecret(ctx context.Context, client *storage.Client, presented string) (bool, error) {
	mac := a.mac(presented)
	a.mu.RLock()
	v, cached := a.verified[client.ID]
	a.mu.RUnlock()
	if cached && v.storedHash == client.SecretHash && hmac.Equal(v.mac[:], mac[:]) {
		return true, nil
	}
	key := client.ID + "\x00" + client.SecretHash + "\x00" + string(mac[:])
	// The shared check must not fail for everyone because the request
	// that happened to start it went away.
	shared := context.WithoutCancel(ctx)
	res, err, _ := a.flight.Do(key, func() (any, error) {
		return a.checker.Check(shared, client.SecretHash, presented)
	})
	if ok, _ := res.(bool); err != nil || !ok {
		return false, err
	}
	a.mu.Lock()
	if len(a.verified) >= a.maxCache {
		clear(a.verified) // crude but bounded; a miss only costs one full check
	}
	a.verified[client.ID] = verifiedSecret{storedHash: client.SecretHash, mac: mac}
	a.mu.Unlock()
	return true, nil
}

func (a *clientAuthenticator) mac(s string) [sha256.Size]byte {
	m := hmac.New(sha256.New, a.key[:])
	m.Write([]byte(s))
	var out [sha256.Size]byte
	m.Sum(out[:0])
	return out
}

// withChallenge adds the WWW-Authenticate header RFC 6749 §5.2 requires on
// a 401 invalid_client.
func withChallenge(w http.ResponseWriter, e *Error) {
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="oauth2d", charset="UTF-8"`)
	}
}
