package admin

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/bootstrap"
	"github.com/oauth2d/oauth2d/internal/resource"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// clientInput is a client registration as POST and PUT take it. The
// secret is never an input: the server generates it.
type clientInput struct {
	ID                     string   `json:"id"`
	Name                   string   `json:"name"`
	Public                 bool     `json:"public"`
	FirstParty             bool     `json:"first_party"`
	RedirectURIs           []string `json:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	GrantTypes             []string `json:"grant_types"`
	Scopes                 []string `json:"scopes"`
}

func (in *clientInput) record(id string) *storage.Client {
	return &storage.Client{
		ID: id, Name: in.Name, Public: in.Public, FirstParty: in.FirstParty,
		RedirectURIs: in.RedirectURIs, PostLogoutRedirectURIs: in.PostLogoutRedirectURIs,
		GrantTypes: in.GrantTypes, Scopes: in.Scopes,
	}
}

func (a *API) listClients(c *gin.Context) {
	clients, err := a.d.Clients.ListClients(c.Request.Context())
	if err != nil {
		a.internalError(c, "list clients", err)
		return
	}
	views := make([]ClientView, 0, len(clients))
	for _, cl := range clients {
		views = append(views, ViewClient(cl))
	}
	noStore(c)
	c.JSON(http.StatusOK, gin.H{"clients": views})
}

func (a *API) getClient(c *gin.Context) {
	cl, err := a.d.Clients.GetClient(c.Request.Context(), c.Param("id"))
	if a.lookup(c, err, "client") {
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, ViewClient(cl))
}

// createClient registers a client; an empty id is generated, and a
// confidential client gets a generated secret, shown in this response
// only.
func (a *API) createClient(c *gin.Context) {
	var in clientInput
	if !resource.DecodeJSON(c, &in, maxBody) {
		return
	}
	id := in.ID
	if id == "" {
		id = newClientID()
	}
	cl := in.record(id)
	if errs := bootstrap.ValidateClient(cl, a.d.Dev); len(errs) > 0 {
		invalid(c, "client registration", errs)
		return
	}
	clear, ok := a.newSecret(c, cl)
	if !ok {
		return
	}
	err := a.d.Clients.CreateClient(c.Request.Context(), cl)
	if errors.Is(err, storage.ErrConflict) {
		resource.WriteProblem(c, http.StatusConflict, "a client with this id exists")
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

// updateClient replaces a client's registration. Its secret is kept; a
// client made public loses it, and a public client made confidential gets
// a new one, shown in this response only.
func (a *API) updateClient(c *gin.Context) {
	ctx := c.Request.Context()
	old, err := a.d.Clients.GetClient(ctx, c.Param("id"))
	if a.lookup(c, err, "client") {
		return
	}
	var in clientInput
	if !resource.DecodeJSON(c, &in, maxBody) {
		return
	}
	if in.ID != "" && in.ID != old.ID {
		resource.WriteProblem(c, http.StatusBadRequest, "the client registration is invalid",
			resource.FieldError{Field: "id", Detail: "a client id cannot change; create a new client"})
		return
	}
	cl := in.record(old.ID)
	cl.CreatedAt = old.CreatedAt
	if !cl.Public {
		cl.SecretHash = old.SecretHash
	}
	if errs := bootstrap.ValidateClient(cl, a.d.Dev); len(errs) > 0 {
		invalid(c, "client registration", errs)
		return
	}
	clear := ""
	if !cl.Public && cl.SecretHash == "" {
		var ok bool
		if clear, ok = a.newSecret(c, cl); !ok {
			return
		}
	}
	if err := a.d.Clients.UpsertClient(ctx, cl); err != nil {
		a.internalError(c, "update client", err)
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, clientWithSecret{Client: ViewClient(cl), ClientSecret: clear})
}

// rotateSecret gives a confidential client a new secret; the old one
// stops working at once.
func (a *API) rotateSecret(c *gin.Context) {
	ctx := c.Request.Context()
	cl, err := a.d.Clients.GetClient(ctx, c.Param("id"))
	if a.lookup(c, err, "client") {
		return
	}
	if cl.Public {
		resource.WriteProblem(c, http.StatusConflict, "a public client has no secret")
		return
	}
	clear, ok := a.newSecret(c, cl)
	if !ok {
		return
	}
	if err := a.d.Clients.UpsertClient(ctx, cl); err != nil {
		a.internalError(c, "rotate client secret", err)
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, clientWithSecret{Client: ViewClient(cl), ClientSecret: clear})
}

// deleteClient revokes every access token issued to the client, then
// removes it (its refresh tokens die with it: the refresh grant
// authenticates the client).
func (a *API) deleteClient(c *gin.Context) {
	ctx := c.Request.Context()
	cl, err := a.d.Clients.GetClient(ctx, c.Param("id"))
	if a.lookup(c, err, "client") {
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
	if cl.Public {
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
