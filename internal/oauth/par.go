package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// RequestURIPrefix starts every request_uri the PAR endpoint hands out
// (RFC 9126 §2.2); 256 random bits follow, stored only as their SHA-256.
const RequestURIPrefix = "urn:ietf:params:oauth:request_uri:"

// DefaultRequestURITTL is how long a request_uri stays usable by default.
const DefaultRequestURITTL = time.Minute

// AddressBudget spends one unit of a per-address budget and says whether
// it was left, else how long to wait; *ratelimit.Limiter is one. It bounds
// what anonymous callers (public clients, whom anyone can act as) make the
// server store.
type AddressBudget interface {
	Spend(ctx context.Context, ip string) (bool, time.Duration, error)
}

// PusherDeps are what NewPusher needs.
type PusherDeps struct {
	// Tokens authenticates the client as the token endpoint does (RFC 9126
	// §2) and checks a DPoP proof (RFC 9449 §10.1).
	Tokens *Handler
	// Authorizer validates the request as the authorization endpoint
	// does; its errors are answered as JSON instead of redirects.
	Authorizer *Authorizer
	Store      storage.PushedRequestStore
	// PublicLimiter, if set, bounds the pushes of public clients per client
	// address (its PerIP budget, under a key prefix of its own): they
	// authenticate with their id alone, so anyone can push as them, and
	// each push is stored.
	PublicLimiter AddressBudget
	TTL           time.Duration // DefaultRequestURITTL if 0
	Now           func() time.Time
}

// Pusher serves the PAR endpoint.
type Pusher struct {
	tokens  *Handler
	authz   *Authorizer
	store   storage.PushedRequestStore
	limiter AddressBudget
	ttl     time.Duration
	now     func() time.Time
}

// NewPusher builds the PAR endpoint.
func NewPusher(d PusherDeps) (*Pusher, error) {
	if d.Tokens == nil || d.Authorizer == nil || d.Store == nil {
		return nil, errors.New("oauth: the PAR endpoint needs the token handler, the authorizer and a store")
	}
	if d.TTL <= 0 {
		d.TTL = DefaultRequestURITTL
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Pusher{tokens: d.Tokens, authz: d.Authorizer, store: d.Store, limiter: d.PublicLimiter, ttl: d.TTL, now: d.Now}, nil
}

type pushResponse struct {
	RequestURI string `json:"request_uri"`
	ExpiresIn  int64  `json:"expires_in"`
}

// Push serves POST /oauth2/par (RFC 9126 §2): 201 with a single-use
// request_uri, or an RFC 6749 §5.2 error body.
func (p *Pusher) Push(w http.ResponseWriter, r *http.Request) {
	resp, err := p.push(w, r)
	if err != nil {
		p.tokens.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, resp)
}

func (p *Pusher) push(w http.ResponseWriter, r *http.Request) (*pushResponse, *Error) {
	f, client, err := p.tokens.authenticatedForm(w, r)
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	if client.Public {
		if err := spend(r, p.limiter); err != nil {
			return nil, err
		}
	}
	v := url.Values(f)
	if v.Has("request_uri") {
		return nil, ErrInvalidRequest.WithDescription("request_uri cannot be pushed")
	}
	if ids := v["client_id"]; len(ids) > 1 || len(ids) == 1 && ids[0] != client.ID {
		return nil, ErrInvalidRequest.WithDescription("client_id is not the authenticated client")
	}
	v.Set("client_id", client.ID)
	v.Del("client_secret")
	// The client was just authenticated: validate against it rather than
	// load it again.
	req, e, pe := p.authz.parseAuthorizationFor(ctx, client, v)
	switch {
	case pe != nil:
		return nil, ErrInvalidRequest.WithDescription("redirect_uri is missing, repeated or not registered for this client")
	case e != nil:
		return nil, e
	}
	// The push budget, spent above, also bounds the proofs recorded here.
	proofCtx, e := p.tokens.tokenProof(w, r, client, nil)
	if e != nil {
		return nil, e
	}
	if jkt := proofKey(proofCtx); jkt != "" {
		// RFC 9449 §10.1: a proof binds the code as dpop_jkt would, and
		// both must name the same key.
		if req.DPoPJKT != "" && req.DPoPJKT != jkt {
			return nil, ErrInvalidDPoPProof.WithDescription("dpop_jkt does not name the DPoP proof's key")
		}
		req.DPoPJKT = jkt
	}
	ref := secret.NewToken(32)
	now := p.now()
	req.Pushed, req.CreatedAt, req.ExpiresAt = true, now, now.Add(p.ttl)
	if err := p.store.SavePushedRequest(ctx, secret.SHA256(ref), req); err != nil {
		return nil, ErrServerError.Wrap(err)
	}
	return &pushResponse{RequestURI: RequestURIPrefix + ref, ExpiresIn: int64(p.ttl / time.Second)}, nil
}

var errPageUnknownRequest = &pageError{status: http.StatusBadRequest, message: "This sign-in request is unknown, has expired or was already used. Go back to the application and start again."}

// parseOrTakePushed is parseAuthorization, or, for a request naming a
// request_uri of ours, the pushed request it stands for (RFC 9126 §4): only
// client_id and request_uri are read from the browser. The request_uri is
// spent only once client_id names the client that pushed it, so that
// whoever sees it cannot burn it for that client; from then on it is
// spent whatever happens next.
func (a *Authorizer) parseOrTakePushed(ctx context.Context, v url.Values) (*storage.AuthRequest, *Error, *pageError) {
	if !strings.HasPrefix(v.Get("request_uri"), RequestURIPrefix) {
		// No request_uri, or one we did not hand out (a request object by
		// reference): the authorization endpoint answers it as before
		// (request_uri_not_supported).
		return a.parseAuthorization(ctx, v)
	}
	clientID, rep := single(v, "client_id")
	if clientID == "" || rep {
		return nil, nil, errPageNoClient
	}
	uri, rep := single(v, "request_uri")
	ref, ok := strings.CutPrefix(uri, RequestURIPrefix)
	if rep || !ok || ref == "" || len(ref) > 128 || a.pushed == nil {
		return nil, nil, errPageUnknownRequest
	}
	refHash := secret.SHA256(ref)
	req, err := a.pushed.GetPushedRequest(ctx, refHash)
	if err == nil && req.ClientID == clientID {
		// Of concurrent presenters that passed the check, one takes it.
		req, err = a.pushed.TakePushedRequest(ctx, refHash)
	}
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, nil, errPageUnknownRequest
	case err != nil:
		a.log.ErrorContext(ctx, "oauth: authorize: read or take pushed request", "err", err)
		return nil, nil, serverPage(err)
	case req.ClientID != clientID:
		return nil, nil, errPageUnknownRequest // RFC 9126 §4: bound to the client that pushed it
	}
	// The push's expiry bounded the request_uri, which is now spent; the
	// sign-in it starts gets AuthRequestTTL like any other (interact).
	req.ExpiresAt = time.Time{}
	return req, nil, nil
}

// checkPushedRequired refuses a request that did not come through the
// PAR endpoint from a client that must use it (RFC 9126 §5, §6). A device
// authorization has no authorization request to push.
func (a *Authorizer) checkPushedRequired(client *storage.Client, req *storage.AuthRequest) *Error {
	if !req.Pushed && req.DeviceCodeHash == "" && (a.cfg.PARRequired || client.RequirePushedAuthorizationRequests) {
		return ErrInvalidRequest.WithDescription("this client must push its authorization requests (PAR)")
	}
	return nil
}

// AddPAR advertises the PAR endpoint (RFC 9126 §5). Client authentication
// there is the token endpoint's (token_endpoint_auth_methods_supported).
func (m *Metadata) AddPAR(required bool) {
	m.PushedAuthorizationRequestEndpoint = m.Issuer + PushedAuthorizationPath
	m.RequirePushedAuthorizationRequests = required
}
