package secret_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/oauth2d/oauth2d/internal/secret"
)

// cheap keeps the tests fast; the format and logic are the same.
var cheap = secret.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashFormat(t *testing.T) {
	h := secret.NewHasher(cheap)
	got, err := h.Hash("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !re.MatchString(got) {
		t.Fatalf("hash %q does not match %s", got, re)
	}
	again, err := h.Hash("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if again == got {
		t.Fatal("two hashes of one secret are equal: salt not random")
	}
	if _, err := h.Hash(""); err == nil {
		t.Fatal("Hash accepted an empty secret")
	}
}

func TestVerify(t *testing.T) {
	h := secret.NewHasher(cheap)
	argon, err := h.Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	bc, err := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	bcrypt2a := "$2a$" + strings.TrimPrefix(string(bc), "$2a$")
	tests := []struct {
		name    string
		hash    string
		secret  string
		want    bool
		wantErr bool
	}{
		{name: "argon2id match", hash: argon, secret: "correct horse", want: true},
		{name: "argon2id mismatch", hash: argon, secret: "correct horsE"},
		{name: "argon2id empty secret", hash: argon, secret: ""},
		{name: "bcrypt match", hash: bcrypt2a, secret: "correct horse", want: true},
		{name: "bcrypt mismatch", hash: bcrypt2a, secret: "wrong"},
		{name: "bcrypt secret over 72 bytes", hash: bcrypt2a, secret: strings.Repeat("x", 100)},
		{name: "empty hash", hash: "", secret: "x", wantErr: true},
		{name: "plain text stored", hash: "correct horse", secret: "correct horse", wantErr: true},
		{name: "argon2i not id", hash: strings.Replace(argon, "argon2id", "argon2i", 1), secret: "x", wantErr: true},
		{name: "wrong version", hash: strings.Replace(argon, "v=19", "v=16", 1), secret: "x", wantErr: true},
		{name: "memory too large", hash: strings.Replace(argon, "m=64", "m=99999999", 1), secret: "x", wantErr: true},
		{name: "zero time", hash: strings.Replace(argon, "t=1", "t=0", 1), secret: "x", wantErr: true},
		{name: "truncated", hash: argon[:len(argon)-50], secret: "x", wantErr: true},
		{name: "bad base64 key", hash: argon[:len(argon)-3] + "!!!", secret: "x", wantErr: true},
		{name: "corrupt bcrypt", hash: "$2b$10$short", secret: "x", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := h.Verify(tc.hash, tc.secret)
			if tc.wantErr {
				if !errors.Is(err, secret.ErrMalformed) {
					t.Fatalf("Verify err = %v, want ErrMalformed", err)
				}
				if got {
					t.Fatal("Verify returned true with an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got != tc.want {
				t.Fatalf("Verify = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestVerifyUsesParamsFromHash(t *testing.T) {
	// A hash made with other parameters still verifies (parameters are read
	// from the PHC string), and NeedsRehash asks for an upgrade.
	old, err := secret.NewHasher(secret.Params{Memory: 128, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}).Hash("pw")
	if err != nil {
		t.Fatal(err)
	}
	h := secret.NewHasher(cheap)
	ok, err := h.Verify(old, "pw")
	if err != nil || !ok {
		t.Fatalf("Verify = %v, %v; want true", ok, err)
	}
	if !h.NeedsRehash(old) {
		t.Fatal("NeedsRehash(other params) = false")
	}
	cur, _ := h.Hash("pw")
	if h.NeedsRehash(cur) {
		t.Fatal("NeedsRehash(current params) = true")
	}
	bc, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if !h.NeedsRehash(string(bc)) {
		t.Fatal("NeedsRehash(bcrypt) = false")
	}
}

func TestDefaultHashVerifies(t *testing.T) {
	got, err := secret.Hash("pw")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got, "$argon2id$v=19$m=19456,t=2,p=2$") {
		t.Fatalf("default hash %q has unexpected parameters", got)
	}
	if ok, err := secret.Verify(got, "pw"); err != nil || !ok {
		t.Fatalf("Verify = %v, %v", ok, err)
	}
	if ok, err := secret.Verify(got, "px"); err != nil || ok {
		t.Fatalf("Verify(wrong) = %v, %v", ok, err)
	}
}

func TestNewToken(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
	seen := map[string]bool{}
	for range 100 {
		tok := secret.NewToken(32)
		if !re.MatchString(tok) {
			t.Fatalf("token %q is not 43 base64url characters", tok)
		}
		if seen[tok] {
			t.Fatalf("duplicate token %q", tok)
		}
		seen[tok] = true
	}
	if got := len(secret.NewToken(16)); got != 22 {
		t.Fatalf("len(NewToken(16)) = %d, want 22", got)
	}
}

func TestSHA256(t *testing.T) {
	// Known vector: sha256("abc").
	const want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got := secret.SHA256("abc"); got != want {
		t.Fatalf("SHA256(abc) = %s, want %s", got, want)
	}
}

func BenchmarkVerifyDefault(b *testing.B) {
	hash, err := secret.Hash("benchmark password")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if ok, err := secret.Verify(hash, "benchmark password"); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

func BenchmarkVerifyBcrypt10(b *testing.B) {
	hash, err := bcrypt.GenerateFromPassword([]byte("benchmark password"), 10)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if ok, err := secret.Verify(string(hash), "benchmark password"); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
