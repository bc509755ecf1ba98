package resource

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// ProblemContentType is the media type of RFC 9457 problem details.
const ProblemContentType = "application/problem+json"

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

// WriteProblem aborts the request with an RFC 9457 response.
func WriteProblem(c *gin.Context, status int, detail string, errs ...FieldError) {
	p := Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail, Errors: errs}
	c.Header("Content-Type", ProblemContentType)
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(status, p)
}
