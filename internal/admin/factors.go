package admin

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/storage"
)

// FactorStore is what the admin API reads and removes of a user's second
// factors; *storage.Store is one.
type FactorStore interface {
	GetSecondFactors(ctx context.Context, userID string) (*storage.SecondFactors, error)
	RemoveSecondFactors(ctx context.Context, userID string) error
	ListPasskeys(ctx context.Context, userID string) ([]*storage.Passkey, error)
	DeletePasskey(ctx context.Context, userID string, id []byte) error
}

var _ FactorStore = (*storage.Store)(nil)

// FactorsView is GET /admin/v1/users/:id/factors: what a user has
// enrolled, never a secret or a public key.
type FactorsView struct {
	TOTP               *TOTPView     `json:"totp"` // null without one
	RecoveryCodesLeft  int           `json:"recovery_codes_left"`
	RecoveryCodeUsedAt *time.Time    `json:"recovery_code_used_at"` // null: never
	Passkeys           []PasskeyView `json:"passkeys"`
}

// TOTPView is a confirmed TOTP factor.
type TOTPView struct {
	Since time.Time `json:"since"`
}

// PasskeyView is one passkey; ID is the credential id, base64url as
// WebAuthn sends it, which DELETE …/factors/passkeys/:credential_id takes.
type PasskeyView struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	CreatedAt   time.Time  `json:"created_at"`
	LastUsedAt  *time.Time `json:"last_used_at"` // null: never used to sign in
	BackupState bool       `json:"backup_state"`
}

// ViewFactors renders a user's factors for the API and the CLI.
func ViewFactors(f *storage.SecondFactors, passkeys []*storage.Passkey) FactorsView {
	v := FactorsView{RecoveryCodesLeft: f.RecoveryLeft, Passkeys: make([]PasskeyView, 0, len(passkeys))}
	if f.TOTP != nil {
		v.TOTP = &TOTPView{Since: f.TOTP.CreatedAt}
	}
	if !f.RecoveryUsedAt.IsZero() {
		v.RecoveryCodeUsedAt = &f.RecoveryUsedAt
	}
	for _, p := range passkeys {
		pv := PasskeyView{ID: base64.RawURLEncoding.EncodeToString(p.ID), Name: p.Name, CreatedAt: p.CreatedAt, BackupState: p.BackupState}
		if !p.LastUsedAt.IsZero() {
			pv.LastUsedAt = &p.LastUsedAt
		}
		v.Passkeys = append(v.Passkeys, pv)
	}
	return v
}

// LoadFactors reads a user's factors.
func LoadFactors(ctx context.Context, s FactorStore, userID string) (FactorsView, error) {
	f, err := s.GetSecondFactors(ctx, userID)
	if err != nil {
		return FactorsView{}, err
	}
	passkeys, err := s.ListPasskeys(ctx, userID)
	if err != nil {
		return FactorsView{}, err
	}
	return ViewFactors(f, passkeys), nil
}

// RemoveFactors removes every second factor of the user: passkeys one by
// one, then TOTP and recovery codes. The keys live in different slots of a
// Cluster, so this is not one script; every step can be repeated, and a
// retry after a failure finishes the job. It returns what was removed, for
// the audit log ("totp, recovery_codes, passkeys:2"), "" for nothing.
func RemoveFactors(ctx context.Context, s FactorStore, userID string) (string, error) {
	f, err := s.GetSecondFactors(ctx, userID)
	if err != nil {
		return "", err
	}
	passkeys, err := s.ListPasskeys(ctx, userID)
	if err != nil {
		return "", err
	}
	for _, p := range passkeys {
		if err := s.DeletePasskey(ctx, userID, p.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return "", err
		}
	}
	if err := s.RemoveSecondFactors(ctx, userID); err != nil {
		return "", err
	}
	var removed []string
	if f.TOTP != nil || f.PendingTOTP != nil {
		removed = append(removed, "totp")
	}
	if f.RecoveryLeft > 0 {
		removed = append(removed, "recovery_codes")
	}
	if len(passkeys) > 0 {
		removed = append(removed, fmt.Sprintf("passkeys:%d", len(passkeys)))
	}
	return strings.Join(removed, ", "), nil
}

// GetFactors answers GET /admin/v1/users/:id/factors.
func (a *API) GetFactors(c *gin.Context) {
	ctx := c.Request.Context()
	u, err := a.d.Users.GetUser(ctx, c.Param("id"))
	if a.lookup(c, err, "user") {
		return
	}
	v, err := LoadFactors(ctx, a.d.Factors, u.ID)
	if err != nil {
		a.internalError(c, "load second factors", err)
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, v)
}

// ResetFactors answers DELETE /admin/v1/users/:id/factors: "a lost
// phone". Every factor goes, then the user's tokens and sessions end as
// with revoke-tokens, so that whoever holds the lost device is signed out
// too; where mfa.required_roles asks for a factor the user enrols anew at
// their next sign-in. Factors are no part of the bootstrap file, so a
// user it manages is no exception (as for revoke-tokens).
func (a *API) ResetFactors(c *gin.Context) {
	ctx := c.Request.Context()
	u, err := a.d.Users.GetUser(ctx, c.Param("id"))
	if a.lookup(c, err, "user") {
		return
	}
	removed, err := RemoveFactors(ctx, a.d.Factors, u.ID)
	if err != nil {
		a.internalError(c, "remove second factors", err)
		return
	}
	if removed == "" {
		removed = "none"
	}
	a.endSessions(c, u.ID, "second factors removed: "+removed)
}

// DeletePasskey answers DELETE /admin/v1/users/:id/factors/passkeys/:credential_id.
func (a *API) DeletePasskey(c *gin.Context) {
	ctx := c.Request.Context()
	u, err := a.d.Users.GetUser(ctx, c.Param("id"))
	if a.lookup(c, err, "user") {
		return
	}
	raw := c.Param("credential_id")
	if len(raw) > base64.RawURLEncoding.EncodedLen(storage.MaxPasskeyIDLen) {
		notFound(c, "passkey")
		return
	}
	id, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil || len(id) == 0 {
		notFound(c, "passkey")
		return
	}
	if a.lookup(c, a.d.Factors.DeletePasskey(ctx, u.ID, id), "passkey") {
		return
	}
	a.endSessions(c, u.ID, "passkey removed: "+raw)
}

// endSessions revokes the user's tokens and signs them out, records
// reason with the change (Audit) and answers 204.
func (a *API) endSessions(c *gin.Context, userID, reason string) {
	c.Set(auditReasonKey, reason)
	if _, _, err := a.d.Revoker.RevokeUser(c.Request.Context(), userID); err != nil {
		a.internalError(c, "revoke user tokens", err)
		return
	}
	if !a.signOut(c, userID) {
		return
	}
	c.Status(http.StatusNoContent)
}
