package account

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckNewPassword(t *testing.T) {
	for name, tc := range map[string]struct {
		password, wantErr string // wantErr "" = accepted
	}{
		"fifteen":             {"mauve tractor 7", ""},
		"long passphrase":     {strings.Repeat("tractor ", 16), ""},
		"unicode":             {"ünïcödé pässwörd", ""},
		"no composition rule": {"alllowercaseletters", ""},
		"fourteen":            {"mauve tractor ", "at least 15 characters"},
		"short":               {"1234567", "at least 15 characters"},
		"max bytes":           {strings.Repeat("x", MaxPasswordLen-1) + "y", ""},
		"too long":            {strings.Repeat("x", MaxPasswordLen+1), "at most 1024 bytes"},
		"common":              {"1qaz2wsx3edc4rfv", "most commonly used"},
		"common any case":     {"1234567890QWERTY", "most commonly used"},
		"username":            {"carol-the-username", "username or email address"},
		"email":               {"CAROL-THE-USERNAME@example.com", "username or email address"},
		"control":             {"mauve tractor\n seven", "control characters"},
		"not utf-8":           {"mauve tractor \xff seven", "UTF-8"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := CheckNewPassword(tc.password, "carol-the-username", "carol-the-username@example.com", ByOwner)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != "password" || !strings.Contains(fe.Detail, tc.wantErr) {
				t.Fatalf("err = %v, want a password FieldError with %q", err, tc.wantErr)
			}
		})
	}
}

// Fifteen characters are counted in code points of the NFKC form, and the
// form returned is the one hashed: a password typed decomposed on one
// keyboard and composed on another is the same password.
func TestCheckNewPasswordNormalizes(t *testing.T) {
	decomposed := "cafe\u0301 au lait noir!" // e + combining acute
	got, err := CheckNewPassword(decomposed, "", "", ByOwner)
	if err != nil {
		t.Fatal(err)
	}
	if want := "caf\u00e9 au lait noir!"; got != want || NormalizePassword("caf\u00e9 au lait noir!") != want {
		t.Fatalf("normalised = %q, want %q", got, want)
	}
	// 15 code points of NFKC, though "ﬁ" (one code point) becomes "fi".
	if _, err := CheckNewPassword("\ufb01fteen letters", "", "", ByOwner); err != nil {
		t.Fatalf("ligature: %v", err)
	}
}

// An operator may set a first password of 8 to 14 characters (the
// person replaces it); every other rule holds.
func TestCheckNewPasswordByOperator(t *testing.T) {
	if _, err := CheckNewPassword("carol-password", "carol", "", ByOperator); err != nil {
		t.Fatalf("14 characters by an operator: %v", err)
	}
	for _, p := range []string{"1234567", "password123", "carol@example.com"} {
		if _, err := CheckNewPassword(p, "carol", "carol@example.com", ByOperator); err == nil {
			t.Errorf("%q accepted from an operator", p)
		}
	}
}

func TestCheckBootstrapPassword(t *testing.T) {
	for name, tc := range map[string]struct {
		password       string
		warning, error bool
	}{
		"good":     {"mauve tractor 7", false, false},
		"demo":     {"alice-password", true, false}, // 14: a warning only
		"common":   {"password123", true, false},
		"username": {"alice-the-user", true, false},
		"floor":    {"1234567", false, true},
		"too long": {strings.Repeat("x", MaxPasswordLen+1), false, true},
	} {
		t.Run(name, func(t *testing.T) {
			_, warning, err := CheckBootstrapPassword(tc.password, "alice-the-user", "")
			if (warning != "") != tc.warning || (err != nil) != tc.error {
				t.Fatalf("warning %q, err %v; want warning=%v error=%v", warning, err, tc.warning, tc.error)
			}
		})
	}
}
