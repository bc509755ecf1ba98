package resourceserver_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/oauth2d/oauth2d/internal/token"
	"github.com/oauth2d/oauth2d/resourceserver"
)

// fakeIssuer stands in for oauth2d as a resource server outside it sees
// it: RFC 8414 metadata and a JWKS served over HTTP (keys swappable, to
// rotate), and a minter of its access tokens.
type fakeIssuer struct {
	*httptest.Server
	mu         sync.Mutex
	keys       *token.KeySet
	jwksserved atomic.Int32
}

func newFakeIssuer(t testing.TB) *fakeIssuer {
	t.Helper()
	fi := &fakeIssuer{keys: devKeys(t)}
	fi.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/.well-known/oauth-authorization-server":
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": fi.URL, "jwks_uri": fi.URL + "/jwks"})
		case "/jwks":
			fi.jwksserved.Add(1)
			fi.mu.Lock()
			defer fi.mu.Unlock()
			_, _ = w.Write(fi.keys.JWKS())
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(fi.Close)
	return fi
}

func devKeys(t testing.TB) *token.KeySet {
	keys, err := token.NewDevKeySet(token.AlgES256, token.AlgRS256, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func (fi *fakeIssuer) audience() string { return fi.URL + "/api" }

// rotate publishes fresh keys only (the old ones withdrawn).
func (fi *fakeIssuer) rotate(t testing.TB) {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	fi.keys = devKeys(t)
}

func (fi *fakeIssuer) mint(t testing.TB, req token.AccessRequest) string {
	t.Helper()
	fi.mu.Lock()
	keys := fi.keys
	fi.mu.Unlock()
	raw, _, err := token.NewMinter(keys, fi.URL, []string{fi.audience()}, time.Now).MintAccess(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func (fi *fakeIssuer) verifier(t testing.TB, now func() time.Time) *resourceserver.JWKSVerifier {
	t.Helper()
	v, err := resourceserver.NewJWKSVerifier(t.Context(), resourceserver.JWKSConfig{Issuer: fi.URL, Audience: fi.audience(), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

var alice = token.AccessRequest{Subject: "user-1", ClientID: "web", Scope: []string{"profile"}, Lifetime: time.Minute}

// TestJWKSVerifier runs the verification against tokens oauth2d mints,
// with keys found through the metadata and fetched over HTTP.
func TestJWKSVerifier(t *testing.T) {
	fi := newFakeIssuer(t)
	v := fi.verifier(t, time.Now)
	valid := fi.mint(t, alice)
	wrongAud := alice
	wrongAud.Audience = []string{"https://other.example"}
	expired := alice
	expired.IssuedAt = time.Now().Add(-time.Hour)
	future := alice
	future.IssuedAt = time.Now().Add(time.Hour)
	idToken, err := token.NewMinter(fi.keys, fi.URL, nil, time.Now).MintIDToken(context.Background(), token.IDClaims{Subject: "user-1", Audience: fi.audience(),
		Lifetime: time.Minute, Extra: map[string]any{"scope": "profile", "client_id": "web"}})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := fi.keys.Active(token.AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(valid, ".")
	tests := []struct {
		name, token string
		ok          bool
	}{
		{"valid", valid, true},
		{"wrong audience", fi.mint(t, wrongAud), false},
		{"expired", fi.mint(t, expired), false},
		{"issued in the future", fi.mint(t, future), false},
		{"id_token", idToken, false},
		// Valid in every way but the header, so only that check refuses
		// them; the at+jwt row proves the re-signing itself is sound.
		{"re-signed with typ at+jwt", resigned(t, signer, valid, map[string]string{"typ": "at+jwt"}), true},
		{"typ JWT", resigned(t, signer, valid, map[string]string{"typ": "JWT"}), false},
		{"no typ", resigned(t, signer, valid, map[string]string{}), false},
		{"crit header", resigned(t, signer, valid, map[string]string{"typ": "at+jwt", "crit": "x"}), false},
		{"HS256 keyed with nothing", hs256(t, parts[1], signer.ID()), false},
		{"alg none", "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0." + parts[1] + ".", false},
		{"tampered", parts[0] + "." + parts[1] + "x." + parts[2], false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.VerifyAccess(tc.token)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, resourceserver.ErrInvalidToken) {
				t.Fatalf("err %v does not wrap ErrInvalidToken", err)
			}
			if tc.ok && (c.Subject != "user-1" || c.ClientID != "web" || c.Scope[0] != "profile") {
				t.Fatalf("claims %+v", c)
			}
		})
	}
	noSub, _ := json.Marshal(map[string]any{"iss": fi.URL, "aud": fi.audience(), "client_id": "web", "jti": "j",
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Minute).Unix()})
	if _, err := v.VerifyAccess(resigned(t, signer, "x."+base64.RawURLEncoding.EncodeToString(noSub), map[string]string{"typ": "at+jwt"})); err == nil {
		t.Fatal("a token without sub passed")
	}
}

// TestJWKSRefetchFloor: a token signed with a key published after the
// last fetch is verified after one refetch, and unknown kids cause at
// most one fetch per floor.
func TestJWKSRefetchFloor(t *testing.T) {
	fi := newFakeIssuer(t)
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	v := fi.verifier(t, clock)
	advance := func() {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(resourceserver.DefaultRefetchFloor)
	}
	advance()
	fi.rotate(t)
	if _, err := v.VerifyAccess(fi.mint(t, alice)); err != nil {
		t.Fatalf("token of a newly published key: %v", err)
	}
	fetches := fi.jwksserved.Load()
	fi.rotate(t)
	rotated := fi.mint(t, alice)
	for range 20 {
		if _, err := v.VerifyAccess(rotated); err == nil {
			t.Fatal("verified with a key fetched before the floor allowed")
		}
	}
	if got := fi.jwksserved.Load(); got != fetches {
		t.Fatalf("%d fetches within the floor, want none", got-fetches)
	}
	advance()
	if _, err := v.VerifyAccess(rotated); err != nil {
		t.Fatalf("after the floor: %v", err)
	}
	if got := fi.jwksserved.Load(); got != fetches+1 {
		t.Fatalf("%d fetches after the floor, want 1", got-fetches)
	}
}

// resigned re-signs raw's payload, byte for byte, with key under a header
// of its alg and kid and the fields of extra.
func resigned(t *testing.T, key *token.Key, raw string, extra map[string]string) string {
	t.Helper()
	header := map[string]string{"alg": key.Algorithm(), "kid": key.ID()}
	for k, v := range extra {
		header[k] = v
	}
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	signing := base64.RawURLEncoding.EncodeToString(h) + "." + strings.Split(raw, ".")[1]
	sig, err := jwt.GetSigningMethod(key.Algorithm()).Sign(signing, key.Signer())
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// hs256 signs payload with HMAC keyed by an empty secret: the classic
// algorithm-confusion forgery.
func hs256(t *testing.T, payload, kid string) string {
	h, _ := json.Marshal(map[string]string{"alg": "HS256", "typ": "at+jwt", "kid": kid})
	signing := base64.RawURLEncoding.EncodeToString(h) + "." + payload
	sig, err := jwt.SigningMethodHS256.Sign(signing, []byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// TestDefaultAlgorithmsMatchOauth2d keeps DefaultAlgorithms in step with
// the algorithms oauth2d signs with.
func TestDefaultAlgorithmsMatchOauth2d(t *testing.T) {
	got, want := slices.Clone(resourceserver.DefaultAlgorithms), token.Algorithms()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("resourceserver accepts %v, oauth2d signs with %v", got, want)
	}
}

// TestJWKSRefresh: a key the issuer withdrew stops verifying once the
// JWKS is older than Refresh.
func TestJWKSRefresh(t *testing.T) {
	fi := newFakeIssuer(t)
	clock := &fakeClock{now: time.Now()}
	v := fi.verifier(t, clock.Now)
	long := alice
	long.Lifetime = 3 * time.Hour
	old := fi.mint(t, long)
	if _, err := v.VerifyAccess(old); err != nil {
		t.Fatal(err)
	}
	fi.rotate(t) // the old key is withdrawn
	clock.Advance(resourceserver.DefaultJWKSRefresh - time.Second)
	if _, err := v.VerifyAccess(old); err != nil {
		t.Fatalf("before Refresh: %v", err)
	}
	clock.Advance(time.Second)
	eventually(t, 2*time.Second, "the withdrawn key dropped", func() bool {
		_, err := v.VerifyAccess(old)
		return err != nil
	})
}
