package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/problem"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// Page sizes of GET /api/v1/comments.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// maxCommentIDLen bounds the id of DELETE /api/v1/comments/:id before it
// is looked up: ids are 22 characters (storage.CreateComment).
const maxCommentIDLen = 64

// maxCommentBody bounds a POST body: a full-length message, every
// character escaped, still fits.
const maxCommentBody = 32 << 10

// commentView is a comment as DESIGN.md §6 shows it.
type commentView struct {
	ID        string    `json:"id"`
	UserID    string    `json:"user_id"`
	Message   string    `json:"message"`
	CreatedAt time.Time `json:"created_at"`
}

func viewComment(c *storage.Comment) commentView {
	return commentView{ID: c.ID, UserID: c.UserID, Message: c.Message, CreatedAt: c.CreatedAt}
}

type commentList struct {
	Comments   []commentView `json:"comments"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

// ListComments serves GET /api/v1/comments?limit=&cursor=, newest first.
// The next page's URL is also in a Link header (RFC 8288).
func (a *API) ListComments(c *gin.Context) {
	limit, cursor := DefaultPageSize, c.Query("cursor")
	var errs []problem.FieldError
	if s, ok := c.GetQuery("limit"); ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxPageSize {
			errs = append(errs, problem.FieldError{Field: "limit", Detail: fmt.Sprintf("must be an integer from 1 to %d", MaxPageSize)})
		}
		limit = n
	}
	if len(errs) > 0 {
		problem.Write(c, http.StatusBadRequest, "invalid query parameters", errs...)
		return
	}
	page, err := a.comments.ListComments(c.Request.Context(), limit, cursor)
	if errors.Is(err, storage.ErrBadCursor) {
		problem.Write(c, http.StatusBadRequest, "invalid query parameters",
			problem.FieldError{Field: "cursor", Detail: "must be a next_cursor this API returned"})
		return
	}
	if err != nil {
		a.internalError(c, "list comments", err)
		return
	}
	out := commentList{Comments: make([]commentView, 0, len(page.Comments)), NextCursor: page.Next}
	for _, cm := range page.Comments {
		out.Comments = append(out.Comments, viewComment(cm))
	}
	if page.Next != "" {
		next := url.Values{"limit": {strconv.Itoa(limit)}, "cursor": {page.Next}}
		c.Header("Link", fmt.Sprintf(`<%s?%s>; rel="next"`, c.Request.URL.Path, next.Encode()))
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, out)
}

// postCommentRequest is DESIGN.md §6's POST /api/v1/comments body.
type postCommentRequest struct {
	Message *string `json:"message"`
	UserID  *string `json:"user_id"`
}

// PostComment serves POST /api/v1/comments. A user posts as themself; a
// user_id naming someone else needs role admin and scope
// comments:moderate; a client acting for itself has no user to post as.
func (a *API) PostComment(c *gin.Context) {
	claims := mustClaims(c)
	if account.IsClientToken(claims) {
		problem.Write(c, http.StatusForbidden, "a client acting for itself cannot post comments: use a token issued for a user")
		return
	}
	var req postCommentRequest
	if !problem.DecodeJSON(c, &req, maxCommentBody) {
		return
	}
	if errs := a.validateComment(&req); len(errs) > 0 {
		problem.Write(c, http.StatusBadRequest, "the comment is invalid", errs...)
		return
	}
	author := claims.Subject
	if req.UserID != nil && *req.UserID != claims.Subject {
		if !moderates(claims) {
			problem.Write(c, http.StatusForbidden, "only an admin, with a token that has scope comments:moderate, may post on behalf of another user")
			return
		}
		_, err := a.users.GetUser(c.Request.Context(), *req.UserID)
		if errors.Is(err, storage.ErrNotFound) {
			problem.Write(c, http.StatusBadRequest, "the comment is invalid", problem.FieldError{Field: "user_id", Detail: "no such user"})
			return
		}
		if err != nil {
			a.internalError(c, "load user", err)
			return
		}
		author = *req.UserID
	}
	cm := &storage.Comment{
		UserID: author, Message: *req.Message, PostedBy: claims.Subject, ClientID: claims.ClientID,
		CreatedAt: a.now().Truncate(time.Millisecond).UTC(),
	}
	if err := a.comments.CreateComment(c.Request.Context(), cm); err != nil {
		a.internalError(c, "create comment", err)
		return
	}
	c.Header("Location", strings.TrimSuffix(c.Request.URL.Path, "/")+"/"+url.PathEscape(cm.ID))
	c.JSON(http.StatusCreated, viewComment(cm))
}

// validateComment reports every problem with the body at once.
func (a *API) validateComment(req *postCommentRequest) []problem.FieldError {
	var errs []problem.FieldError
	switch m := req.Message; {
	case m == nil:
		errs = append(errs, problem.FieldError{Field: "message", Detail: "is required"})
	case strings.TrimSpace(*m) == "":
		errs = append(errs, problem.FieldError{Field: "message", Detail: "must not be blank"})
	case utf8.RuneCountInString(*m) > a.maxLen:
		errs = append(errs, problem.FieldError{Field: "message", Detail: fmt.Sprintf("must be at most %d characters", a.maxLen)})
	case strings.ContainsFunc(*m, isForbiddenControl):
		errs = append(errs, problem.FieldError{Field: "message", Detail: "must not contain control characters other than tab and newline"})
	}
	if req.UserID != nil && *req.UserID == "" {
		errs = append(errs, problem.FieldError{Field: "user_id", Detail: "must not be empty when given"})
	}
	return errs
}

func isForbiddenControl(r rune) bool {
	return unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t'
}

// DeleteComment serves DELETE /api/v1/comments/:id: the comment's user, or
// an admin with scope comments:moderate.
func (a *API) DeleteComment(c *gin.Context) {
	claims := mustClaims(c)
	ctx := c.Request.Context()
	id := c.Param("id")
	if len(id) > maxCommentIDLen {
		problem.Write(c, http.StatusNotFound, "no such comment") // names none: not looked up
		return
	}
	cm, err := a.comments.GetComment(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		problem.Write(c, http.StatusNotFound, "no such comment")
		return
	}
	if err != nil {
		a.internalError(c, "load comment", err)
		return
	}
	owner := !account.IsClientToken(claims) && cm.UserID == claims.Subject
	if !owner && !moderates(claims) {
		problem.Write(c, http.StatusForbidden, "only the comment's user, or an admin with a token that has scope comments:moderate, may delete it")
		return
	}
	err = a.comments.DeleteComment(ctx, cm.ID)
	if err != nil && !errors.Is(err, storage.ErrNotFound) { // deleted meanwhile: same outcome
		a.internalError(c, "delete comment", err)
		return
	}
	c.Status(http.StatusNoContent)
}
