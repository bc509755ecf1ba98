package problem

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// ContentType is the media type of RFC 9457 problem details.
const ContentType = "application/problem+json"

// Problem is an RFC 9457 problem details object. Type is always
// "about:blank" (§4.2.1), so Title is the HTTP status phrase; Errors is an
// extension member listing every invalid input at once.
type Problem struct {
	Type   string       `json:"type"`
	Title  string       `json:"title"`
	Status int          `json:"status"`
	Detail string       `json:"detail,omitempty"`
	Errors []FieldError `json:"errors,omitempty"`
}

// FieldError is one invalid input: the JSON member or query parameter it
// is about (when there is one) and what is wrong with it.
type FieldError struct {
	Field  string `json:"field,omitempty"`
	Detail string `json:"detail"`
}

// Write aborts the request with an RFC 9457 response.
func Write(c *gin.Context, status int, detail string, errs ...FieldError) {
	p := Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail, Errors: errs}
	c.Header("Content-Type", ContentType)
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(status, p)
}

// DecodeJSON reads one JSON object into v, refusing other media types,
// unknown members, trailing data and bodies over limit. It answers the
// request itself when it returns false.
func DecodeJSON(c *gin.Context, v any, limit int64) bool {
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mt != "application/json" {
		Write(c, http.StatusUnsupportedMediaType, "the body must be application/json")
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
		Write(c, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body must be at most %d bytes", limit))
		return false
	case err != nil:
		Write(c, http.StatusBadRequest, "the body is not a valid JSON object of the expected shape: "+jsonProblem(err))
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
