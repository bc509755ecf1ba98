package resourceserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxDocumentBytes bounds a metadata document, a JWKS or a feed answer.
const maxDocumentBytes = 1 << 20

// defaultHTTPTimeout bounds a metadata or JWKS fetch.
const defaultHTTPTimeout = 10 * time.Second

// Metadata is what this package reads of an authorization server's RFC
// 8414 metadata.
type Metadata struct {
	Issuer  string `json:"issuer"`
	JWKSURI string `json:"jwks_uri"`
	// RevocationFeedEndpoint is oauth2d's revocation feed (a vendor
	// extension); empty when the server has none.
	RevocationFeedEndpoint string `json:"oauth2d_revocation_feed_endpoint"`
}

// Discover fetches issuer's RFC 8414 metadata
// (/.well-known/oauth-authorization-server, inserted before the issuer's
// path as §3.1 says) and checks that it names issuer (§3.3), so a
// document served for another issuer is not trusted. client nil: a client
// with a 10 s timeout.
func Discover(ctx context.Context, client *http.Client, issuer string) (*Metadata, error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("resourceserver: issuer %q is not an absolute URL", issuer)
	}
	u.Path = "/.well-known/oauth-authorization-server" + strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	var md Metadata
	if err := getJSON(ctx, client, u.String(), &md); err != nil {
		return nil, err
	}
	if md.Issuer != issuer {
		return nil, fmt.Errorf("resourceserver: metadata names issuer %q, not %q", md.Issuer, issuer)
	}
	if md.JWKSURI == "" {
		return nil, errors.New("resourceserver: metadata has no jwks_uri")
	}
	return &md, nil
}

// getJSON GETs url into v: 200 only, bounded size, no redirects followed
// beyond what client allows.
func getJSON(ctx context.Context, client *http.Client, url string, v any) error {
	if client == nil {
		client = &http.Client{Timeout: defaultHTTPTimeout}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("resourceserver: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("resourceserver: GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("resourceserver: GET %s: %s", url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentBytes+1))
	if err != nil {
		return fmt.Errorf("resourceserver: GET %s: %w", url, err)
	}
	if len(body) > maxDocumentBytes {
		return fmt.Errorf("resourceserver: GET %s: answer over %d bytes", url, maxDocumentBytes)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("resourceserver: GET %s: %w", url, err)
	}
	return nil
}
