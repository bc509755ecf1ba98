package clientmeta

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/outbound"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// fetcher gets documents through the outbound guard's client.
type fetcher struct {
	client   *http.Client
	maxBytes int64
	now      func() time.Time
}

// document holds the metadata this server reads (RFC 7591 §2 names).
// Others are ignored, as §4.1 allows; client_secret is only looked for.
type document struct {
	ClientID                string          `json:"client_id"`
	ClientName              string          `json:"client_name"`
	ClientURI               string          `json:"client_uri"`
	RedirectURIs            []string        `json:"redirect_uris"`
	GrantTypes              []string        `json:"grant_types"`
	ResponseTypes           []string        `json:"response_types"`
	TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method"`
	Scope                   string          `json:"scope"`
	ClientSecret            json.RawMessage `json:"client_secret"`
	ClientSecretExpiresAt   json.RawMessage `json:"client_secret_expires_at"`
}

// get fetches u's document and says how long it may be used (before
// clamping).
func (f *fetcher) get(ctx context.Context, u *url.URL) (*document, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, 0, &Error{Reason: ReasonBadURL, Err: err}
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "oauth2d (client ID metadata document fetch)")
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, 0, transportError(err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return nil, 0, &Error{Reason: ReasonRedirect, Err: fmt.Errorf("status %d to %q", resp.StatusCode, resp.Header.Get("Location"))}
	case resp.StatusCode != http.StatusOK:
		return nil, 0, &Error{Reason: ReasonStatus, Err: fmt.Errorf("status %d", resp.StatusCode)}
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, 0, &Error{Reason: ReasonContentType, Err: fmt.Errorf("content type %q", resp.Header.Get("Content-Type"))}
	}
	if resp.ContentLength > f.maxBytes {
		return nil, 0, &Error{Reason: ReasonTooLarge, Err: fmt.Errorf("content length %d", resp.ContentLength)}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.maxBytes+1))
	if err != nil {
		return nil, 0, transportError(err)
	}
	if int64(len(body)) > f.maxBytes {
		return nil, 0, &Error{Reason: ReasonTooLarge, Err: fmt.Errorf("more than %d bytes", f.maxBytes)}
	}
	var doc document
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&doc); err != nil || dec.More() {
		return nil, 0, &Error{Reason: ReasonMalformed, Err: err}
	}
	return &doc, f.lifetime(resp.Header), nil
}

// transportError names what went wrong with a request that got no answer.
func transportError(err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, outbound.ErrRefused):
		return &Error{Reason: ReasonInternal, Err: err}
	case errors.Is(err, outbound.ErrResponseTooLarge):
		return &Error{Reason: ReasonTooLarge, Err: err}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return &Error{Reason: ReasonTooSlow, Err: err}
	}
	return &Error{Reason: ReasonUnreachable, Err: err}
}

// lifetime reads Cache-Control max-age (no-store and no-cache: none),
// else Expires (RFC 9111 §4.2.1); none gives 0, which the caller raises
// to its minimum.
func (f *fetcher) lifetime(h http.Header) time.Duration {
	if cc := h.Get("Cache-Control"); cc != "" {
		maxAge, found := time.Duration(0), false
		for _, d := range strings.Split(cc, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(name) {
			case "no-store", "no-cache":
				return 0
			case "max-age":
				found = true
				if n, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64); err == nil && n > 0 {
					maxAge = time.Duration(min(n, 1<<30)) * time.Second
				}
			}
		}
		if found {
			return maxAge
		}
	}
	if exp, err := http.ParseTime(h.Get("Expires")); err == nil {
		return max(exp.Sub(f.now()), 0)
	}
	return 0
}

// client turns an accepted document into the client it describes.
func (r *Resolver) client(id string, doc *document) (*storage.Client, error) {
	if doc.ClientID != id {
		return nil, &Error{Reason: ReasonMismatch, Err: fmt.Errorf("document says %q", doc.ClientID)}
	}
	if len(doc.ClientSecret) > 0 || len(doc.ClientSecretExpiresAt) > 0 {
		return nil, &Error{Reason: ReasonSecret, Err: errors.New("the document has client_secret")}
	}
	switch doc.TokenEndpointAuthMethod {
	case "", "none":
		// Absent means none here: RFC 7591's default, client_secret_basic,
		// is a shared secret, which §4.2 rules out anyway.
	case "client_secret_basic", "client_secret_post", "client_secret_jwt":
		return nil, &Error{Reason: ReasonSecret, Err: fmt.Errorf("token_endpoint_auth_method %q", doc.TokenEndpointAuthMethod)}
	default:
		return nil, &Error{Reason: ReasonAuthMethod, Err: fmt.Errorf("token_endpoint_auth_method %q", doc.TokenEndpointAuthMethod)}
	}
	grants := doc.GrantTypes
	if len(grants) == 0 {
		grants = []string{account.GrantAuthorizationCode} // RFC 7591 §2
	}
	for _, g := range grants {
		if g != account.GrantAuthorizationCode && g != account.GrantRefreshToken {
			return nil, &Error{Reason: ReasonGrantTypes, Err: fmt.Errorf("grant type %q", g)}
		}
	}
	for _, rt := range doc.ResponseTypes {
		if rt != "code" {
			return nil, &Error{Reason: ReasonGrantTypes, Err: fmt.Errorf("response type %q", rt)}
		}
	}
	scopes := slices.Clone(r.d.Config.Scopes)
	if doc.Scope != "" {
		asked := strings.Fields(doc.Scope)
		scopes = slices.DeleteFunc(scopes, func(s string) bool { return !slices.Contains(asked, s) })
	}
	c := &storage.Client{
		ID: id, Name: doc.ClientName, ClientURI: doc.ClientURI, Public: true, SelfRegistered: true,
		RedirectURIs: doc.RedirectURIs, GrantTypes: slices.Compact(slices.Clone(grants)), Scopes: scopes,
		Generation: Generation(id), CreatedAt: r.d.Now(), UpdatedAt: r.d.Now(),
	}
	var problems []error
	for _, err := range account.ValidateClient(c, r.d.Policy) {
		// The id is a URL, which checkURL judged; registered ids are not.
		if fe, ok := errors.AsType[*account.FieldError](err); ok && fe.Field == "id" {
			continue
		}
		problems = append(problems, err)
	}
	if len(c.RedirectURIs) == 0 {
		problems = append(problems, errors.New("no redirect_uris"))
	}
	if len(problems) > 0 {
		return nil, &Error{Reason: ReasonInvalid, Err: errors.Join(problems...)}
	}
	return c, nil
}
