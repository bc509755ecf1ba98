package token

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/storage"
)

const testLifetime = time.Hour

func testEncKey(b byte) []byte { return bytes.Repeat([]byte{b}, EncryptionKeySize) }

func TestSealOpen(t *testing.T) {
	der := []byte("pretend PKCS#8")
	sealed, err := sealKey(testEncKey(1), "kid-1", der)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, der) {
		t.Fatal("sealed material contains the clear key")
	}
	if got, err := openKey(testEncKey(1), "kid-1", sealed); err != nil || !bytes.Equal(got, der) {
		t.Fatalf("open = %q, %v", got, err)
	}
	tests := []struct {
		name     string
		enc      []byte
		kid      string
		material []byte
	}{
		{"wrong encryption key", testEncKey(2), "kid-1", sealed},
		{"material moved to another kid", testEncKey(1), "kid-2", sealed},
		{"truncated", testEncKey(1), "kid-1", sealed[:10]},
		{"flipped bit", testEncKey(1), "kid-1", append(slices.Clone(sealed[:len(sealed)-1]), sealed[len(sealed)-1]^1)},
		{"unknown version", testEncKey(1), "kid-1", append([]byte{9}, sealed[1:]...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := openKey(tc.enc, tc.kid, tc.material); !errors.Is(err, ErrKeyDecrypt) {
				t.Fatalf("err = %v, want ErrKeyDecrypt", err)
			}
		})
	}
	if _, err := sealKey([]byte("short"), "kid", der); err == nil {
		t.Fatal("sealed with a 5-byte key")
	}
}

func TestParseEncryptionKey(t *testing.T) {
	key := make([]byte, EncryptionKeySize)
	for i := range key {
		key[i] = byte(250 + i) // bytes that differ between the std and URL alphabets
	}
	tests := []struct {
		name    string
		in      string
		wantErr bool
	}{
		{"standard padded", base64.StdEncoding.EncodeToString(key), false},
		{"standard raw with newline", base64.RawStdEncoding.EncodeToString(key) + "\n", false},
		{"url-safe", base64.URLEncoding.EncodeToString(key), false},
		{"16 bytes", base64.StdEncoding.EncodeToString(key[:16]), true},
		{"not base64", "not base64!", true},
		{"empty", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseEncryptionKey(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatal("accepted")
				}
				return
			}
			if err != nil || !bytes.Equal(got, key) {
				t.Fatalf("got %x, %v", got, err)
			}
		})
	}
}

// keysByState groups the stored kids of alg by state.
func keysByState(t *testing.T, store *fakeKeyStore, alg string) map[KeyState][]string {
	t.Helper()
	infos, err := List(context.Background(), store)
	if err != nil {
		t.Fatal(err)
	}
	out := map[KeyState][]string{}
	for _, k := range infos {
		if k.Algorithm == alg {
			out[k.State] = append(out[k.State], k.ID)
		}
	}
	return out
}

func TestRotateFromEmptyCreatesActiveAndNext(t *testing.T) {
	store, enc := newFakeKeyStore(), testEncKey(1)
	if _, err := Rotate(context.Background(), store, enc, AlgES256, testLifetime, testStart); err != nil {
		t.Fatal(err)
	}
	got := keysByState(t, store, AlgES256)
	if len(got[StateActive]) != 1 || len(got[StateNext]) != 1 || len(got[StateRetired]) != 0 {
		t.Fatalf("keys = %v, want one active and one next", got)
	}
	for _, kid := range append(got[StateActive], got[StateNext]...) {
		sk, _ := store.get(kid)
		if _, err := decryptKey(enc, &sk); err != nil {
			t.Fatalf("stored key %s: %v", kid, err)
		}
	}
}

func TestEnsureKeys(t *testing.T) {
	ctx, store, enc := context.Background(), newFakeKeyStore(), testEncKey(1)
	algs := []string{AlgES256, AlgEdDSA}
	if err := EnsureKeys(ctx, store, enc, algs, testLifetime, testStart); err != nil {
		t.Fatal(err)
	}
	first, _ := List(ctx, store)
	if len(first) != 4 {
		t.Fatalf("EnsureKeys stored %d keys, want active and next for two algs", len(first))
	}
	if err := EnsureKeys(ctx, store, enc, algs, testLifetime, testStart.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if again, _ := List(ctx, store); !slices.Equal(first, again) {
		t.Fatalf("EnsureKeys changed ready keys:\n%v\n%v", first, again)
	}
	next := keysByState(t, store, AlgES256)[StateNext][0]
	if err := store.DeleteSigningKey(ctx, next); err != nil {
		t.Fatal(err)
	}
	if err := EnsureKeys(ctx, store, enc, algs, testLifetime, testStart); err != nil {
		t.Fatal(err)
	}
	got := keysByState(t, store, AlgES256)
	if len(got[StateNext]) != 1 || got[StateNext][0] == next || len(got[StateActive]) != 1 {
		t.Fatalf("after losing the next key: %v, want a fresh next and the same active", got)
	}
}

func TestRotateWithoutNextActivatesAFreshKey(t *testing.T) {
	ctx, store, enc := context.Background(), newFakeKeyStore(), testEncKey(1)
	if _, err := Rotate(ctx, store, enc, AlgES256, testLifetime, testStart); err != nil {
		t.Fatal(err)
	}
	before := keysByState(t, store, AlgES256)
	if err := store.DeleteSigningKey(ctx, before[StateNext][0]); err != nil {
		t.Fatal(err)
	}
	if _, err := Rotate(ctx, store, enc, AlgES256, testLifetime, testStart.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	after := keysByState(t, store, AlgES256)
	if len(after[StateActive]) != 1 || after[StateActive][0] == before[StateActive][0] ||
		!slices.Equal(after[StateRetired], before[StateActive]) || len(after[StateNext]) != 1 {
		t.Fatalf("before %v, after %v", before, after)
	}
}

func TestRotateResolvesTwoActiveKeys(t *testing.T) {
	// Two instances that started on an empty store at once each created an
	// active and a next key. A rotation leaves one active key.
	ctx, store, enc := context.Background(), newFakeKeyStore(), testEncKey(1)
	for _, at := range []time.Time{testStart, testStart.Add(time.Second)} {
		if _, err := Rotate(ctx, newStoreView(store), enc, AlgES256, testLifetime, at); err != nil {
			t.Fatal(err)
		}
	}
	if got := keysByState(t, store, AlgES256); len(got[StateActive]) != 2 || len(got[StateNext]) != 2 {
		t.Fatalf("setup: %v", got)
	}
	if _, err := Rotate(ctx, store, enc, AlgES256, testLifetime, testStart.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	got := keysByState(t, store, AlgES256)
	if len(got[StateActive]) != 1 || len(got[StateNext]) != 1 || len(got[StateRetired]) != 3 {
		t.Fatalf("after rotation: %v, want 1 active, 1 next, 3 retired", got)
	}
}

// storeView hides existing keys from ListSigningKeys, as an instance that
// listed before another one wrote would see.
type storeView struct {
	*fakeKeyStore
}

func newStoreView(s *fakeKeyStore) storeView { return storeView{s} }

func (storeView) ListSigningKeys(context.Context) ([]*storage.SigningKey, error) { return nil, nil }

func TestRotateWithTheWrongEncryptionKeyChangesNothing(t *testing.T) {
	ctx, store := context.Background(), newFakeKeyStore()
	if _, err := Rotate(ctx, store, testEncKey(1), AlgES256, testLifetime, testStart); err != nil {
		t.Fatal(err)
	}
	before, _ := List(ctx, store)
	_, err := Rotate(ctx, store, testEncKey(2), AlgES256, testLifetime, testStart.Add(time.Hour))
	if !errors.Is(err, ErrKeyDecrypt) || !strings.Contains(err.Error(), "OAUTH2D_KEY_ENCRYPTION_KEY") {
		t.Fatalf("err = %v, want a clear ErrKeyDecrypt", err)
	}
	if after, _ := List(ctx, store); !slices.Equal(before, after) {
		t.Fatalf("a failed rotation changed the store:\n%v\n%v", before, after)
	}
}

func TestRotateRejectsNonPositiveLifetime(t *testing.T) {
	if _, err := Rotate(context.Background(), newFakeKeyStore(), testEncKey(1), AlgES256, 0, testStart); err == nil {
		t.Fatal("rotated with a zero token lifetime")
	}
}
