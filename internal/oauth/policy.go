package oauth

import (
	"context"
	"slices"
	"time"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// The issuance policy (DESIGN §9.1). What a token carries is decided here
// and nowhere else, from the request and the current records, on every
// grant and every branch of a grant: a code, a password, client
// credentials, and a refresh presented as the current token, as the
// previous one inside the grace window, or delivered twice. Storage
// scripts check what they must to stay atomic (a rotation refuses a
// wider scope before it swaps tokens), but the answer a client gets is
// the one decideIssuance returns.

// A grantClaim is what a token request holds, for the policy to decide
// from.
type grantClaim struct {
	client *storage.Client // the client's current registration
	user   *storage.User   // the user's current record; nil: the client acts for itself
	// requested is the request's scope parameter, parsed; empty asks for
	// everything the grant holds.
	requested []string
	// held is what an earlier grant holds: the code's scope, the refresh
	// family's. A new grant (password, client credentials, the
	// authorization request that makes a code) holds what the client's
	// registration and the user's roles allow now.
	held     []string
	newGrant bool
	// heldKey is the DPoP key thumbprint the grant is bound to ("":
	// unbound); proofKey is the one the request proved ("": none).
	heldKey, proofKey string
	// resources are the request's resource indicators (RFC 8707);
	// heldResources those the grant is restricted to (none: the grant
	// named none, and its tokens' audience follows their scope).
	resources, heldResources []string
	// registry is the registered resources as of this request, and
	// accessTTL the configured access-token lifetime.
	registry  registry
	accessTTL time.Duration
	// heldAMR is how the user authenticated for the grant (the code's
	// browser session, the family's, the password grant's "pwd"); none
	// for a client acting for itself.
	heldAMR []string
}

// An issuance is the policy's decision: the only input the minting code
// (mintAccess, issueTokens) accepts, so no token is made without it.
type issuance struct {
	client *storage.Client
	user   *storage.User
	scope  []string
	roles  []string // the user's current roles that the scope carries; none for a client's own token
	jkt    string   // the DPoP key the access token is bound to ("": bearer)
	// audience is the access token's aud and ttl its lifetime, which the
	// resources it is for decide.
	audience []string
	ttl      time.Duration
	// grantScope and grantResources are what a refresh family begun with
	// this token holds: the grant's whole scope and its resources, of
	// which the access token may carry a part (RFC 8707 §2.2).
	grantScope, grantResources []string
	// amr and acr say how the user authenticated: the grant's methods,
	// and the class account.ACR makes of them, never more.
	amr []string
	acr string
}

// decideIssuance is the issuance policy. The scope is the requested one
// (or, when none is asked for, everything the grant holds) within the
// grant, the client's current registration and what the user's current
// roles allow. A request for anything the grant does not hold is
// invalid_scope (RFC 6749 §3.3, §6), wherever it comes from: a refresh,
// the grace repeat included, can only narrow the family's grant. What
// the grant holds but the client or the user has since lost is dropped
// from the answer (RFC 6749 §3.3 lets the server issue less than asked,
// and the scope member then says what was issued), so that a demotion or
// a scope taken from the client takes effect at the next refresh without
// a revocation, and so that a refresh never fails after its rotation,
// which would cost the client its family. The token carries the user's
// current roles, a role whose powers go through a scope only with such a
// scope (account.RolesCarried): an administrator who consents to an app
// for comments:write does not lend it the admin role (RFC 9700 §2.3). A
// grant bound to a DPoP key issues only to a proof by that key (RFC 9449
// §5, §10). A user's token says how the user authenticated for the grant
// (amr, and the acr account.ACR makes of it), never more.
func decideIssuance(g grantClaim) (issuance, *Error) {
	if g.heldKey != "" && g.heldKey != g.proofKey {
		return issuance{}, ErrInvalidGrant.WithDescription("the grant is bound to another DPoP key")
	}
	if e := g.target(); e != nil {
		return issuance{}, e
	}
	if len(g.heldResources) > 0 && !subset(g.resources, g.heldResources) {
		return issuance{}, ErrInvalidTarget
	}
	grantScope, e := g.scope()
	if e != nil {
		return issuance{}, e
	}
	named, restricted := g.resources, len(g.resources) > 0 || len(g.heldResources) > 0
	if len(named) == 0 {
		named = g.heldResources
	}
	res := g.registry.reachable(named, restricted, g.proofKey != "")
	scope := slices.DeleteFunc(slices.Clone(grantScope), func(s string) bool { return !g.registry.carriedBy(res, s) })
	dec := issuance{client: g.client, user: g.user, scope: scope, jkt: g.proofKey,
		grantScope: grantScope, grantResources: g.heldResources}
	if g.newGrant {
		// A new grant that names its resources holds what its token
		// carries: a scope none of them carries now must not come to one
		// of them later (when the resource that defined it is deleted, a
		// scope goes with the default resource).
		dec.grantScope, dec.grantResources = scope, g.resources
	}
	dec.audience, dec.ttl = g.registry.audience(res, scope, restricted, g.accessTTL)
	if g.user != nil {
		dec.roles = account.RolesCarried(g.user.Roles, scope)
		dec.amr = account.SessionAMR(g.heldAMR)
		dec.acr = account.ACR(dec.amr)
	}
	return dec, nil
}

// target is what the policy refuses from the request and the registry
// alone, before any grant is looked at (checkTarget, checkProof): the
// refresh grant asks it before it rotates, so that no refusal of its
// comes after the rotation.
func (g grantClaim) target() *Error {
	if e := g.registry.checkTarget(g.resources, g.requested); e != nil {
		return e
	}
	return g.registry.checkProof(g.resources, g.requested, g.proofKey != "")
}

// scope is the policy's scope rule, which the authorize endpoint also
// applies when it fixes the scope of a code (a new grant).
func (g grantClaim) scope() ([]string, *Error) {
	held := g.held
	if g.newGrant {
		held = g.client.Scopes
	}
	allowed := allowedScopes(held, g.client, g.user)
	if g.newGrant {
		held = allowed // a new grant holds only what is allowed now
	}
	if len(g.requested) == 0 {
		return allowed, nil
	}
	if !subset(g.requested, held) {
		return nil, ErrInvalidScope
	}
	return slices.DeleteFunc(slices.Clone(g.requested), func(s string) bool { return !slices.Contains(allowed, s) }), nil
}

// allowedScopes is held ∩ the client's current scopes ∩ what the user's
// roles allow, in held's order. A client acting for itself gets no
// user-only scope.
func allowedScopes(held []string, client *storage.Client, user *storage.User) []string {
	out := make([]string, 0, len(held))
	for _, s := range held {
		switch {
		case !slices.Contains(client.Scopes, s), slices.Contains(out, s):
		case user == nil && (s == ScopeOpenID || s == ScopeOfflineAccess):
		case user != nil && !account.RolesAllowScope(user.Roles, s):
		default:
			out = append(out, s)
		}
	}
	return out
}

// claim completes g with what every token request has: the DPoP key it
// proved, the registry and the configured lifetime.
func (h *Handler) claim(ctx context.Context, g grantClaim) (grantClaim, *Error) {
	reg, err := h.resources.snapshot(ctx)
	if err != nil {
		return g, asError(err)
	}
	g.proofKey, g.registry, g.accessTTL = proofKey(ctx), reg, h.cfg.AccessTokenTTL
	return g, nil
}

// decide runs the policy for a token request.
func (h *Handler) decide(ctx context.Context, g grantClaim) (issuance, *Error) {
	g, e := h.claim(ctx, g)
	if e != nil {
		return issuance{}, e
	}
	return decideIssuance(g)
}
