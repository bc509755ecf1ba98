package admin

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/problem"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// clientInput is a client registration as POST and PUT take it. The
// secret is never an input: the server generates it.
type clientInput = account.ClientRegistration

// ListClients answers GET /admin/v1/clients, sorted by id, a page at a
// time (readPage).
func (a *API) ListClients(c *gin.Context) {
	p, ok := readPage(c)
	if !ok {
		return
	}
	clients, err := a.d.Clients.ListClients(c.Request.Context())
	if err != nil {
		a.internalError(c, "list clients", err)
		return
	}
	page, next := pageOf(clients, func(cl *storage.Client) string { return cl.ID }, p)
	views := make([]ClientView, 0, len(page))
	for _, cl := range page {
		views = append(views, ViewClient(cl))
	}
	noStore(c)
	c.JSON(http.StatusOK, clientList{Clients: views, NextCursor: next})
}

// clientList is a page of GET /admin/v1/clients.
type clientList struct {
	Clients    []ClientView `json:"clients"`
	NextCursor string       `json:"next_cursor,omitempty"` // absent on the last page
}

// GetClient answers GET /admin/v1/clients/:id.
func (a *API) GetClient(c *gin.Context) {
	cl, err := a.d.Clients.GetClient(c.Request.Context(), c.Param("id"))
	if a.lookup(c, err, "client") {
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, ViewClient(cl))
}

// CreateClient registers a client; an empty id is generated, and a
// confidential client gets a generated secret, shown in this response
// only.
func (a *API) CreateClient(c *gin.Context) {
	var in clientInput
	if !problem.DecodeJSON(c, &in, maxBody) {
		return
	}
	if in.ID == "" {
		in.ID = newClientID()
	}
	cl := in.Record()
	if errs := account.ValidateClient(cl, a.d.Registration); len(errs) > 0 {
		invalid(c, "client registration", errs)
		return
	}
	clear, ok := a.newSecret(c, cl)
	if !ok {
		return
	}
	err := a.d.Clients.CreateClient(c.Request.Context(), cl)
	if errors.Is(err, storage.ErrConflict) {
		problem.Write(c, http.StatusConflict, "a client with this id exists")
		return
	}
	if err != nil {
		a.internalError(c, "create client", err)
		return
	}
	noStore(c)
	c.Header("Location", c.Request.URL.Path+"/"+url.PathEscape(cl.ID))
	c.JSON(http.StatusCreated, clientWithSecret{Client: ViewClient(cl), ClientSecret: clear})
}

// UpdateClient replaces a client's registration. Its secret is kept; a
// client made public loses it, and a public client made confidential gets
// a new one, shown in this response only. A client of the bootstrap file
// is refused (409).
func (a *API) UpdateClient(c *gin.Context) {
	ctx := c.Request.Context()
	old, err := a.d.Clients.GetClient(ctx, c.Param("id"))
	if a.lookup(c, err, "client") || refuseManaged(c, old.ManagedBy, "client", old.ID) {
		return
	}
	var in clientInput
	if !problem.DecodeJSON(c, &in, maxBody) {
		return
	}
	if in.ID != "" && in.ID != old.ID {
		problem.Write(c, http.StatusBadRequest, "the client registration is invalid",
			problem.FieldError{Field: "id", Detail: "a client id cannot change; create a new client"})
		return
	}
	in.ID = old.ID
	cl := in.Record()
	cl.CreatedAt = old.CreatedAt
	if cl.HasSecret() {
		cl.SecretHash = old.SecretHash
	}
	if errs := account.ValidateClient(cl, a.d.Registration); len(errs) > 0 {
		invalid(c, "client registration", errs)
		return
	}
	clear := ""
	if cl.HasSecret() && cl.SecretHash == "" {
		var ok bool
		if clear, ok = a.newSecret(c, cl); !ok {
			return
		}
	}
	a.saveClient(c, cl, clear, "update client")
}

// RotateSecret gives a confidential client a new secret; the old one
// stops working at once. The bootstrap file's clients keep the file's
// secret (409).
func (a *API) RotateSecret(c *gin.Context) {
	ctx := c.Request.Context()
	cl, err := a.d.Clients.GetClient(ctx, c.Param("id"))
	if a.lookup(c, err, "client") || refuseManaged(c, cl.ManagedBy, "client", cl.ID) {
		return
	}
	if !cl.HasSecret() {
		problem.Write(c, http.StatusConflict, "this client has no secret (public, or private_key_jwt)")
		return
	}
	clear, ok := a.newSecret(c, cl)
	if !ok {
		return
	}
	a.saveClient(c, cl, clear, "rotate client secret")
}

// saveClient stores a changed client and answers with it; clear, when
// set, is its new secret, which this answer is the only one to show.
// action names the change in the log should storing fail.
func (a *API) saveClient(c *gin.Context, cl *storage.Client, clear, action string) {
	if err := a.d.Clients.UpsertClient(c.Request.Context(), cl); err != nil {
		a.internalError(c, action, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, clientWithSecret{Client: ViewClient(cl), ClientSecret: clear})
}

// DeleteClient revokes every access token issued to the client, then
// removes it. Its refresh tokens, codes and the consents given to it die
// with the record, also when the id is registered again: each records
// the client's generation (storage.Client.Generation), which a new
// registration does not share. A client of the bootstrap file is refused
// (409): the next apply would bring it back.
func (a *API) DeleteClient(c *gin.Context) {
	ctx := c.Request.Context()
	cl, err := a.d.Clients.GetClient(ctx, c.Param("id"))
	if a.lookup(c, err, "client") || refuseManaged(c, cl.ManagedBy, "client", cl.ID) {
		return
	}
	if err := a.d.Revoker.RevokeClient(ctx, cl.ID); err != nil {
		a.internalError(c, "revoke client tokens", err)
		return
	}
	if err := a.d.Clients.DeleteClient(ctx, cl.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		a.internalError(c, "delete client", err)
		return
	}
	c.Status(http.StatusNoContent)
}

// newSecret sets a fresh secret's hash on cl and returns the secret;
// public clients get none. It answers the request itself on failure.
func (a *API) newSecret(c *gin.Context, cl *storage.Client) (string, bool) {
	if !cl.HasSecret() {
		cl.SecretHash = ""
		return "", true
	}
	clear := secret.NewToken(32)
	hash, err := a.d.Hasher.Hash(clear)
	if err != nil {
		a.internalError(c, "hash client secret", err)
		return "", false
	}
	cl.SecretHash = hash
	return clear, true
}

// newClientID matches the CLI's generated ids: 96 random bits in hex.
func newClientID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // never fails since Go 1.24
	return hex.EncodeToString(b[:])
}
