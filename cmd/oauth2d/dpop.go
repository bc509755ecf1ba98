package main

import (
	"fmt"
	"time"

	"github.com/oauth2d/oauth2d/internal/dpop"
	"github.com/oauth2d/oauth2d/internal/httpserver"
	"github.com/oauth2d/oauth2d/internal/oauth"
	"github.com/oauth2d/oauth2d/internal/ratelimit"
)

// This file wires the sender-constraining and pushed-request parts (RFC
// 9449, RFC 9126).

// proofVerifier is the one DPoP verifier (RFC 9449) of this instance,
// shared by the token endpoint and the resource middleware; its replay
// records are in Redis, so a proof is accepted once across instances.
func (a *app) proofVerifier() (*dpop.Verifier, error) {
	d := a.cfg.DPoP
	var nonces *dpop.Nonces
	if d.Nonces {
		var err error
		if nonces, err = dpop.NewNonces([]byte(d.NonceSecret), d.NonceLifetime, time.Now); err != nil {
			return nil, fmt.Errorf("serve: %w", err)
		}
	}
	v, err := dpop.NewVerifier(dpop.Options{Algorithms: d.Algorithms, MaxAge: d.MaxAge, Nonces: nonces, Replay: a.store})
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	return v, nil
}

// pusher serves pushed authorization requests (RFC 9126) with the token
// endpoint's client authentication and the authorize endpoint's checks.
func (a *app) pusher(h *httpserver.Handlers) (*oauth.Pusher, error) {
	p, err := oauth.NewPusher(oauth.PusherDeps{
		Tokens: h.Tokens, Authorizer: h.Authorizer, Store: a.store, TTL: a.cfg.PAR.RequestURITTL,
		PublicLimiter: ratelimit.New(a.store.Redis(), a.store.Prefix()+"par:", ratelimit.Limits{PerIP: a.cfg.PAR.PublicPerIP}),
	})
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	return p, nil
}
