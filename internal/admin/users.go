package admin

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/problem"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// newUserInput is POST /admin/v1/users. The password is in the body: the
// API is for TLS only.
type newUserInput struct {
	Username string   `json:"username"`
	Password string   `json:"password"`
	Roles    []string `json:"roles"`
	Name     string   `json:"name"`
	Email    string   `json:"email"`
	// EmailVerified: the operator vouches for Email (OIDC email_verified).
	EmailVerified bool `json:"email_verified"`
}

// userPatch is PATCH /admin/v1/users/:id: members left out are kept.
// Usernames and passwords are not changed here.
type userPatch struct {
	Roles *[]string `json:"roles"`
	Name  *string   `json:"name"`
	Email *string   `json:"email"`
	// EmailVerified is set to false when Email changes unless given too.
	EmailVerified *bool `json:"email_verified"`
}

// ListUsers answers GET /admin/v1/users, sorted by username, a page at a
// time (readPage).
func (a *API) ListUsers(c *gin.Context) {
	p, ok := readPage(c)
	if !ok {
		return
	}
	users, err := a.d.Users.ListUsers(c.Request.Context())
	if err != nil {
		a.internalError(c, "list users", err)
		return
	}
	page, next := pageOf(users, func(u *storage.User) string { return u.Username }, p)
	views := make([]UserView, 0, len(page))
	for _, u := range page {
		views = append(views, ViewUser(u))
	}
	noStore(c)
	c.JSON(http.StatusOK, userList{Users: views, NextCursor: next})
}

// userList is a page of GET /admin/v1/users.
type userList struct {
	Users      []UserView `json:"users"`
	NextCursor string     `json:"next_cursor,omitempty"` // absent on the last page
}

// GetUser answers GET /admin/v1/users/:id.
func (a *API) GetUser(c *gin.Context) {
	u, err := a.d.Users.GetUser(c.Request.Context(), c.Param("id"))
	if a.lookup(c, err, "user") {
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, ViewUser(u))
}

// CreateUser adds a user with a password and roles; the username must be
// free.
func (a *API) CreateUser(c *gin.Context) {
	var in newUserInput
	if !problem.DecodeJSON(c, &in, maxBody) {
		return
	}
	u := &storage.User{Username: in.Username, Roles: in.Roles, Name: in.Name, Email: in.Email, EmailVerified: in.EmailVerified}
	errs := account.ValidateUser(u)
	password, err := account.CheckNewPassword(in.Password, in.Username, in.Email, account.ByOperator)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		invalid(c, "user", errs)
		return
	}
	hash, err := a.d.Hasher.Hash(password)
	if err != nil {
		a.internalError(c, "hash password", err)
		return
	}
	u.PasswordHash = hash
	err = a.d.Users.CreateUser(c.Request.Context(), u)
	if errors.Is(err, storage.ErrConflict) {
		problem.Write(c, http.StatusConflict, "the username is taken")
		return
	}
	if err != nil {
		a.internalError(c, "create user", err)
		return
	}
	noStore(c)
	c.Header("Location", c.Request.URL.Path+"/"+url.PathEscape(u.ID))
	c.JSON(http.StatusCreated, ViewUser(u))
}

// UpdateUser changes roles, name, email or email_verified. A change of roles revokes the
// user's tokens: they carry the roles they were issued with, and a
// demoted admin must not stay admin until they expire. A user of the
// bootstrap file is refused (409).
func (a *API) UpdateUser(c *gin.Context) {
	ctx := c.Request.Context()
	u, err := a.d.Users.GetUser(ctx, c.Param("id"))
	if a.lookup(c, err, "user") || refuseManaged(c, u.ManagedBy, "user", u.Username) {
		return
	}
	var p userPatch
	if !problem.DecodeJSON(c, &p, maxBody) {
		return
	}
	rolesChanged := p.Roles != nil && !slices.Equal(*p.Roles, u.Roles)
	if p.Roles != nil {
		u.Roles = *p.Roles
	}
	if p.Name != nil {
		u.Name = *p.Name
	}
	if p.Email != nil && *p.Email != u.Email {
		// A new address is unverified until the operator says otherwise.
		u.Email, u.EmailVerified = *p.Email, false
	}
	if p.EmailVerified != nil {
		u.EmailVerified = *p.EmailVerified
	}
	if errs := account.ValidateUser(u); len(errs) > 0 {
		invalid(c, "user", errs)
		return
	}
	// UpdateUser, not UpsertUser: a PATCH racing a DELETE must not bring
	// the user back.
	if err := a.d.Users.UpdateUser(ctx, u); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			a.lookup(c, err, "user")
			return
		}
		a.internalError(c, "update user", err)
		return
	}
	if rolesChanged {
		if _, _, err := a.d.Revoker.RevokeUser(ctx, u.ID); err != nil {
			a.internalError(c, "revoke user tokens", err)
			return
		}
	}
	noStore(c)
	c.JSON(http.StatusOK, ViewUser(u))
}

// DeleteUser revokes every token of the user, ends their browser sessions
// (their relying parties are told over the back channel), then removes
// them. A user of the bootstrap file is refused (409); revoking their
// tokens (RevokeUserTokens) changes nothing of the record and stays open.
func (a *API) DeleteUser(c *gin.Context) {
	ctx := c.Request.Context()
	u, err := a.d.Users.GetUser(ctx, c.Param("id"))
	if a.lookup(c, err, "user") || refuseManaged(c, u.ManagedBy, "user", u.Username) {
		return
	}
	if _, _, err := a.d.Revoker.RevokeUser(ctx, u.ID); err != nil {
		a.internalError(c, "revoke user tokens", err)
		return
	}
	if !a.signOut(c, u.ID) {
		return
	}
	if err := a.d.Users.DeleteUser(ctx, u.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		a.internalError(c, "delete user", err)
		return
	}
	c.Status(http.StatusNoContent)
}

// revokeResult answers POST /admin/v1/users/:id/revoke-tokens.
type revokeResult struct {
	// Access tokens issued before this instant are refused.
	NotBefore       time.Time `json:"not_before"`
	RefreshFamilies int       `json:"revoked_refresh_families"`
}

// RevokeUserTokens revokes every access and refresh token of the user, on
// every instance, and signs them out of every browser session and, over
// the back channel, of every relying party.
func (a *API) RevokeUserTokens(c *gin.Context) {
	ctx := c.Request.Context()
	u, err := a.d.Users.GetUser(ctx, c.Param("id"))
	if a.lookup(c, err, "user") {
		return
	}
	nbf, n, err := a.d.Revoker.RevokeUser(ctx, u.ID)
	if err != nil {
		a.internalError(c, "revoke user tokens", err)
		return
	}
	if !a.signOut(c, u.ID) {
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, revokeResult{NotBefore: nbf, RefreshFamilies: n})
}

// signOut ends the user's browser sessions and queues logout tokens for
// the relying parties; it answers 500 and reports false when it cannot.
func (a *API) signOut(c *gin.Context, userID string) bool {
	if a.d.Logouts == nil {
		return true
	}
	if err := a.d.Logouts.UserSignedOut(c.Request.Context(), userID); err != nil {
		a.internalError(c, "sign the user out", err)
		return false
	}
	return true
}
