package main

import (
	"net/http"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/oauth2d/oauth2d/internal/config"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// The model's client ID metadata document client: public, third party,
// known by the URL of its document, which an https server of the test
// serves (package clientmeta). Its scopes are client_id_metadata.scopes
// narrowed by the document's scope.
var (
	modelDocumentScopes       = []string{"openid", "profile", "offline_access", "comments:read", "comments:write", "photos:read"}
	modelDocumentAsks         = "openid profile offline_access comments:read photos:read admin x:tp"
	modelDocumentClientScopes = []string{"openid", "profile", "offline_access", "comments:read", "photos:read"}
)

// modelDocumentClientID is the URL of the document withDocuments serves.
// TestIssuanceModel sets it once, before any operation reads it.
var modelDocumentClientID string

// withDocuments turns client ID metadata documents on in o and serves
// the model client's document. The document says it may be cached for a
// day and fetches are not budgeted: the model moves its clock by hours,
// and what it checks is what the client is issued, not the fetching.
func withDocuments(t *testing.T, o webtest.Options) webtest.Options {
	docs := webtest.NewDocumentServer(t)
	doc := webtest.PublicDocument("Model Document App", webtest.DefaultRedirect)
	doc["scope"] = modelDocumentAsks
	docs.ServeDocument(t, "/model/client.json", doc, http.Header{"Cache-Control": {"max-age=86400"}})
	modelDocumentClientID = docs.ClientID("/model/client.json")
	m := config.Default().ClientIDMetadata
	m.Scopes, m.PerIP = modelDocumentScopes, 0
	o.ClientIDMetadata, o.DocumentRoots = &m, docs.Roots
	return o
}

// documentCodeFlow runs codeFlow (and so redeem) with the document client
// among the clients, drawn first by preference: its families then join
// the others, so that refresh, refreshRace, introspect, revokeUser,
// deleteUser and every invariant cover it too. Only this operation sees
// the client among m.clients, since the operations that change a stored
// registration (editClientScopes, recreateClient) have none to change.
func (m *model) documentCodeFlow(t *rapid.T) {
	doc := &modelClient{key: "doc", id: modelDocumentClientID, public: true,
		grants: []string{"authorization_code", "refresh_token"}, scopes: slices.Clone(modelDocumentClientScopes)}
	registered := m.clients
	m.clients = append([]*modelClient{doc}, registered...)
	defer func() { m.clients = registered }()
	m.codeFlow(t)
}
