package account

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Length bounds of a scope's words on the consent page: a title is one
// line, a description a sentence or two.
const (
	MaxScopeNameLen        = 128
	MaxScopeTitleLen       = 100
	MaxScopeDescriptionLen = 400
	// MaxClientNameLen bounds a client's name, shown on one line of the
	// login and consent pages.
	MaxClientNameLen = 100
)

// ScopeText says in plain words what a scope lets a client do, for the
// consent page and the list of connected applications. The bootstrap
// file's scopes: list declares them; BuiltinScopeTexts covers the scopes
// oauth2d itself defines.
type ScopeText struct {
	Name        string `yaml:"name"`
	Title       string `yaml:"title"`
	Description string `yaml:"description"`
}

// BuiltinScopeTexts describes the scopes oauth2d serves, a fresh slice per
// call.
func BuiltinScopeTexts() []ScopeText {
	return []ScopeText{
		{"openid", "Confirm who you are", "Sign you in with your account, without seeing your password."},
		{"profile", "See your username and name", "Read your username and, if set, your full name."},
		{"email", "See your email address", "Read your email address and whether it has been verified."},
		{"offline_access", "Keep access when you are not using it", "Stay connected after you close the application, until you remove its access."},
		{"comments:read", "Read comments", "Read the comments in the comments service."},
		{"comments:write", "Post comments as you", "Post and delete comments in your name."},
		{"comments:moderate", "Moderate comments with your administrator rights", "Post comments in other people's names and delete anyone's comments, as you can."},
		{"admin", "Administer the server with your administrator rights", "Manage clients and users of this server, as you can."},
	}
}

// MergeScopeTexts returns the built-in texts with declared ones replacing
// them by name and new ones appended, as a map by scope name.
func MergeScopeTexts(declared []ScopeText) map[string]ScopeText {
	out := map[string]ScopeText{}
	for _, s := range BuiltinScopeTexts() {
		out[s.Name] = s
	}
	for _, s := range declared {
		out[s.Name] = s
	}
	return out
}

// ValidateScopeText checks one declared scope: its name is an RFC 6749
// §3.3 scope-token, it has a title, and its words are printable and
// bounded.
func ValidateScopeText(s ScopeText) []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Subject: fmt.Sprintf("scope %q", s.Name), Field: field, Detail: fmt.Sprintf(format, args...)})
	}
	if len(s.Name) > MaxScopeNameLen || !scopePattern.MatchString(s.Name) {
		bad("name", "must be 1-%d characters of a scope token (RFC 6749 §3.3: printable ASCII without space, \" or \\)", MaxScopeNameLen)
	}
	checkText := func(field, text string, max int, required bool) {
		if strings.TrimSpace(text) == "" {
			if required {
				bad(field, "must not be empty")
			}
			return
		}
		if problem := checkDisplayText(text, max); problem != "" {
			bad(field, "%s", problem)
		}
	}
	checkText("title", s.Title, MaxScopeTitleLen, true)
	checkText("description", s.Description, MaxScopeDescriptionLen, false)
	return errs
}

// checkDisplayText checks words an operator or administrator gives for
// the pages (a scope's title, a client's name): one line of UTF-8 of at
// most max characters, without control characters, nor bidirectional
// formatting ones, which could make the consent page read otherwise than
// the text is (a client named "Bank\u202e..." shown backwards). It
// returns what is wrong, or "".
func checkDisplayText(text string, max int) string {
	switch {
	case !utf8.ValidString(text) || strings.IndexFunc(text, unicode.IsControl) >= 0:
		return "must be UTF-8 text without control characters (one line)"
	case strings.IndexFunc(text, isBidiControl) >= 0:
		return "must not contain bidirectional formatting characters (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C)"
	case utf8.RuneCountInString(text) > max:
		return fmt.Sprintf("must be at most %d characters", max)
	}
	return ""
}

func isBidiControl(r rune) bool { return unicode.Is(unicode.Bidi_Control, r) }
