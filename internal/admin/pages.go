package admin

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/problem"
)

// The admin lists answer a page at a time, so that an answer stays
// bounded however many clients or users there are: limit entries
// (DefaultPageSize when not given, at most MaxPageSize), after the
// cursor, if any, that the previous page answered as next_cursor.
const (
	DefaultPageSize = 100
	MaxPageSize     = 500
)

// pageRequest is a list request's limit and cursor: the sort key (client
// id, username) of the last entry of the previous page, sent base64url
// encoded so that clients treat it as opaque.
type pageRequest struct {
	limit int
	after string // "": from the start
}

// readPage reads ?limit= and ?cursor=; it answers 400 itself, and
// reports false, when either is invalid.
func readPage(c *gin.Context) (pageRequest, bool) {
	p := pageRequest{limit: DefaultPageSize}
	var errs []problem.FieldError
	if raw := c.Query("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > MaxPageSize {
			errs = append(errs, problem.FieldError{Field: "limit", Detail: fmt.Sprintf("must be an integer from 1 to %d", MaxPageSize)})
		}
		p.limit = n
	}
	if raw := c.Query("cursor"); raw != "" {
		after, err := base64.RawURLEncoding.DecodeString(raw)
		if err != nil || len(after) == 0 {
			errs = append(errs, problem.FieldError{Field: "cursor", Detail: "must be a next_cursor of an earlier page"})
		}
		p.after = string(after)
	}
	if len(errs) > 0 {
		problem.Write(c, http.StatusBadRequest, "the list request is invalid", errs...)
		return pageRequest{}, false
	}
	return p, true
}

// pageOf cuts the page p asks for out of all, which is sorted by key, and
// returns it with the cursor of the next page ("" when it is the last).
// Keys are unique, so a page starts right after the last one seen even if
// entries were added or removed meanwhile: none is skipped or repeated
// but those.
func pageOf[T any](all []T, key func(T) string, p pageRequest) ([]T, string) {
	start := 0
	if p.after != "" {
		for start < len(all) && strings.Compare(key(all[start]), p.after) <= 0 {
			start++
		}
	}
	end := min(start+p.limit, len(all))
	page := all[start:end]
	if end == len(all) || len(page) == 0 {
		return page, ""
	}
	return page, base64.RawURLEncoding.EncodeToString([]byte(key(page[len(page)-1])))
}
