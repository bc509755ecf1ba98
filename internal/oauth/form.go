package oauth

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
)

// form is a parsed request body in which every parameter appears at most
// once. Parameters sent without a value are treated as omitted (RFC 6749
// §3.1).
type form url.Values

// paramResource is the one parameter that may be repeated: a request
// may name several resources (RFC 8707 §2).
const paramResource = "resource"

// resources parses the request's resource indicators.
func (f form) resources() ([]string, *Error) { return parseResources(f[paramResource]) }

func (f form) get(name string) string {
	if v := f[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// readForm parses an application/x-www-form-urlencoded POST body for the
// token, revocation and introspection endpoints (RFC 6749 §3.2, RFC 7009
// §2.1, RFC 7662 §2.1). Credentials and grants are never read from the query
// string, so a request that carries one is refused rather than half-read.
func readForm(w http.ResponseWriter, r *http.Request, maxBytes int64) (form, *Error) {
	if r.Method != http.MethodPost {
		return nil, ErrInvalidRequest.WithDescription("the request must use POST")
	}
	if r.URL.RawQuery != "" {
		return nil, ErrInvalidRequest.WithDescription("parameters must be sent in the request body, not the query string")
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, ErrInvalidRequest.WithDescription("the body must be application/x-www-form-urlencoded")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, ErrRequestTooLarge
		}
		return nil, ErrInvalidRequest.WithDescription("the request body could not be read").Wrap(err)
	}
	values, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, ErrInvalidRequest.WithDescription("the request body is not valid form encoding")
	}
	for name, v := range values {
		if len(v) > 1 && name != paramResource {
			return nil, ErrInvalidRequest.WithDescription("a parameter is repeated")
		}
		if v[0] == "" {
			delete(values, name)
		}
	}
	return form(values), nil
}
