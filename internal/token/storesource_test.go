package token

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/storage"
)

// instance is one oauth2d process: its own key set, loaded from the
// shared store, with a minter and a verifier.
type instance struct {
	set    *KeySet
	source *StoreSource
	minter *Minter
	verify *Verifier
}

func newInstance(t *testing.T, store storage.KeyStore, enc []byte, clock *fakeClock) *instance {
	t.Helper()
	set, err := NewKeySet(AlgES256, AlgEdDSA) // no RSA: rotations generate keys
	if err != nil {
		t.Fatal(err)
	}
	src, err := NewStoreSource(set, store, enc, discardLogger(), clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &instance{
		set: set, source: src,
		minter: newTestMinter(set, clock.Now),
		verify: newTestVerifier(t, set, clock),
	}
}

func (in *instance) mint(t *testing.T) string {
	t.Helper()
	raw, _, err := in.minter.MintAccess(context.Background(), AccessRequest{Subject: "u", ClientID: "c", Lifetime: testLifetime})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func (in *instance) signer(t *testing.T) string {
	t.Helper()
	k, err := in.set.Active(AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	return k.ID()
}

func publishedKIDs(t *testing.T, set *KeySet) []string {
	t.Helper()
	var doc struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(set.JWKS(), &doc); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range doc.Keys {
		kids = append(kids, k.Kid)
	}
	return kids
}

func TestRotationWithoutDowntime(t *testing.T) {
	ctx, store, enc, clock := context.Background(), newFakeKeyStore(), testEncKey(7), newClock()
	if err := EnsureKeys(ctx, store, enc, []string{AlgES256, AlgEdDSA}, testLifetime, clock.Now()); err != nil {
		t.Fatal(err)
	}
	a, b := newInstance(t, store, enc, clock), newInstance(t, store, enc, clock)
	oldKID := a.signer(t)
	nextKID := keysByState(t, store, AlgES256)[StateNext][0]
	// A resource server's cached copy of the JWKS, taken before rotation.
	cachedJWKS := publishedKIDs(t, a.set)
	if !slices.Contains(cachedJWKS, nextKID) {
		t.Fatalf("next key %s not published before rotation: %v", nextKID, cachedJWKS)
	}
	clock.Advance(30 * 24 * time.Hour)
	before := a.mint(t)
	rotatedAt := clock.Now()
	if _, err := Rotate(ctx, store, enc, AlgES256, testLifetime, rotatedAt); err != nil {
		t.Fatal(err)
	}
	retired, _ := store.get(oldKID)
	if want := rotatedAt.Add(testLifetime + RotationLeeway); retired.State != string(StateRetired) || !retired.NotAfter.Equal(want) {
		t.Fatalf("old key: state %s, NotAfter %v; want retired until %v", retired.State, retired.NotAfter, want)
	}

	// a reloads first; b is still on the old snapshot.
	if err := a.source.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if got := a.signer(t); got != nextKID {
		t.Fatalf("after rotation a signs with %s, want the pre-published %s", got, nextKID)
	}
	after := a.mint(t)
	for _, check := range []struct {
		name string
		in   *instance
		raw  string
	}{
		{"token from before rotation, on the reloaded instance", a, before},
		{"token from before rotation, on the stale instance", b, before},
		{"token from the new key, on the stale instance", b, after},
		{"token from the new key, on the reloaded instance", a, after},
	} {
		if _, err := check.in.verify.VerifyAccess(check.raw); err != nil {
			t.Errorf("%s: %v", check.name, err)
		}
	}
	if got := publishedKIDs(t, a.set); !slices.Contains(got, oldKID) || len(got) != 5 {
		t.Fatalf("published after rotation: %v, want old, active, new next and the EdDSA pair", got)
	}

	// Past NotAfter the old key is no longer published, and the next
	// rotation deletes it.
	clock.Advance(testLifetime + RotationLeeway)
	if err := a.source.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(publishedKIDs(t, a.set), oldKID) {
		t.Fatal("retired key still published after NotAfter")
	}
	if _, err := Rotate(ctx, store, enc, AlgES256, testLifetime, clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, ok := store.get(oldKID); ok {
		t.Fatal("retired key past NotAfter not deleted by rotation")
	}
}

func TestReloadFailuresKeepTheCurrentKeys(t *testing.T) {
	ctx, enc, clock := context.Background(), testEncKey(7), newClock()
	tests := []struct {
		name    string
		damage  func(t *testing.T, store *fakeKeyStore)
		wantErr error
	}{
		{
			name:    "store down",
			damage:  func(t *testing.T, store *fakeKeyStore) { store.setFailList(errors.New("connection refused")) },
			wantErr: nil,
		},
		{
			name: "a key encrypted under another key",
			damage: func(t *testing.T, store *fakeKeyStore) {
				sk, err := newStoredKey(testEncKey(8), AlgES256, StateNext, clock.Now())
				if err != nil {
					t.Fatal(err)
				}
				_ = store.PutSigningKey(ctx, sk)
			},
			wantErr: ErrKeyDecrypt,
		},
		{
			name: "material swapped between records",
			damage: func(t *testing.T, store *fakeKeyStore) {
				byState := keysByState(t, store, AlgES256)
				active, _ := store.get(byState[StateActive][0])
				next, _ := store.get(byState[StateNext][0])
				active.Material = next.Material
				_ = store.PutSigningKey(ctx, &active)
			},
			wantErr: ErrKeyDecrypt,
		},
		{
			name: "no active key left",
			damage: func(t *testing.T, store *fakeKeyStore) {
				_ = store.DeleteSigningKey(ctx, keysByState(t, store, AlgES256)[StateActive][0])
			},
			wantErr: ErrNoActiveKey,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := newFakeKeyStore()
			if err := EnsureKeys(ctx, store, enc, []string{AlgES256, AlgEdDSA}, testLifetime, clock.Now()); err != nil {
				t.Fatal(err)
			}
			in := newInstance(t, store, enc, clock)
			signer, jwks := in.signer(t), string(in.set.JWKS())
			tc.damage(t, store)
			err := in.source.Reload(ctx)
			if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if in.signer(t) != signer || string(in.set.JWKS()) != jwks {
				t.Fatal("a failed reload changed the key set")
			}
		})
	}
}

func TestStoreSourceWithTheWrongEncryptionKeyFailsClearly(t *testing.T) {
	ctx, store, clock := context.Background(), newFakeKeyStore(), newClock()
	if err := EnsureKeys(ctx, store, testEncKey(1), []string{AlgES256, AlgEdDSA}, testLifetime, clock.Now()); err != nil {
		t.Fatal(err)
	}
	set, _ := NewKeySet(AlgES256, AlgEdDSA)
	src, err := NewStoreSource(set, store, testEncKey(2), discardLogger(), clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Reload(ctx); !errors.Is(err, ErrKeyDecrypt) {
		t.Fatalf("err = %v, want ErrKeyDecrypt", err)
	}
	if _, err := NewStoreSource(set, store, []byte("short"), discardLogger(), clock.Now); err == nil {
		t.Fatal("accepted a 5-byte encryption key")
	}
}

func TestRunPicksUpARotationMadeElsewhere(t *testing.T) {
	ctx, store, enc, clock := context.Background(), newFakeKeyStore(), testEncKey(7), newClock()
	if err := EnsureKeys(ctx, store, enc, []string{AlgES256, AlgEdDSA}, testLifetime, clock.Now()); err != nil {
		t.Fatal(err)
	}
	in := newInstance(t, store, enc, clock)
	next := keysByState(t, store, AlgES256)[StateNext][0]
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { in.source.Run(runCtx, 10*time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()

	if _, err := Rotate(ctx, store, enc, AlgES256, testLifetime, clock.Now()); err != nil { // "the CLI"
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for in.signer(t) != next {
		if time.Now().After(deadline) {
			t.Fatal("Run did not pick up the rotation within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// After Redis lost its data, Restore puts back the keys the instance last
// loaded, so tokens signed before stay valid after the next reload; keys
// the store still has are left alone.
func TestRestorePutsBackLostKeys(t *testing.T) {
	ctx, store, enc, clock := context.Background(), newFakeKeyStore(), testEncKey(7), newClock()
	if err := EnsureKeys(ctx, store, enc, []string{AlgES256, AlgEdDSA}, testLifetime, clock.Now()); err != nil {
		t.Fatal(err)
	}
	a := newInstance(t, store, enc, clock)
	before := a.mint(t)
	all, _ := store.ListSigningKeys(ctx)
	// The one key the store kept was changed there since the last load:
	// Restore must not put the instance's older copy over it.
	kept := *all[0]
	kept.NotAfter = clock.Now().Add(time.Hour)
	if err := store.PutSigningKey(ctx, &kept); err != nil {
		t.Fatal(err)
	}
	for _, k := range all[1:] {
		if err := store.DeleteSigningKey(ctx, k.ID); err != nil {
			t.Fatal(err)
		}
	}
	n, err := a.source.Restore(ctx)
	if err != nil || n != len(all)-1 {
		t.Fatalf("Restore = %d, %v; want %d restored", n, err, len(all)-1)
	}
	after, _ := store.ListSigningKeys(ctx)
	if len(after) != len(all) {
		t.Fatalf("%d keys stored after Restore, want %d", len(after), len(all))
	}
	if got, _ := store.get(kept.ID); !got.NotAfter.Equal(kept.NotAfter) {
		t.Fatal("a key the store still had was overwritten")
	}
	if err := a.source.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.verify.VerifyAccess(before); err != nil {
		t.Fatalf("token signed before the loss: %v", err)
	}
	if n, err := a.source.Restore(ctx); err != nil || n != 0 {
		t.Fatalf("second Restore = %d, %v; want 0", n, err)
	}
}
