package oauth

import (
	"cmp"
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
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/oauth2d/oauth2d/internal/audit"
	"github.com/oauth2d/oauth2d/internal/clientmeta"
	"github.com/oauth2d/oauth2d/internal/ratelimit"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// Client authentication methods (RFC 6749 §2.3, RFC 8414 §2, OpenID
// Connect Core §9).
const (
	authMethodBasic         = storage.AuthMethodSecretBasic
	authMethodPost          = storage.AuthMethodSecretPost
	authMethodPrivateKeyJWT = storage.AuthMethodPrivateKeyJWT
	authMethodNone          = storage.AuthMethodNone
)

// clientCredentials is what a request says about its client, before any of
// it is believed.
type clientCredentials struct {
	id, secret string
	assertion  string // client_assertion, for private_key_jwt
	method     string
}

// readClientCredentials finds the client's identity in exactly one place:
// the Basic header (id and secret form-urlencoded first, RFC 6749 §2.3.1),
// the body (client_id + client_secret), a client assertion (RFC 7523
// §2.2), or client_id alone for a public client. Using two methods at
// once is refused (RFC 6749 §2.3).
func readClientCredentials(r *http.Request, f form) (clientCredentials, *Error) {
	if f.get("client_assertion") != "" || f.get("client_assertion_type") != "" {
		return readClientAssertion(r, f)
	}
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
	clients    ClientLookup
	assertions assertionDeps
	key        [32]byte // per-process HMAC key for the verified-secret cache
	checker    *secret.Checker
	flight     singleflight.Group

	mu       sync.RWMutex
	verified map[string]verifiedSecret // client id → last verified secret
	maxCache int
}

type verifiedSecret struct {
	storedHash string
	mac        [sha256.Size]byte
}

func newClientAuthenticator(clients ClientLookup, checker *secret.Checker, assertions assertionDeps) (*clientAuthenticator, error) {
	if assertions.now == nil {
		assertions.now = time.Now
	}
	a := &clientAuthenticator{clients: clients, assertions: assertions, checker: checker, verified: make(map[string]verifiedSecret), maxCache: 10000}
	if _, err := rand.Read(a.key[:]); err != nil {
		return nil, fmt.Errorf("oauth: %w", err)
	}
	return a, nil
}

// authenticate returns the client the request proves to be. Every failure,
// an unknown client included, is an invalid_client (401), and is audited.
func (a *clientAuthenticator) authenticate(ctx context.Context, cc clientCredentials) (*storage.Client, *Error) {
	var (
		client *storage.Client
		known  string // the id of the stored client the request named
		err    *Error
	)
	if cc.method == authMethodPrivateKeyJWT {
		client, known, err = a.checkAssertion(ctx, cc)
	} else {
		client, known, err = a.checkSecret(ctx, cc)
	}
	if err != nil && err.Status == http.StatusUnauthorized {
		ev := audit.Event{Event: audit.ClientAuthentication, Outcome: audit.Failure, Actor: known, Client: known,
			Reason: cc.method + ": " + cmp.Or(err.Description, "unknown client or wrong secret")}
		audit.Emit(ctx, ev)
	}
	return client, err
}

// lookup finds the client a request names: a registered one, or one read
// from its client ID metadata document, whose failure (a fetch refused,
// a document not accepted, the address's fetch budget spent) is told to
// the client rather than hidden behind a bare invalid_client.
func (a *clientAuthenticator) lookup(ctx context.Context, id string) (*storage.Client, *Error) {
	client, err := a.clients.GetClient(ctx, id)
	if e, ok := errors.AsType[*clientmeta.Error](err); ok {
		if e.RetryAfter > 0 {
			throttled := &ratelimit.Throttled{Budget: ratelimit.BudgetIP, RetryAfter: e.RetryAfter}
			return nil, ErrTooManyRequests.retryAfter(throttled.RetryAfterSeconds()).Wrap(e)
		}
		return nil, ErrInvalidClient.WithDescription(e.Reason)
	}
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrInvalidClient
	}
	if err != nil {
		return nil, ErrServerError.Wrap(err)
	}
	return client, nil
}

func (a *clientAuthenticator) checkSecret(ctx context.Context, cc clientCredentials) (*storage.Client, string, *Error) {
	client, e := a.lookup(ctx, cc.id)
	if e != nil {
		if e == ErrInvalidClient && cc.secret != "" {
			_, _ = a.checker.Check(ctx, "", cc.secret)
		}
		return nil, "", e
	}
	if client.Public {
		// Some libraries always send Basic, with an empty password for a
		// public client: that identifies the client as client_id would.
		// A non-empty secret is a confused client and is refused.
		if cc.secret != "" {
			return nil, client.ID, ErrInvalidClient.WithDescription("a public client does not authenticate with a secret")
		}
		return client, client.ID, nil
	}
	if client.AuthMethod() == authMethodPrivateKeyJWT {
		// Its record has no secret; say why rather than "wrong secret".
		return nil, client.ID, ErrInvalidClient.WithDescription("the client is registered for private_key_jwt: authenticate with a client_assertion")
	}
	if cc.method == authMethodNone || client.SecretHash == "" {
		return nil, client.ID, ErrInvalidClient
	}
	ok, err := a.verifySecret(ctx, client, cc.secret)
	if err != nil {
		return nil, client.ID, ErrServerError.Wrap(err)
	}
	if !ok {
		return nil, client.ID, ErrInvalidClient
	}
	return client, client.ID, nil
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
