package admin

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/problem"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// resourceInput is a resource registration as POST and PUT take it.
type resourceInput = account.ResourceRegistration

// ListResources answers GET /admin/v1/resources: the built-in resources
// and the stored ones, sorted by id, a page at a time (readPage).
func (a *API) ListResources(c *gin.Context) {
	p, ok := readPage(c)
	if !ok {
		return
	}
	stored, err := a.d.Resources.ListResources(c.Request.Context())
	if err != nil {
		a.internalError(c, "list resources", err)
		return
	}
	all := append(slices.Clone(a.d.Registration.BuiltinResources), stored...)
	slices.SortFunc(all, func(x, y *storage.Resource) int { return strings.Compare(x.ID, y.ID) })
	page, next := pageOf(all, func(r *storage.Resource) string { return r.ID }, p)
	views := make([]ResourceView, 0, len(page))
	for _, r := range page {
		views = append(views, ViewResource(r))
	}
	noStore(c)
	c.JSON(http.StatusOK, resourceList{Resources: views, NextCursor: next})
}

// resourceList is a page of GET /admin/v1/resources.
type resourceList struct {
	Resources  []ResourceView `json:"resources"`
	NextCursor string         `json:"next_cursor,omitempty"` // absent on the last page
}

// resourceID is the identifier a /resources/*id route names: a URI, so
// sent percent-encoded (or as it is: its slashes are the route's).
func resourceID(c *gin.Context) string { return strings.TrimPrefix(c.Param("id"), "/") }

// GetResource answers GET /admin/v1/resources/{id}.
func (a *API) GetResource(c *gin.Context) {
	id := resourceID(c)
	r := a.d.Registration.BuiltinResource(id)
	if r == nil {
		var err error
		r, err = a.d.Resources.GetResource(c.Request.Context(), id)
		if a.lookup(c, err, "resource") {
			return
		}
	}
	noStore(c)
	c.JSON(http.StatusOK, ViewResource(r))
}

// CreateResource registers a resource server.
func (a *API) CreateResource(c *gin.Context) {
	var in resourceInput
	if !problem.DecodeJSON(c, &in, maxBody) {
		return
	}
	if a.refuseBuiltin(c, in.ID) {
		return
	}
	r := in.Record()
	if errs := account.ValidateResource(r, a.d.Registration); len(errs) > 0 {
		invalid(c, "resource registration", errs)
		return
	}
	err := a.d.Resources.CreateResource(c.Request.Context(), r)
	switch {
	case errors.Is(err, storage.ErrConflict):
		problem.Write(c, http.StatusConflict, "a resource with this id exists")
		return
	case errors.Is(err, storage.ErrRegistryFull):
		problem.Write(c, http.StatusConflict, RegistryFullDetail)
		return
	case err != nil:
		a.internalError(c, "create resource", err)
		return
	}
	noStore(c)
	c.Header("Location", c.Request.URL.Path+"/"+url.PathEscape(r.ID))
	c.JSON(http.StatusCreated, ViewResource(r))
}

// UpdateResource replaces a stored resource's registration. A built-in
// resource or one of the bootstrap file is refused (409).
func (a *API) UpdateResource(c *gin.Context) {
	ctx := c.Request.Context()
	id := resourceID(c)
	if a.refuseBuiltin(c, id) {
		return
	}
	old, err := a.d.Resources.GetResource(ctx, id)
	if a.lookup(c, err, "resource") || refuseManaged(c, old.ManagedBy, "resource", old.ID) {
		return
	}
	var in resourceInput
	if !problem.DecodeJSON(c, &in, maxBody) {
		return
	}
	if in.ID != "" && in.ID != old.ID {
		problem.Write(c, http.StatusBadRequest, "the resource registration is invalid",
			problem.FieldError{Field: "id", Detail: "a resource id cannot change; create a new resource"})
		return
	}
	in.ID = old.ID
	r := in.Record()
	r.CreatedAt = old.CreatedAt
	if errs := account.ValidateResource(r, a.d.Registration); len(errs) > 0 {
		invalid(c, "resource registration", errs)
		return
	}
	if a.lookup(c, a.d.Resources.UpdateResource(ctx, r), "resource") { // deleted meanwhile: 404
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, ViewResource(r))
}

// DeleteResource removes a stored resource: no token is issued for it
// any more, while those already issued keep their aud until they expire.
// A built-in resource or one of the bootstrap file is refused (409).
func (a *API) DeleteResource(c *gin.Context) {
	ctx := c.Request.Context()
	id := resourceID(c)
	if a.refuseBuiltin(c, id) {
		return
	}
	r, err := a.d.Resources.GetResource(ctx, id)
	if a.lookup(c, err, "resource") || refuseManaged(c, r.ManagedBy, "resource", r.ID) {
		return
	}
	if err := a.d.Resources.DeleteResource(ctx, r.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		a.internalError(c, "delete resource", err)
		return
	}
	c.Status(http.StatusNoContent)
}

// BuiltinDetail says why a built-in resource cannot be registered,
// changed or deleted through the admin API or the CLI.
func BuiltinDetail(id string) string {
	return fmt.Sprintf("resource %q is built in: it comes from the configuration (tokens.audience, tokens.admin_audience) and cannot be registered, changed or deleted here", id)
}

// RegistryFullDetail says why a new resource is refused.
var RegistryFullDetail = fmt.Sprintf("the server holds %d resources, as many as it can: delete one first", storage.MaxResources)

// refuseBuiltin answers 409 and reports true for a built-in resource's id.
func (a *API) refuseBuiltin(c *gin.Context, id string) bool {
	if a.d.Registration.BuiltinResource(id) == nil {
		return false
	}
	problem.Write(c, http.StatusConflict, BuiltinDetail(id))
	return true
}
