package account

import "slices"

// Authentication methods (RFC 8176 §2) a browser session records
// (storage.BrowserSession.AMR) and tokens carry in amr:
//   - a password alone: ["pwd"];
//   - a password and a TOTP code: ["pwd", "otp", "mfa"];
//   - a password and a recovery code: ["pwd", "otp", "mfa"] too. A
//     recovery code is a one-time password ("otp": RFC 8176 names RFC 4226
//     and RFC 6238 as examples, not as its definition), pre-generated and
//     used once; no other registered value fits it, and an RP has no
//     decision that depends on telling the two apart. The account page
//     shows the user every recovery code used.
//
// A passkey used as the second factor adds "hwk" or "swk" (RFC 8176) in
// the passkey work.
const (
	AMRPassword = "pwd"
	AMROTP      = "otp"
	AMRMFA      = "mfa"
)

// Authentication context classes (OIDC Core §2 acr, RFC 9470) of this
// server, lowest first. They are URNs of this server's own: no registry
// value says "a password" or "a password and a second factor that is not
// phishing-resistant" (the EAP ACR values "phr"/"phrh" are for
// phishing-resistant methods, which TOTP is not).
const (
	// ACRPassword: the user proved a password alone.
	ACRPassword = "urn:oauth2d:acr:pwd"
	// ACRMFA: the user proved a password and a second factor.
	ACRMFA = "urn:oauth2d:acr:mfa"
)

// ACRValues are the classes discovery lists (acr_values_supported),
// lowest first.
func ACRValues() []string { return []string{ACRPassword, ACRMFA} }

// SessionAMR is the methods a session records: a session from before
// second factors, which recorded none, proved a password.
func SessionAMR(amr []string) []string {
	if len(amr) == 0 {
		return []string{AMRPassword}
	}
	return amr
}

// ACR is the one place that says which class a session's methods reach:
// ACRMFA when they include a second factor, else ACRPassword.
func ACR(amr []string) string {
	if slices.Contains(amr, AMRMFA) {
		return ACRMFA
	}
	return ACRPassword
}

// acrLevel orders the classes; an unknown value is -1.
func acrLevel(v string) int { return slices.Index(ACRValues(), v) }

// ACRSatisfies reports whether a session whose methods are amr meets a
// request for any of wanted (acr_values, space-separated in preference
// order, OIDC Core §3.1.2.1): a class at least as strong as one of the
// known values asked. Values this server does not know are ignored;
// asking for none of its values asks nothing.
func ACRSatisfies(amr []string, wanted []string) bool {
	have := acrLevel(ACR(SessionAMR(amr)))
	known := false
	for _, w := range wanted {
		if l := acrLevel(w); l >= 0 {
			known = true
			if have >= l {
				return true
			}
		}
	}
	return !known
}

// WantsMFA reports whether acr_values asks only for classes that need a
// second factor (and at least one this server knows).
func WantsMFA(wanted []string) bool { return !ACRSatisfies([]string{AMRPassword}, wanted) }
