package resource

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/storage"
)

// Page sizes of GET /api/v1/comments.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

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

// listComments serves GET /api/v1/comments?limit=&cursor=, newest first.
// The next page's URL is also in a Link header (RFC 8288).
func (a *API) listComments(c *gin.Context) {
	limit, cursor := DefaultPageSize, c.Query("cursor")
	var errs []FieldError
	if s, ok := c.GetQuery("limit"); ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxPageSize {
			errs = append(errs, FieldError{Field: "limit", Detail: fmt.Sprintf("must be an integer from 1 to %d", MaxPageSize)})
		}
		limit = n
	}
	if len(errs) > 0 {
		WriteProblem(c, http.StatusBadRequest, "invalid query parameters", errs...)
		return
	}
	page, err := a.comments.ListComments(c.Request.Context(), limit, cursor)
	if errors.Is(err, storage.ErrBadCursor) {
		WriteProblem(c, http.StatusBadRequest, "invalid query parameters",
			FieldError{Field: "cursor", Detail: "must be a next_cursor this API returned"})
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

// postComment serves POST /api/v1/comments. A user posts as themself; a
// user_id naming someone else needs role admin; a client acting for
// itself has no user to post as.
func (a *API) postComment(c *gin.Context) {
	claims := mustClaims(c)
	if IsClientToken(claims) {
		WriteProblem(c, http.StatusForbidden, "a client acting for itself cannot post comments: use a token issued for a user")
		return
	}
	var req postCommentRequest
	if !DecodeJSON(c, &req, maxCommentBody) {
		return
	}
	if errs := a.validateComment(&req); len(errs) > 0 {
		WriteProblem(c, http.StatusBadRequest, "the comment is invalid", errs...)
		return
	}
	author := claims.Subject
	if req.UserID != nil && *req.UserID != claims.Subject {
		if !isAdmin(claims) {
			WriteProblem(c, http.StatusForbidden, "only an admin may post on behalf of another user")
			return
		}
		_, err := a.users.GetUser(c.Request.Context(), *req.UserID)
		if errors.Is(err, storage.ErrNotFound) {
			WriteProblem(c, http.StatusBadRequest, "the comment is invalid", FieldError{Field: "user_id", Detail: "no such user"})
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
func (a *API) validateComment(req *postCommentRequest) []FieldError {
	var errs []FieldError
	switch m := req.Message; {
	case m == nil:
		errs = append(errs, FieldError{Field: "message", Detail: "is required"})
	case strings.TrimSpace(*m) == "":
		errs = append(errs, FieldError{Field: "message", Detail: "must not be blank"})
	case utf8.RuneCountInString(*m) > a.maxLen:
		errs = append(errs, FieldError{Field: "message", Detail: fmt.Sprintf("must be at most %d characters", a.maxLen)})
	case strings.ContainsFunc(*m, isForbiddenControl):
		errs = append(errs, FieldError{Field: "message", Detail: "must not contain control characters other than tab and newline"})
	}
	if req.UserID != nil && *req.UserID == "" {
		errs = append(errs, FieldError{Field: "user_id", Detail: "must not be empty when given"})
	}
	return errs
}

func isForbiddenControl(r rune) bool {
	return unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t'
}

// deleteComment serves DELETE /api/v1/comments/:id: the comment's user or
// an admin.
func (a *API) deleteComment(c *gin.Context) {
	claims := mustClaims(c)
	ctx := c.Request.Context()
	cm, err := a.comments.GetComment(ctx, c.Param("id"))
	if errors.Is(err, storage.ErrNotFound) {
		WriteProblem(c, http.StatusNotFound, "no such comment")
		return
	}
	if err != nil {
		a.internalError(c, "load comment", err)
		return
	}
	owner := !IsClientToken(claims) && cm.UserID == claims.Subject
	if !owner && !isAdmin(claims) {
		WriteProblem(c, http.StatusForbidden, "only the comment's user or an admin may delete it")
		return
	}
	err = a.comments.DeleteComment(ctx, cm.ID)
	if err != nil && !errors.Is(err, storage.ErrNotFound) { // deleted meanwhile: same outcome
		a.internalError(c, "delete comment", err)
		return
	}
	c.Status(http.StatusNoContent)
}

// DecodeJSON reads one JSON object into v, refusing other media types,
// unknown members, trailing data and bodies over limit. It answers the
// request itself when it returns false.
func DecodeJSON(c *gin.Context, v any, limit int64) bool {
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mt != "application/json" {
		WriteProblem(c, http.StatusUnsupportedMediaType, "the body must be application/json")
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, limit))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	if err == nil && dec.Decode(new(json.RawMessage)) != io.EOF {
		err = errors.New("trailing data after the JSON object")
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		WriteProblem(c, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body must be at most %d bytes", limit))
		return false
	case err != nil:
		WriteProblem(c, http.StatusBadRequest, "the body is not a valid JSON object of the expected shape: "+jsonProblem(err))
		return false
	}
	return true
}

// jsonProblem describes a decoding error without echoing the input.
func jsonProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return fmt.Sprintf("%s must be a %s", typeErr.Field, typeErr.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return strings.TrimPrefix(err.Error(), "json: ")
	case errors.Is(err, io.EOF):
		return "empty body"
	default:
		return "malformed JSON"
	}
}
