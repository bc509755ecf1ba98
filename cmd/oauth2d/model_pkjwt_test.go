package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"pgregory.net/rapid"

	"github.com/oauth2d/oauth2d/internal/oauth"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// The private_key_jwt client of each sequence (issue 20): registered on
// first use, with a key only the model holds. Its state lives beside the
// model (the model struct is shared by every operation's file).
type pkjwtState struct {
	client *modelClient
	key    *ecdsa.PrivateKey
	spent  []string // assertions presented before, accepted or not
}

var pkjwtStates sync.Map // *model → *pkjwtState

func (m *model) pkjwt() *pkjwtState {
	if st, ok := pkjwtStates.Load(m); ok {
		return st.(*pkjwtState)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		m.t.Fatal(err)
	}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Use: "sig"}}})
	c := &modelClient{key: "pkjwt", id: "pkjwt-" + strings.TrimPrefix(m.clients[0].id, "fp-"),
		grants: []string{"client_credentials"}, scopes: []string{"comments:read", "photos:read"}}
	sc := &storage.Client{ID: c.id, TokenEndpointAuthMethod: storage.AuthMethodPrivateKeyJWT, JWKS: string(jwks),
		GrantTypes: c.grants, Scopes: slices.Clone(c.scopes)}
	if err := m.srv.Store.CreateClient(context.Background(), sc); err != nil {
		m.t.Fatal(err)
	}
	st := &pkjwtState{client: c, key: key}
	pkjwtStates.Store(m, st)
	m.tb.Cleanup(func() { pkjwtStates.Delete(m) })
	return st
}

// assertion is a client assertion of the model's private_key_jwt client,
// on the server's (injected) clock, with aud as given.
func (st *pkjwtState) assertion(m *model, aud any) string {
	now := m.clk.Now()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: st.key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	if err != nil {
		m.t.Fatal(err)
	}
	payload, _ := json.Marshal(map[string]any{"iss": st.client.id, "sub": st.client.id, "aud": aud,
		"jti": secret.NewToken(16), "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()})
	jws, err := signer.Sign(payload)
	if err != nil {
		m.t.Fatal(err)
	}
	out, _ := jws.CompactSerialize()
	return out
}

// pkjwtToken: the private_key_jwt client asks for a client_credentials
// token with a fresh assertion (granted, and the token obeys the
// invariants of any issued token), an assertion presented before
// (refused invalid_client, nothing issued: a client assertion is used
// at most once), or one for another audience (refused likewise).
func (m *model) pkjwtToken(t *rapid.T) {
	st := m.pkjwt()
	c := st.client
	kind := rapid.SampledFrom([]string{"fresh", "fresh", "replayed", "token endpoint aud", "aud array"}).Draw(t, "assertion")
	var assertion string
	switch kind {
	case "fresh":
		assertion = st.assertion(m, m.srv.Issuer)
	case "replayed":
		if len(st.spent) == 0 {
			t.Skip("no assertion presented yet")
		}
		assertion = rapid.SampledFrom(st.spent).Draw(t, "which")
	case "token endpoint aud":
		assertion = st.assertion(m, m.srv.Issuer+oauth.TokenPath)
	default:
		assertion = st.assertion(m, []string{m.srv.Issuer})
	}
	requested := drawScope(t, "scope", c.scopes)
	f := url.Values{"grant_type": {"client_credentials"},
		"client_assertion_type": {oauth.ClientAssertionTypeJWT}, "client_assertion": {assertion}}
	if requested != nil {
		f.Set("scope", strings.Join(requested, " "))
	}
	req, _ := http.NewRequest(http.MethodPost, m.srv.URL+oauth.TokenPath, strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res := m.send(req)
	if res.err != nil {
		t.Fatal(res.err)
	}
	m.no5xx(res)
	st.spent = append(st.spent, assertion)
	if kind != "fresh" {
		if res.status != http.StatusUnauthorized || res.str("error") != "invalid_client" || res.str("access_token") != "" {
			t.Fatalf("INVARIANT 4: a %s client assertion was taken: %d %s", kind, res.status, res.raw)
		}
		return
	}
	if !subset(requested, c.scopes) {
		if res.status == http.StatusOK {
			m.checkIssued(res, c, &modelUser{key: "pkjwt", id: c.id}, c.scopes, requested, nil, nil, nil)
		}
		return
	}
	if res.status != http.StatusOK {
		t.Fatalf("a fresh client assertion was refused: %d %s", res.status, res.raw)
	}
	m.checkIssued(res, c, &modelUser{key: "pkjwt", id: c.id}, c.scopes, requested, nil, nil, nil)
}
