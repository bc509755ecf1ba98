package token

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testredis"
)

func TestMain(m *testing.M) { testredis.Main(m) }

// startInstance loads keys as `oauth2d serve` does with keys.source
// redis: EnsureKeys, then a StoreSource's first Reload. It returns errors
// rather than failing t, so that instances can start in goroutines.
func startInstance(ctx context.Context, store storage.KeyStore, enc []byte, now func() time.Time) (*instance, error) {
	set, err := NewKeySet(AlgES256, AlgRS256) // the defaults: RS256 keys take long to generate
	if err != nil {
		return nil, err
	}
	if err := EnsureKeys(ctx, store, enc, set.SigningAlgorithms(), testLifetime, now()); err != nil {
		return nil, err
	}
	src, err := NewStoreSource(set, store, enc, discardLogger(), now)
	if err != nil {
		return nil, err
	}
	if err := src.Reload(ctx); err != nil {
		return nil, err
	}
	v, err := NewVerifier(set, testIssuer, []string{testAudience}, 0, now)
	if err != nil {
		return nil, err
	}
	return &instance{set: set, source: src, minter: newTestMinter(set, now), verify: v}, nil
}

// mintBoth mints an access token and an ID token, as a code exchange with
// scope openid does.
func (in *instance) mintBoth(t *testing.T) (access, id string) {
	t.Helper()
	access = in.mint(t)
	id, err := in.minter.MintIDToken(context.Background(), IDClaims{Subject: "u", Audience: "c", AccessToken: access, Lifetime: testLifetime})
	if err != nil {
		t.Fatal(err)
	}
	return access, id
}

// verifyWithJWKS checks raw's signature as a relying party does: with the
// key its kid names in a JWKS document, parsed by go-jose.
func verifyWithJWKS(raw string, jwks []byte) error {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(jwks, &set); err != nil {
		return err
	}
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil {
		return err
	}
	kid := jws.Signatures[0].Header.KeyID
	keys := set.Key(kid)
	if len(keys) != 1 {
		return fmt.Errorf("kid %s is not in the JWKS", kid)
	}
	_, err = jws.Verify(keys[0])
	return err
}

// checkEveryTokenVerifiesEverywhere mints an access and an ID token on
// every instance and verifies each with every instance's JWKS: behind a
// load balancer, a relying party may fetch the JWKS from any of them.
func checkEveryTokenVerifiesEverywhere(t *testing.T, instances []*instance) {
	t.Helper()
	for i, minting := range instances {
		access, id := minting.mintBoth(t)
		for j, serving := range instances {
			for _, tok := range []struct{ kind, raw string }{{"access token", access}, {"ID token", id}} {
				if err := verifyWithJWKS(tok.raw, serving.set.JWKS()); err != nil {
					t.Errorf("%s of instance %d, with the JWKS of instance %d: %v", tok.kind, i, j, err)
				}
			}
		}
		if _, err := minting.verify.VerifyAccess(access); err != nil {
			t.Errorf("instance %d rejects its own access token: %v", i, err)
		}
	}
}

// A first rollout starts every instance at the same moment on an empty
// Redis (issue 17 item 9). Each proposes keys; one proposal per algorithm
// must win, so that every instance signs with keys every other publishes.
// Later rotations reach every instance, for every algorithm.
func TestInstancesStartedTogetherShareTheirKeys(t *testing.T) {
	const n = 3
	srv := testredis.New(t)
	// The real clock: each instance stamps its keys with its own now, as
	// processes do.
	ctx, enc := context.Background(), testEncKey(9)
	stores := make([]*storage.Store, n)
	for i := range stores { // one connection pool each, as separate processes have
		st, err := storage.Open(ctx, storage.Options{URL: srv.URL, Prefix: srv.Prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		stores[i] = st
	}
	instances, errs := make([]*instance, n), make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start // all released at once, so that they really race
			instances[i], errs[i] = startInstance(ctx, stores[i], enc, time.Now)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
	}
	checkEveryTokenVerifiesEverywhere(t, instances)
	infos, err := List(ctx, stores[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 4 {
		var got []string
		for _, k := range infos {
			got = append(got, k.Algorithm+" "+string(k.State))
		}
		t.Fatalf("stored keys: %v; want an active and a next key for each of ES256 and RS256", got)
	}

	// A rotation made elsewhere (`keys rotate`) promotes the pre-published
	// keys of both algorithms; every instance's reload loop picks up both.
	runCtx, cancel := context.WithCancel(ctx)
	var running sync.WaitGroup
	defer func() { cancel(); running.Wait() }()
	for _, in := range instances {
		running.Go(func() { in.source.Run(runCtx, 10*time.Millisecond) })
	}
	want := map[string]string{}
	for _, alg := range []string{AlgES256, AlgRS256} {
		for _, k := range infos {
			if k.Algorithm == alg && k.State == StateNext {
				want[alg] = k.ID
			}
		}
		if _, err := Rotate(ctx, stores[0], enc, alg, testLifetime, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for i, in := range instances {
		for alg, kid := range want {
			for {
				k, err := in.set.Active(alg)
				if err == nil && k.ID() == kid {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("instance %d does not sign %s with the rotated-in key %s within 10s", i, alg, kid)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
	}
	checkEveryTokenVerifiesEverywhere(t, instances)
}
