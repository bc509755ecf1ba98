package webtest

import (
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// DocumentServer serves client ID metadata documents over https on
// 127.0.0.1, for servers started with Options.ClientIDMetadata: pass
// Roots as Options.DocumentRoots. It counts the requests each path gets.
type DocumentServer struct {
	*httptest.Server
	Roots *x509.CertPool

	mu      sync.Mutex
	answers map[string]Answer
	fetches map[string]int
}

// Answer is what a path answers: Status (0: 200), ContentType ("":
// application/json), Header, Body, after Delay.
type Answer struct {
	Status      int
	ContentType string
	Header      http.Header
	Body        []byte
	Delay       time.Duration
}

// NewDocumentServer starts a document server; it stops when t ends.
func NewDocumentServer(t testing.TB) *DocumentServer {
	t.Helper()
	d := &DocumentServer{answers: map[string]Answer{}, fetches: map[string]int{}}
	d.Server = httptest.NewTLSServer(http.HandlerFunc(d.serve))
	t.Cleanup(d.Close)
	d.Roots = x509.NewCertPool()
	d.Roots.AddCert(d.Certificate())
	return d
}

func (d *DocumentServer) serve(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	a, ok := d.answers[r.URL.RequestURI()]
	d.fetches[r.URL.RequestURI()]++
	d.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	select {
	case <-time.After(a.Delay):
	case <-r.Context().Done():
		return
	}
	for k, v := range a.Header {
		w.Header()[k] = v
	}
	if a.ContentType == "" {
		a.ContentType = "application/json"
	}
	w.Header().Set("Content-Type", a.ContentType)
	if a.Status != 0 {
		w.WriteHeader(a.Status)
	}
	_, _ = w.Write(a.Body)
}

// ClientID is the URL of path, the client id of the document there.
func (d *DocumentServer) ClientID(path string) string { return d.URL + path }

// Serve makes path answer a.
func (d *DocumentServer) Serve(path string, a Answer) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.answers[path] = a
}

// ServeDocument makes path answer doc as JSON, with client_id set to its
// URL unless doc has one, and header.
func (d *DocumentServer) ServeDocument(t testing.TB, path string, doc map[string]any, header http.Header) {
	t.Helper()
	if _, ok := doc["client_id"]; !ok {
		doc["client_id"] = d.ClientID(path)
	}
	body, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	d.Serve(path, Answer{Body: body, Header: header})
}

// Fetches is how many requests path has had.
func (d *DocumentServer) Fetches(path string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.fetches[path]
}

// PublicDocument is a document of a public client of the code flow with
// refresh tokens that redirects to redirectURI.
func PublicDocument(name, redirectURI string) map[string]any {
	return map[string]any{
		"client_name": name, "redirect_uris": []string{redirectURI},
		"grant_types": []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"},
		"token_endpoint_auth_method": "none", "scope": "openid profile offline_access",
	}
}
