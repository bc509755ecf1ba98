package account

import (
	"testing"
)

func TestACR(t *testing.T) {
	tests := []struct {
		name      string
		amr       []string
		wanted    []string
		acr       string
		satisfies bool
	}{
		{"old session, nothing asked", nil, nil, ACRPassword, true},
		{"password, password asked", []string{"pwd"}, []string{ACRPassword}, ACRPassword, true},
		{"password, mfa asked", []string{"pwd"}, []string{ACRMFA}, ACRPassword, false},
		{"password, either asked", []string{"pwd"}, []string{ACRMFA, ACRPassword}, ACRPassword, true},
		{"password, unknown asked", []string{"pwd"}, []string{"urn:other:gold"}, ACRPassword, true},
		{"password, unknown and mfa asked", []string{"pwd"}, []string{"urn:other:gold", ACRMFA}, ACRPassword, false},
		{"mfa, mfa asked", []string{"pwd", "otp", "mfa"}, []string{ACRMFA}, ACRMFA, true},
		{"mfa, password asked", []string{"pwd", "otp", "mfa"}, []string{ACRPassword}, ACRMFA, true},
		{"otp without mfa is not mfa", []string{"pwd", "otp"}, []string{ACRMFA}, ACRPassword, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ACR(SessionAMR(tc.amr)); got != tc.acr {
				t.Errorf("ACR = %q, want %q", got, tc.acr)
			}
			if got := ACRSatisfies(tc.amr, tc.wanted); got != tc.satisfies {
				t.Errorf("ACRSatisfies = %v, want %v", got, tc.satisfies)
			}
		})
	}
}

func TestRecoveryCodes(t *testing.T) {
	codes, hashes := newRecoveryCodes()
	if len(codes) != RecoveryCodeCount || len(hashes) != RecoveryCodeCount {
		t.Fatalf("%d codes, %d hashes", len(codes), len(hashes))
	}
	seen := map[string]bool{}
	for _, c := range codes {
		norm, ok := normalizeRecoveryCode(" " + c + " ")
		if !ok || len(norm) != 16 || seen[norm] {
			t.Errorf("code %q normalizes to %q, %v", c, norm, ok)
		}
		seen[norm] = true
	}
	for _, bad := range []string{"", "abcd", "0000-0000-0000-0000", string(make([]byte, 100))} {
		if _, ok := normalizeRecoveryCode(bad); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}
