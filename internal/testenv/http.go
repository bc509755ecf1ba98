package testenv

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Response is a recorded response with its JSON body decoded.
type Response struct {
	*httptest.ResponseRecorder
	JSON map[string]any
}

// Do sends a request to h in process, with bearer unless it is empty.
// A body that is not nil is sent as JSON: a string as it is, so that a
// test can send malformed JSON, anything else encoded.
func Do(t testing.TB, h http.Handler, method, path, bearer string, body any) Response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return Serve(t, h, req)
}

// Serve sends req to h in process; a response body must be JSON, as
// every body of the APIs under test is.
func Serve(t testing.TB, h http.Handler, req *http.Request) Response {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	resp := Response{ResponseRecorder: w}
	if w.Body.Len() > 0 {
		if err := json.Unmarshal(w.Body.Bytes(), &resp.JSON); err != nil {
			t.Fatalf("%s %s: body is not JSON: %q", req.Method, req.URL, w.Body.String())
		}
	}
	return resp
}
