package account

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/oauth2d/oauth2d/internal/audit"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/token"
)

// RevocationStore is what the Revoker writes to; *storage.Store is one.
type RevocationStore interface {
	RevokeJTI(ctx context.Context, jti string, expiresAt time.Time) error
	RevokeUserFamilies(ctx context.Context, userID, clientID string) ([]*storage.RefreshFamily, error)
	SetCutoff(ctx context.Context, c storage.Cutoff) error
}

var _ RevocationStore = (*storage.Store)(nil)

// LocalRevocations is this instance's in-memory copy of the revocation
// state; *resource.Authenticator is one. Applying a revocation to it at
// once means the next request here already sees it, before pub/sub
// delivers it.
type LocalRevocations interface {
	DenyJTI(jti string, expiresAt time.Time)
	AddCutoff(c storage.Cutoff)
}

// Revoker ends sessions: one token and its grant (logout), every token of
// a user, every token of a client. Each revocation is written to Redis,
// which publishes it to every instance, and applied to the local
// revocation state at once so the next request here already sees it.
type Revoker struct {
	store    RevocationStore
	local    LocalRevocations
	lifetime time.Duration
	now      func() time.Time
}

// NewRevoker returns a Revoker. maxTokenLifetime is the longest access-token
// lifetime the server issues (a cutoff is kept that long); local may be
// nil.
func NewRevoker(store RevocationStore, local LocalRevocations, maxTokenLifetime time.Duration, now func() time.Time) (*Revoker, error) {
	if store == nil || maxTokenLifetime <= 0 || now == nil {
		return nil, errors.New("account: revoker needs a store, the access-token lifetime and a clock")
	}
	return &Revoker{store: store, local: local, lifetime: maxTokenLifetime, now: now}, nil
}

// IsClientToken reports whether claims belong to a client acting for
// itself (client credentials: DESIGN.md §8 makes the client its subject).
func IsClientToken(c *token.AccessClaims) bool { return c.Subject == c.ClientID }

// Logout revokes the token described by claims and, for a user's token,
// every refresh-token family of that user with that client, denying the
// newest access token of each family too. It returns how many families
// were revoked.
func (r *Revoker) Logout(ctx context.Context, claims *token.AccessClaims) (int, error) {
	if err := r.denyJTI(ctx, claims.JTI, claims.ExpiresAt); err != nil {
		return 0, err
	}
	if IsClientToken(claims) {
		return 0, nil
	}
	return r.RevokeGrant(ctx, claims.Subject, claims.ClientID)
}

// RevokeUser revokes every token of the user: a cutoff for access tokens
// (most are tracked by no family) and every refresh-token family. It
// returns the cutoff time and how many families were revoked.
func (r *Revoker) RevokeUser(ctx context.Context, userID string) (time.Time, int, error) {
	nbf, err := r.cutoff(ctx, storage.SubjectCutoff(userID))
	if err != nil {
		return time.Time{}, 0, err
	}
	audit.Emit(ctx, audit.Event{Event: audit.TokensCutOff, Outcome: audit.Success, Subject: userID, Resource: "user:" + userID})
	n, err := r.RevokeGrant(ctx, userID, "")
	return nbf, n, err
}

// RevokeClient revokes every access token issued to the client so far
// (for a deleted client: its other grants die with its record, see
// storage.Client.Generation).
func (r *Revoker) RevokeClient(ctx context.Context, clientID string) error {
	_, err := r.cutoff(ctx, storage.ClientCutoff(clientID))
	if err == nil {
		audit.Emit(ctx, audit.Event{Event: audit.TokensCutOff, Outcome: audit.Success, Subject: clientID, Client: clientID, Resource: "client:" + clientID})
	}
	return err
}

// cutoff revokes the principal's tokens issued up to now. Token iat is in
// whole seconds, so the cutoff is rounded up to the next second: a token
// issued earlier in the current second has an iat before it. (A token
// issued later in that same second dies too: a second's blind spot is the
// price of never letting an older token through.)
func (r *Revoker) cutoff(ctx context.Context, principal string) (time.Time, error) {
	nbf := r.now().Truncate(time.Second).Add(time.Second).UTC()
	c := storage.Cutoff{Principal: principal, NotBefore: nbf, Until: nbf.Add(r.lifetime + token.DefaultLeeway)}
	if err := r.store.SetCutoff(ctx, c); err != nil {
		return time.Time{}, fmt.Errorf("account: revoke %s: %w", principal, err)
	}
	if r.local != nil {
		r.local.AddCutoff(c)
	}
	return nbf, nil
}

// RevokeGrant revokes every refresh-token family of the user with the
// client (every client when clientID is empty) and denies the newest
// access token of each; it returns how many families were revoked. A
// withdrawn consent ends the grant this way.
func (r *Revoker) RevokeGrant(ctx context.Context, userID, clientID string) (int, error) {
	fams, err := r.store.RevokeUserFamilies(ctx, userID, clientID)
	if err != nil {
		return 0, fmt.Errorf("account: revoke refresh tokens: %w", err)
	}
	for _, f := range fams {
		if f.AccessJTI == "" {
			continue
		}
		if err := r.denyJTI(ctx, f.AccessJTI, f.AccessExpiresAt); err != nil {
			return 0, err
		}
	}
	return len(fams), nil
}

func (r *Revoker) denyJTI(ctx context.Context, jti string, exp time.Time) error {
	if err := r.store.RevokeJTI(ctx, jti, exp); err != nil {
		return fmt.Errorf("account: revoke token: %w", err)
	}
	if r.local != nil {
		r.local.DenyJTI(jti, exp)
	}
	return nil
}
