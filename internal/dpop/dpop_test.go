package dpop_test

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/oauth2d/oauth2d/internal/dpop"
	"github.com/oauth2d/oauth2d/internal/dpop/dpoptest"
)

// memGuard is a ReplayGuard in memory, shared by verifiers that play
// several instances of one server.
type memGuard struct {
	mu   sync.Mutex
	seen map[string]time.Duration
}

func (g *memGuard) RecordProof(_ context.Context, id string, ttl time.Duration) (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.seen == nil {
		g.seen = map[string]time.Duration{}
	}
	if _, ok := g.seen[id]; ok {
		return false, nil
	}
	g.seen[id] = ttl
	return true, nil
}

// failingGuard is a Redis that does not answer.
type failingGuard struct{}

func (failingGuard) RecordProof(context.Context, string, time.Duration) (bool, error) {
	return false, errors.New("redis: timeout")
}

const tokenURL = "https://as.example.com/oauth2/token"

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return now }

func newVerifier(t *testing.T, g dpop.ReplayGuard, mod ...func(*dpop.Options)) *dpop.Verifier {
	t.Helper()
	opts := dpop.Options{Replay: g, Now: clock}
	for _, m := range mod {
		m(&opts)
	}
	v, err := dpop.NewVerifier(opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerifyAcceptsAnHonestProof(t *testing.T) {
	key := dpoptest.NewKey(t)
	g := &memGuard{}
	v := newVerifier(t, g)
	raw := key.Proof(t, dpoptest.For("POST", tokenURL).At(now.Add(-10*time.Second)))
	p, err := v.Verify(context.Background(), raw, dpop.Request{Method: "POST", URL: tokenURL})
	if err != nil {
		t.Fatal(err)
	}
	if p.Thumbprint != key.Thumbprint(t) {
		t.Errorf("thumbprint %q, want %q", p.Thumbprint, key.Thumbprint(t))
	}
	for id, ttl := range g.seen {
		if !strings.HasSuffix(id, " "+p.ID) || ttl != dpop.DefaultMaxAge-10*time.Second {
			t.Errorf("recorded %q for %v; want the jti until the proof is too old (%v)", id, ttl, dpop.DefaultMaxAge-10*time.Second)
		}
	}
}

// TestVerifyRefuses covers the proof-level attacks of issue 12 item 6 and
// every check of RFC 9449 §4.3.
func TestVerifyRefuses(t *testing.T) {
	key, other := dpoptest.NewKey(t), dpoptest.NewKey(t)
	good := dpoptest.For("POST", tokenURL)
	privateJWK := func() map[string]any {
		b, _ := json.Marshal(jose.JSONWebKey{Key: key.Private, Algorithm: "ES256"})
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return m
	}
	hs256 := func() string {
		h := map[string]any{"typ": "dpop+jwt", "alg": "HS256", "jwk": map[string]any{"kty": "oct", "k": "c2VjcmV0"}}
		unsigned := strings.TrimSuffix(dpoptest.Raw(t, h, good.At(now), nil), ".")
		m := hmac.New(sha256.New, []byte("secret"))
		m.Write([]byte(unsigned))
		return unsigned + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	withHeader := func(edit func(h map[string]any)) string {
		h := key.Header(t)
		edit(h)
		return key.SignHeader(t, h, good.At(now))
	}
	cases := []struct {
		name  string
		proof string
		req   dpop.Request
	}{
		{"another htm", key.Proof(t, dpoptest.For("GET", tokenURL).At(now)), dpop.Request{Method: "POST", URL: tokenURL}},
		{"htm in lower case", key.Proof(t, dpoptest.For("post", tokenURL).At(now)), dpop.Request{Method: "POST", URL: tokenURL}},
		{"another htu path", key.Proof(t, dpoptest.For("POST", "https://as.example.com/oauth2/revoke").At(now)), dpop.Request{Method: "POST", URL: tokenURL}},
		{"another htu host", key.Proof(t, dpoptest.For("POST", "https://evil.example.com/oauth2/token").At(now)), dpop.Request{Method: "POST", URL: tokenURL}},
		{"another htu scheme", key.Proof(t, dpoptest.For("POST", "http://as.example.com/oauth2/token").At(now)), dpop.Request{Method: "POST", URL: tokenURL}},
		{"relative htu", key.Proof(t, dpoptest.For("POST", "/oauth2/token").At(now)), dpop.Request{Method: "POST", URL: tokenURL}},
		{"old iat", key.Proof(t, good.At(now.Add(-dpop.DefaultMaxAge-time.Second))), dpop.Request{Method: "POST", URL: tokenURL}},
		{"future iat", key.Proof(t, good.At(now.Add(dpop.DefaultClockSkew+time.Second))), dpop.Request{Method: "POST", URL: tokenURL}},
		{"alg none", dpoptest.Raw(t, map[string]any{"typ": "dpop+jwt", "alg": "none", "jwk": key.Header(t)["jwk"]}, good.At(now), nil), dpop.Request{Method: "POST", URL: tokenURL}},
		{"alg HS256 with an oct jwk", hs256(), dpop.Request{Method: "POST", URL: tokenURL}},
		{"alg HS256 over a public jwk", withHeader(func(h map[string]any) { h["alg"] = "HS256" }), dpop.Request{Method: "POST", URL: tokenURL}},
		{"private key in the jwk", withHeader(func(h map[string]any) { h["jwk"] = privateJWK() }), dpop.Request{Method: "POST", URL: tokenURL}},
		{"no jwk", withHeader(func(h map[string]any) { delete(h, "jwk") }), dpop.Request{Method: "POST", URL: tokenURL}},
		{"jwk of another key", withHeader(func(h map[string]any) { h["jwk"] = other.Header(t)["jwk"] }), dpop.Request{Method: "POST", URL: tokenURL}},
		{"typ JWT", withHeader(func(h map[string]any) { h["typ"] = "JWT" }), dpop.Request{Method: "POST", URL: tokenURL}},
		{"no typ", withHeader(func(h map[string]any) { delete(h, "typ") }), dpop.Request{Method: "POST", URL: tokenURL}},
		{"a crit header", withHeader(func(h map[string]any) { h["crit"] = []string{"exp"}; h["exp"] = 1 }), dpop.Request{Method: "POST", URL: tokenURL}},
		{"no jti", key.SignClaims(t, map[string]any{"htm": "POST", "htu": tokenURL, "iat": now.Unix()}), dpop.Request{Method: "POST", URL: tokenURL}},
		{"jti too long", key.Proof(t, dpoptest.Claims{JTI: strings.Repeat("a", dpop.MaxJTIBytes+1), HTM: "POST", HTU: tokenURL, IAT: now.Unix()}), dpop.Request{Method: "POST", URL: tokenURL}},
		{"no iat", key.SignClaims(t, map[string]any{"jti": "j", "htm": "POST", "htu": tokenURL}), dpop.Request{Method: "POST", URL: tokenURL}},
		{"iat a string", key.SignClaims(t, map[string]any{"jti": "j", "htm": "POST", "htu": tokenURL, "iat": strconv.FormatInt(now.Unix(), 10)}), dpop.Request{Method: "POST", URL: tokenURL}},
		{"signature altered", altered(key.Proof(t, good.At(now))), dpop.Request{Method: "POST", URL: tokenURL}},
		{"JSON serialization", `{"payload":"e30","protected":"e30","signature":""}`, dpop.Request{Method: "POST", URL: tokenURL}},
		{"too large", strings.Repeat("a", dpop.MaxProofBytes) + ".b.c", dpop.Request{Method: "POST", URL: tokenURL}},
		{"no ath with a token", key.Proof(t, good.At(now)), dpop.Request{Method: "POST", URL: tokenURL, AccessTokenHash: tokenHash("tok")}},
		{"ath of another token", key.Proof(t, good.At(now).WithToken("other")), dpop.Request{Method: "POST", URL: tokenURL, AccessTokenHash: tokenHash("tok")}},
		{"garbage", "not a proof", dpop.Request{Method: "POST", URL: tokenURL}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerifier(t, &memGuard{}, func(o *dpop.Options) { o.Algorithms = []string{"ES256", "PS256"} })
			_, err := v.Verify(context.Background(), tc.proof, tc.req)
			if !errors.Is(err, dpop.ErrInvalidProof) {
				t.Fatalf("Verify = %v, want ErrInvalidProof", err)
			}
			t.Log(err)
		})
	}
}

// TestVerifyIATMustBeANumber: iat is a NumericDate (RFC 7519 §2), a JSON
// number; a string holding the same digits is refused, not read as one.
func TestVerifyIATMustBeANumber(t *testing.T) {
	key := dpoptest.NewKey(t)
	at := time.Unix(1700000000, 0)
	v := newVerifier(t, &memGuard{}, func(o *dpop.Options) { o.Now = func() time.Time { return at } })
	req := dpop.Request{Method: "POST", URL: tokenURL}
	for _, tc := range []struct {
		name string
		iat  any
		ok   bool
	}{
		{"number", json.Number("1700000000"), true},
		{"number with a fraction", json.Number("1700000000.5"), true},
		{"string", "1700000000", false},
		{"null", nil, false},
		{"boolean", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := key.SignClaims(t, map[string]any{"jti": rand.Text(), "htm": "POST", "htu": tokenURL, "iat": tc.iat})
			_, err := v.Verify(context.Background(), raw, req)
			switch {
			case tc.ok && err != nil:
				t.Fatalf("Verify = %v, want the proof accepted", err)
			case !tc.ok && (!errors.Is(err, dpop.ErrInvalidProof) || !strings.Contains(err.Error(), "iat is not a number")):
				t.Fatalf("Verify = %v, want ErrInvalidProof because iat is not a number", err)
			}
		})
	}
}

// TestVerifyRefusesPrivateJWKMembers signs each proof with the very key
// its jwk describes, so that the signature is good and only a rule on
// private members can refuse it, and checks that our own rule does: go-jose
// v4 refuses most private members too, but reads a jwk with oth as the
// public key and would accept that proof.
func TestVerifyRefusesPrivateJWKMembers(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey := dpoptest.NewKey(t)
	ecPrivate := func() map[string]any {
		b, _ := json.Marshal(jose.JSONWebKey{Key: ecKey.Private, Algorithm: "ES256"})
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return m
	}()
	rsaPublic := map[string]any{"kty": "RSA", "n": b64(rsaKey.N.Bytes()), "e": "AQAB"}
	with := func(extra map[string]any) map[string]any {
		m := maps.Clone(rsaPublic)
		maps.Copy(m, extra)
		return m
	}
	primes := map[string]any{"p": b64(rsaKey.Primes[0].Bytes()), "q": b64(rsaKey.Primes[1].Bytes())}
	signRS256 := func(jwk map[string]any) string {
		claims := dpoptest.For("POST", tokenURL).At(now)
		claims.JTI = rand.Text()
		unsigned := strings.TrimSuffix(dpoptest.Raw(t, map[string]any{"typ": "dpop+jwt", "alg": "RS256", "jwk": jwk}, claims, nil), ".")
		sum := sha256.Sum256([]byte(unsigned))
		sig, err := rsa.SignPKCS1v15(rand.Reader, rsaKey, crypto.SHA256, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		return unsigned + "." + b64(sig)
	}
	req := dpop.Request{Method: "POST", URL: tokenURL}
	// The control: the same key without its primes makes a good proof.
	if _, err := newVerifier(t, &memGuard{}).Verify(context.Background(), signRS256(rsaPublic), req); err != nil {
		t.Fatalf("RS256 proof with a public jwk: %v", err)
	}
	for _, tc := range []struct {
		name  string
		proof string
	}{
		{"RSA primes", signRS256(with(primes))},
		{"RSA other primes", signRS256(with(map[string]any{"oth": []map[string]any{{"r": b64(rsaKey.Primes[0].Bytes()), "d": "AQAB", "t": "AQAB"}}}))},
		{"RSA CRT exponent", signRS256(with(map[string]any{"dp": b64(rsaKey.Precomputed.Dp.Bytes())}))},
		{"EC private key", ecKey.SignHeader(t, map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": ecPrivate}, dpoptest.For("POST", tokenURL).At(now))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newVerifier(t, &memGuard{}).Verify(context.Background(), tc.proof, req)
			if !errors.Is(err, dpop.ErrInvalidProof) || !strings.Contains(err.Error(), "private member") {
				t.Fatalf("Verify = %v, want ErrInvalidProof for a private member of the jwk", err)
			}
		})
	}
}

func TestVerifyAlgorithmNotConfigured(t *testing.T) {
	key := dpoptest.NewKey(t) // ES256
	v := newVerifier(t, &memGuard{}, func(o *dpop.Options) { o.Algorithms = []string{"PS256"} })
	_, err := v.Verify(context.Background(), key.Proof(t, dpoptest.For("POST", tokenURL).At(now)), dpop.Request{Method: "POST", URL: tokenURL})
	if !errors.Is(err, dpop.ErrInvalidProof) {
		t.Fatalf("ES256 proof with only PS256 configured: %v", err)
	}
}

func TestNewVerifierRefusesSymmetricAlgorithms(t *testing.T) {
	for _, alg := range []string{"HS256", "none", ""} {
		if _, err := dpop.NewVerifier(dpop.Options{Replay: &memGuard{}, Algorithms: []string{alg}}); err == nil {
			t.Errorf("NewVerifier accepted %q", alg)
		}
	}
}

func TestVerifyReplayAcrossInstances(t *testing.T) {
	key := dpoptest.NewKey(t)
	shared := &memGuard{} // one Redis behind two instances
	a, b := newVerifier(t, shared), newVerifier(t, shared)
	raw := key.Proof(t, dpoptest.For("POST", tokenURL).At(now))
	req := dpop.Request{Method: "POST", URL: tokenURL}
	if _, err := a.Verify(context.Background(), raw, req); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Verify(context.Background(), raw, req); !errors.Is(err, dpop.ErrInvalidProof) {
		t.Fatalf("replay on the second instance: %v, want ErrInvalidProof", err)
	}
	// The same jti from another key is another proof.
	c := dpoptest.For("POST", tokenURL).At(now)
	c.JTI = "same-jti"
	if _, err := a.Verify(context.Background(), key.Proof(t, c), req); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Verify(context.Background(), dpoptest.NewKey(t).Proof(t, c), req); err != nil {
		t.Fatalf("another key's proof with the same jti: %v", err)
	}
}

func TestVerifyReplayGuardDown(t *testing.T) {
	key := dpoptest.NewKey(t)
	v := newVerifier(t, failingGuard{})
	_, err := v.Verify(context.Background(), key.Proof(t, dpoptest.For("POST", tokenURL).At(now)), dpop.Request{Method: "POST", URL: tokenURL})
	if err == nil || errors.Is(err, dpop.ErrInvalidProof) || errors.Is(err, dpop.ErrUseNonce) {
		t.Fatalf("Verify = %v; want an error that is not the client's fault", err)
	}
}

func TestVerifyHTUNormalisation(t *testing.T) {
	key := dpoptest.NewKey(t)
	for _, htu := range []string{
		"https://as.example.com/oauth2/token",
		"HTTPS://AS.Example.COM/oauth2/token",
		"https://as.example.com:443/oauth2/token",
		"https://as.example.com/oauth2/./token",
		"https://as.example.com/x/../oauth2/token",
		"https://as.example.com/oauth2/%74oken",
		"https://as.example.com/oauth2/token?query=ignored#and-fragment",
	} {
		t.Run(htu, func(t *testing.T) {
			v := newVerifier(t, &memGuard{})
			if _, err := v.Verify(context.Background(), key.Proof(t, dpoptest.For("POST", htu).At(now)), dpop.Request{Method: "POST", URL: tokenURL}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestNormalizeHTU(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"http://localhost:8080", "http://localhost:8080/"},
		{"http://LOCALHOST:80/a/b/../c/./d", "http://localhost/a/c/d"},
		{"https://[::1]:443/p%2fq%7e", "https://[::1]/p%2Fq~"},
		{"https://user:pw@host/p", "https://host/p"},
		{"https://host/a/..", "https://host/"},
	} {
		got, err := dpop.NormalizeHTU(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("NormalizeHTU(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "/token", "ftp://host/x", "mailto:a@b", "https://"} {
		if got, err := dpop.NormalizeHTU(bad); err == nil {
			t.Errorf("NormalizeHTU(%q) = %q, want an error", bad, got)
		}
	}
}

func TestNonces(t *testing.T) {
	key := dpoptest.NewKey(t)
	at := now
	nonces, err := dpop.NewNonces([]byte(strings.Repeat("s", 32)), time.Minute, func() time.Time { return at })
	if err != nil {
		t.Fatal(err)
	}
	otherSecret, _ := dpop.NewNonces([]byte(strings.Repeat("t", 32)), time.Minute, func() time.Time { return at })
	v := newVerifier(t, &memGuard{}, func(o *dpop.Options) { o.Nonces = nonces; o.Now = func() time.Time { return at } })
	req := dpop.Request{Method: "POST", URL: tokenURL}
	current := v.Nonce()
	cases := []struct {
		name    string
		nonce   string
		elapsed time.Duration
		want    error
	}{
		{"none", "", 0, dpop.ErrUseNonce},
		{"made with another secret", otherSecret.Current(), 0, dpop.ErrUseNonce},
		{"garbage", "abc", 0, dpop.ErrUseNonce},
		{"current", current, 0, nil},
		{"one step later", current, time.Minute, nil},
		{"two steps later", current, 2*time.Minute + time.Second, dpop.ErrUseNonce},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			at = now.Add(tc.elapsed)
			_, err := v.Verify(context.Background(), key.Proof(t, dpoptest.For("POST", tokenURL).At(at).WithNonce(tc.nonce)), req)
			if !errors.Is(err, tc.want) && (err != nil || tc.want != nil) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
	at = now.Add(2 * time.Minute)
	if v.Nonce() == current {
		t.Error("the nonce did not rotate")
	}
	if _, err := dpop.NewNonces([]byte("short"), time.Minute, time.Now); err == nil {
		t.Error("a short secret was accepted")
	}
}

func TestFromHeader(t *testing.T) {
	h := http.Header{}
	if raw, err := dpop.FromHeader(h); raw != "" || err != nil {
		t.Fatalf("no header: %q, %v", raw, err)
	}
	h.Add("DPoP", "a.b.c")
	if raw, err := dpop.FromHeader(h); raw != "a.b.c" || err != nil {
		t.Fatalf("one header: %q, %v", raw, err)
	}
	h.Add("DPoP", "d.e.f")
	if _, err := dpop.FromHeader(h); !errors.Is(err, dpop.ErrInvalidProof) {
		t.Fatalf("two headers: %v", err)
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// altered flips a bit of the signature.
func altered(raw string) string {
	i := strings.LastIndexByte(raw, '.')
	sig, _ := base64.RawURLEncoding.DecodeString(raw[i+1:])
	sig[0] ^= 1
	return raw[:i+1] + b64(sig)
}

// tokenHash is the SHA-256 of an access token, as dpop.Request takes it.
func tokenHash(tok string) []byte {
	sum := sha256.Sum256([]byte(tok))
	return sum[:]
}
