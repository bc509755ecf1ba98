package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"pgregory.net/rapid"

	"github.com/oauth2d/oauth2d/internal/config"
)

// modelRegScopes is the model server's registration.scopes: what a
// self-registered client may get, a part of modelScopes.
var modelRegScopes = []string{"openid", "profile", "offline_access", "comments:read"}

// modelRegistration is the model server's registration.* (open, no
// per-address budget: the model registers from one address all along).
func modelRegistration() *config.Registration {
	return &config.Registration{Mode: config.RegistrationOpen, Scopes: modelRegScopes, MaxClients: 100_000}
}

// register registers a client through POST /oauth2/register (RFC 7591),
// or reads, updates or deletes one registered so with its registration
// access token (RFC 7592). A registered client joins m.clients, so every
// other operation uses it; a deleted one leaves it, its codes void and
// its families dead.
func (m *model) register(t *rapid.T) {
	var mine []*modelClient
	for _, c := range m.clients {
		if c.selfReg {
			mine = append(mine, c)
		}
	}
	action := "new"
	if len(mine) > 0 {
		action = rapid.SampledFrom([]string{"new", "new", "read", "update", "delete"}).Draw(t, "registration")
	}
	switch action {
	case "new":
		m.registerNew(t)
	case "read":
		c := m.drawClient(t, "registered", mine)
		other := m.drawClient(t, "token of", mine)
		res := m.regCall(t, http.MethodGet, c.id, other.regToken, nil)
		if other != c && res.status != http.StatusUnauthorized {
			t.Fatalf("INVARIANT: %s's registration read with %s's token: %d %s", c.key, other.key, res.status, res.raw)
		}
		if other == c && (res.status != 200 || !slices.Equal(strings.Fields(res.str("scope")), c.scopes)) {
			t.Fatalf("read of %s's registration: %d %s, model scopes %v", c.key, res.status, res.raw, c.scopes)
		}
	case "update":
		m.registerUpdate(t, m.drawClient(t, "registered", mine))
	case "delete":
		m.registerDelete(t, m.drawClient(t, "registered", mine))
	}
}

// drawRegistration is registration metadata: scopes and grant types that
// may step outside what a self-registered client can have.
func drawRegistration(t *rapid.T) (scopes, grants []string) {
	scopes = rapid.SliceOfDistinct(rapid.SampledFrom(modelScopes), rapid.ID[string]).Draw(t, "reg scopes")
	grants = []string{"authorization_code", "refresh_token"}
	if extra := rapid.SampledFrom([]string{"", "", "password", "client_credentials"}).Draw(t, "reg extra grant"); extra != "" {
		grants = append(grants, extra)
	}
	return scopes, grants
}

// allowedRegistration: what the server must accept of a self-registered
// client.
func allowedRegistration(scopes, grants []string) bool {
	return subset(scopes, modelRegScopes) && subset(grants, []string{"authorization_code", "refresh_token"})
}

func (m *model) registerNew(t *rapid.T) {
	public := rapid.Bool().Draw(t, "reg public")
	scopes, grants := drawRegistration(t)
	md := map[string]any{"redirect_uris": []string{m.srv.RedirectURI}, "grant_types": grants,
		"scope": strings.Join(scopes, " "), "client_name": "Model App"}
	if public {
		md["token_endpoint_auth_method"] = "none"
	}
	res := m.regCall(t, http.MethodPost, "", "", md)
	if !allowedRegistration(scopes, grants) {
		if res.status == http.StatusCreated {
			t.Fatalf("INVARIANT: registration with scopes %v and grants %v beyond registration.scopes %v accepted: %s",
				scopes, grants, modelRegScopes, res.raw)
		}
		return
	}
	if res.status != http.StatusCreated {
		t.Fatalf("registration within the rules refused: %d %s", res.status, res.raw)
	}
	got := strings.Fields(res.str("scope"))
	if !subset(got, modelRegScopes) || (len(scopes) > 0 && !slices.Equal(got, scopes)) {
		t.Fatalf("INVARIANT: registered for %v, asked %v, registration.scopes %v", got, scopes, modelRegScopes)
	}
	// The record as the server keeps it: the model believes the store on
	// first party, so that a server that made the client first party is
	// caught skipping consent (codeFlow).
	id := res.str("client_id")
	stored, err := m.srv.Store.GetClient(m.t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if !stored.SelfRegistered {
		t.Fatalf("INVARIANT: a registered client is not marked self-registered: %+v", stored)
	}
	m.dcrSeq++
	c := &modelClient{key: fmt.Sprintf("dcr%d", m.dcrSeq), id: id, secret: res.str("client_secret"), public: public,
		first: stored.FirstParty, grants: grants, scopes: got, selfReg: true, regToken: res.str("registration_access_token")}
	if public != (c.secret == "") || c.regToken == "" {
		t.Fatalf("registration answer without its credentials: %s", res.raw)
	}
	m.clients = append(m.clients, c)
}

// registerUpdate replaces c's scopes with RFC 7592 PUT: within
// registration.scopes it takes effect for every later token (the model's
// c.scopes), beyond them nothing changes.
func (m *model) registerUpdate(t *rapid.T, c *modelClient) {
	scopes, grants := drawRegistration(t)
	md := map[string]any{"client_id": c.id, "redirect_uris": []string{m.srv.RedirectURI}, "grant_types": grants,
		"scope": strings.Join(scopes, " ")}
	if c.public {
		md["token_endpoint_auth_method"] = "none"
	}
	res := m.regCall(t, http.MethodPut, c.id, c.regToken, md)
	if !allowedRegistration(scopes, grants) {
		if res.status == http.StatusOK {
			t.Fatalf("INVARIANT: update of %s to scopes %v and grants %v accepted: %s", c.key, scopes, grants, res.raw)
		}
		return
	}
	if res.status != http.StatusOK {
		t.Fatalf("update within the rules refused: %d %s", res.status, res.raw)
	}
	got := strings.Fields(res.str("scope"))
	if !subset(got, modelRegScopes) {
		t.Fatalf("INVARIANT: updated to %v beyond registration.scopes", got)
	}
	c.scopes = got
}

// registerDelete deletes c with RFC 7592 DELETE: as the admin API's
// delete, its codes and families are void from now on.
func (m *model) registerDelete(t *rapid.T, c *modelClient) {
	if res := m.regCall(t, http.MethodDelete, c.id, c.regToken, nil); res.status != http.StatusNoContent {
		t.Fatalf("RFC 7592 DELETE of %s: %d %s", c.key, res.status, res.raw)
	}
	if res := m.regCall(t, http.MethodGet, c.id, c.regToken, nil); res.status != http.StatusUnauthorized {
		t.Fatalf("registration of deleted %s still read: %d %s", c.key, res.status, res.raw)
	}
	m.clients = slices.DeleteFunc(m.clients, func(x *modelClient) bool { return x == c })
	for _, f := range m.families {
		if f.client == c {
			f.dead = true
		}
	}
	for _, cd := range m.codes {
		if cd.client == c {
			cd.void = true
		}
	}
	for k := range m.consents {
		if k[1] == c.key {
			delete(m.consents, k)
		}
	}
}

// regCall sends a registration request: POST to the endpoint when id is
// "", else to the client's configuration endpoint with token as Bearer.
func (m *model) regCall(t *rapid.T, method, id, token string, body any) response {
	path := m.srv.URL + "/oauth2/register"
	if id != "" {
		path += "/" + id
	}
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	req, _ := http.NewRequest(method, path, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res := m.send(req)
	if res.err != nil {
		t.Fatal(res.err)
	}
	m.no5xx(res)
	return res
}
