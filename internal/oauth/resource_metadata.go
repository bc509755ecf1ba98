package oauth

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/storage"
)

// ResourceMetadataPath is the well-known path of protected resource
// metadata (RFC 9728 §3). A resource's own document is at this path
// followed by the path of its identifier (§3.1).
const ResourceMetadataPath = "/.well-known/oauth-protected-resource"

// ResourceMetadataURL is where the metadata of the resource identified by
// resourceID is served (RFC 9728 §3.1): the well-known path inserted
// between the identifier's host and its path. ok is false for an
// identifier on another scheme or host than issuer's, whose metadata this
// server cannot serve, or with a query (RFC 8707 §2 advises against one,
// and a router matches paths only). The resource middleware names this
// URL in its 401 challenges (resource_metadata, §5.1).
func ResourceMetadataURL(issuer, resourceID string) (metadataURL string, ok bool) {
	iss, err := url.Parse(issuer)
	if err != nil {
		return "", false
	}
	res, err := url.Parse(resourceID)
	if err != nil || res.Scheme != iss.Scheme || !strings.EqualFold(res.Host, iss.Host) || res.User != nil ||
		res.RawQuery != "" || res.ForceQuery || res.Fragment != "" {
		return "", false
	}
	path := res.EscapedPath()
	if path == "/" { // "https://host/" names the same resource as "https://host"
		path = ""
	}
	return res.Scheme + "://" + res.Host + ResourceMetadataPath + path, true
}

// ProtectedResourceMetadata is the metadata document of one resource
// (RFC 9728 §2, with the DPoP members of RFC 9449 §5.2).
type ProtectedResourceMetadata struct {
	// Resource is exactly the identifier, so a client can check that the
	// document is about the resource it asked about (§3.3).
	Resource               string   `json:"resource"`
	AuthorizationServers   []string `json:"authorization_servers"`
	ScopesSupported        []string `json:"scopes_supported,omitempty"`
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	ResourceName           string   `json:"resource_name,omitempty"`
	// DPoPSigningAlgValuesSupported are the proof algorithms the resource
	// accepts; DPoPBoundAccessTokensRequired says it takes no bearer
	// token.
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported,omitempty"`
	DPoPBoundAccessTokensRequired bool     `json:"dpop_bound_access_tokens_required"`
}

// ProtectedResources serves the metadata of the resources this server
// serves itself.
type ProtectedResources struct {
	byPath map[string][]byte // request path → document
}

// NewProtectedResources marshals, once, the document of each resource
// whose identifier is on the issuer's host (ResourceMetadataURL), at the
// path of its metadata URL. The first resource is the default one (the
// one tokens.audience names first): its document is also served at the
// bare well-known path, unless a resource identified by the issuer's
// host alone owns that path. dpopAlgs are the DPoP proof algorithms the
// resources accept; none means DPoP is off.
func NewProtectedResources(issuer string, resources []*storage.Resource, dpopAlgs []string) (*ProtectedResources, error) {
	p := &ProtectedResources{byPath: map[string][]byte{}}
	var defaultDoc []byte
	for i, r := range resources {
		metadataURL, ok := ResourceMetadataURL(issuer, r.ID)
		if !ok {
			continue
		}
		u, err := url.Parse(metadataURL)
		if err != nil {
			return nil, fmt.Errorf("oauth: resource metadata of %q: %w", r.ID, err)
		}
		doc, err := json.Marshal(&ProtectedResourceMetadata{
			Resource: r.ID, AuthorizationServers: []string{issuer}, ScopesSupported: r.Scopes,
			BearerMethodsSupported: []string{"header"}, ResourceName: r.Name,
			DPoPSigningAlgValuesSupported: dpopAlgs, DPoPBoundAccessTokensRequired: r.RequireDPoP,
		})
		if err != nil {
			return nil, fmt.Errorf("oauth: resource metadata of %q: %w", r.ID, err)
		}
		p.byPath[u.Path] = doc
		if i == 0 {
			defaultDoc = doc
		}
	}
	if _, taken := p.byPath[ResourceMetadataPath]; !taken && defaultDoc != nil {
		p.byPath[ResourceMetadataPath] = defaultDoc
	}
	return p, nil
}

// Serve answers ResourceMetadataPath and every path below it: a
// resource's document, or notFound for a path no resource owns. The route
// table mounts it on a catch-all, since an identifier's path may hold
// what the router reads as parameters (":", "*").
func (p *ProtectedResources) Serve(notFound gin.HandlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		doc, ok := p.byPath[c.Request.URL.Path]
		if !ok {
			notFound(c)
			return
		}
		// Short, as the key set's: a resource that starts requiring DPoP
		// should not be described as taking bearer tokens for long.
		c.Header("Cache-Control", "public, max-age=300")
		c.Data(http.StatusOK, "application/json", doc)
	}
}

// AddProtectedResources lists the identifiers of resources that take this
// server's tokens (RFC 9728 §4).
func (m *Metadata) AddProtectedResources(resources []*storage.Resource) {
	for _, r := range resources {
		m.ProtectedResources = append(m.ProtectedResources, r.ID)
	}
}
