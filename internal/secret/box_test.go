package secret_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/secret"
)

func TestBox(t *testing.T) {
	master := []byte(strings.Repeat("k", 32))
	box, err := secret.NewBox(master)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	type v struct{ A string }
	sealed, err := box.Seal(secret.PurposeLoginForm, v{"hello"}, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var got v
	if err := box.Open(secret.PurposeLoginForm, sealed, now, &got); err != nil || got.A != "hello" {
		t.Fatalf("round trip: %v %+v", err, got)
	}
	if strings.Contains(sealed, "hello") {
		t.Fatal("the value is readable")
	}
	other, _ := secret.NewBox([]byte(strings.Repeat("j", 32)))
	again, _ := secret.NewBox(master)
	if err := again.Open(secret.PurposeLoginForm, sealed, now, &got); err != nil {
		t.Fatalf("another instance with the same key: %v", err)
	}
	tampered := []byte(sealed)
	tampered[20] ^= 2
	cases := map[string]func() error{
		"other purpose": func() error { return box.Open(secret.PurposeAuthRequest, sealed, now, &got) },
		"other key":     func() error { return other.Open(secret.PurposeLoginForm, sealed, now, &got) },
		"expired":       func() error { return box.Open(secret.PurposeLoginForm, sealed, now.Add(time.Minute), &got) },
		"tampered":      func() error { return box.Open(secret.PurposeLoginForm, string(tampered), now, &got) },
		"empty":         func() error { return box.Open(secret.PurposeLoginForm, "", now, &got) },
		"not base64":    func() error { return box.Open(secret.PurposeLoginForm, "!!!", now, &got) },
		"too long": func() error {
			return box.Open(secret.PurposeLoginForm, strings.Repeat("A", secret.MaxSealedLen+1), now, &got)
		},
	}
	for name, open := range cases {
		t.Run(name, func(t *testing.T) {
			if err := open(); !errors.Is(err, secret.ErrUnsealable) {
				t.Fatalf("err = %v", err)
			}
		})
	}
	if _, err := secret.NewBox([]byte("short")); err == nil {
		t.Fatal("a short master key was accepted")
	}
}
