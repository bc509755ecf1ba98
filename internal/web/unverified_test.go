package web_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/oauth2d/oauth2d/internal/config"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// TestConsentMarksSelfRegisteredClientUnverified: a client that
// registered itself (RFC 7591) is called unverified on the consent page,
// with the host its answer goes to, however it named itself; an
// operator's client is not; and the self-registered one never skips the
// page as first party.
func TestConsentMarksSelfRegisteredClientUnverified(t *testing.T) {
	s := webtest.New(t, webtest.Options{Registration: &config.Registration{Mode: config.RegistrationOpen,
		Scopes: []string{"openid", "profile"}, MaxClients: 10}})
	body, _ := json.Marshal(map[string]any{"redirect_uris": []string{s.RedirectURI}, "token_endpoint_auth_method": "client_secret_basic",
		"client_name": "Official Bank App"})
	res, err := http.Post(s.URL+"/oauth2/register", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var reg struct {
		ClientID string `json:"client_id"`
	}
	_ = json.NewDecoder(res.Body).Decode(&reg)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated || reg.ClientID == "" {
		t.Fatalf("register: %d", res.StatusCode)
	}

	b := s.NewBrowser(t)
	params, _ := webtest.CodeRequest(reg.ClientID, "openid profile")
	login := b.Authorize(params)
	if !strings.Contains(login.Body, "(an unverified application)") {
		t.Fatalf("login page of a self-registered client does not say it is unverified:\n%s", login.Body)
	}
	page := b.SubmitLogin(login, "alice", webtest.AlicePassword)
	if !strings.Contains(page.Body, `name="decision"`) {
		t.Fatalf("no consent page for a self-registered client: %d %s", page.Status, page.Body)
	}
	if !strings.Contains(page.Body, `id="unverified"`) || !strings.Contains(page.Body, "Unverified application") ||
		!strings.Contains(page.Body, "<strong>localhost:9000</strong>") || !strings.Contains(page.Body, "Official Bank App") {
		t.Fatalf("consent page of a self-registered client does not say it is unverified and where the answer goes:\n%s", page.Body)
	}

	params, _ = webtest.CodeRequest(webtest.ThirdPartyID, "openid profile")
	page = b.Follow(b.Authorize(params))
	if !strings.Contains(page.Body, `name="decision"`) || strings.Contains(page.Body, "Unverified") {
		t.Fatalf("an operator's client is called unverified, or not asked:\n%s", page.Body)
	}

	// Even marked first party in the store, it is asked.
	cl, err := s.Store.GetClient(t.Context(), reg.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	cl.FirstParty = true
	if err := s.Store.UpsertClient(t.Context(), cl); err != nil {
		t.Fatal(err)
	}
	params, _ = webtest.CodeRequest(reg.ClientID, "openid")
	if page = b.Follow(b.Authorize(params)); !strings.Contains(page.Body, `name="decision"`) {
		t.Fatalf("a self-registered client marked first party skipped consent: %d %s", page.Status, page.Header.Get("Location"))
	}
}
