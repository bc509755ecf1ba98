package bootstrap

import (
	"strings"
	"testing"

	"github.com/oauth2d/oauth2d/internal/account"
)

// The file's passwords are held to the policy's floor (Validate refuses
// them) and warned about beyond it (PasswordWarnings).
func TestBootstrapPasswordPolicy(t *testing.T) {
	f := &File{Users: []User{
		{Username: "alice", Password: "alice-password"},               // 14: a warning
		{Username: "carol", Password: "password123"},                  // common: a warning
		{Username: "dave", Password: "a long and unusual passphrase"}, // fine
	}}
	if err := f.Validate(account.Policy{}); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	w := f.PasswordWarnings()
	if len(w) != 2 || !strings.Contains(w[0], `"alice"`) || !strings.Contains(w[0], "shorter than 15") ||
		!strings.Contains(w[1], `"carol"`) || !strings.Contains(w[1], "commonly used") {
		t.Fatalf("warnings %q", w)
	}
	f.Users = append(f.Users, User{Username: "eve", Password: "short"})
	if err := f.Validate(account.Policy{}); err == nil || !strings.Contains(err.Error(), `user "eve": password: must be at least 8`) {
		t.Fatalf("Validate of a 5-character password: %v", err)
	}
}
