package token

import (
	"os"
	"path/filepath"
	"testing"
)

func writePEM(t *testing.T, dir, name string, k *Key) {
	t.Helper()
	data, err := k.MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLoadDir(t *testing.T) {
	dir := t.TempDir()
	oldES, newES, nextES := newTestKey(t, AlgES256, 0), newTestKey(t, AlgES256, 0), newTestKey(t, AlgES256, 0)
	rs, ps := newTestKey(t, AlgRS256, 0), newTestKey(t, AlgPS256, 0)
	writePEM(t, dir, "2026-01-01.ES256.pem", oldES)
	writePEM(t, dir, "2026-04-01.es256.pem", newES)
	writePEM(t, dir, "2026-07-01.ES256.next.pem", nextES)
	writePEM(t, dir, "id-token.pem", rs) // alg inferred: RS256
	writePEM(t, dir, "other.PS256.pem", ps)
	if err := os.WriteFile(filepath.Join(dir, "README"), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}

	set, err := LoadDir(dir, AlgES256, AlgRS256)
	if err != nil {
		t.Fatal(err)
	}
	wantStates := map[string]KeyState{
		oldES.ID(): StateRetired, newES.ID(): StateActive, nextES.ID(): StateNext,
		rs.ID(): StateActive, ps.ID(): StateActive,
	}
	entries := set.Entries()
	if len(entries) != len(wantStates) {
		t.Fatalf("loaded %d keys, want %d", len(entries), len(wantStates))
	}
	for _, e := range entries {
		if want := wantStates[e.Key.ID()]; e.State != want {
			t.Errorf("key %s (%s): state %s, want %s", e.Key.ID(), e.Key.Algorithm(), e.State, want)
		}
	}
	if got, _ := set.Active(AlgES256); got.ID() != newES.ID() {
		t.Errorf("ES256 signer is %s, want the newest name %s", got.ID(), newES.ID())
	}
	if got, _ := set.Active(AlgRS256); got.ID() != rs.ID() {
		t.Errorf("RS256 signer is %s, want %s", got.ID(), rs.ID())
	}
}

func TestLoadDirErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]*Key
	}{
		{"empty directory", nil},
		{"only a next key", map[string]*Key{"a.ES256.next.pem": newTestKey(t, AlgES256, 0), "b.RS256.pem": newTestKey(t, AlgRS256, 0)}},
		{"no id token key", map[string]*Key{"a.ES256.pem": newTestKey(t, AlgES256, 0)}},
		{"alg in name does not fit the key", map[string]*Key{"a.ES256.pem": newTestKey(t, AlgEdDSA, 0), "b.RS256.pem": newTestKey(t, AlgRS256, 0)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, k := range tc.files {
				writePEM(t, dir, name, k)
			}
			if _, err := LoadDir(dir, AlgES256, AlgRS256); err == nil {
				t.Fatal("LoadDir succeeded, want an error")
			}
		})
	}
}

func TestDevKeySet(t *testing.T) {
	clock := newClock()
	set, err := NewDevKeySet(AlgEdDSA, AlgEdDSA, discardLogger(), clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	k, err := set.Active(AlgEdDSA)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Entries()) != 1 || k.Algorithm() != AlgEdDSA {
		t.Fatalf("dev set has %d keys, want one EdDSA key", len(set.Entries()))
	}
}
