package main

import (
	"fmt"
	"time"

	"github.com/oauth2d/oauth2d/internal/dpop"
)

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
