package main

import (
	"context"
	"strings"
	"testing"

	"github.com/oauth2d/oauth2d/internal/storage"
)

// The CLI, like the admin API, shows which records the bootstrap file
// manages and refuses to delete them: exit 2, naming the file's setting.
func TestFileManagedRecordsCLI(t *testing.T) {
	env, st := adminEnv(t)
	ctx := context.Background()
	if err := st.CreateClient(ctx, &storage.Client{ID: "filed", Public: true, RedirectURIs: []string{"https://filed.example/cb"},
		GrantTypes: []string{"authorization_code"}, ManagedBy: storage.ManagedByBootstrap}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateUser(ctx, &storage.User{Username: "dora", PasswordHash: "x", ManagedBy: storage.ManagedByBootstrap}); err != nil {
		t.Fatal(err)
	}

	for _, args := range [][]string{{"client", "list"}, {"client", "get", "filed"}, {"user", "list"}, {"user", "list", "--json"}} {
		if out := mustRun(t, env, "", args...); !strings.Contains(out, "bootstrap") {
			t.Errorf("oauth2d %s does not show the record is the file's:\n%s", strings.Join(args, " "), out)
		}
	}
	for _, tc := range []struct {
		args   []string
		detail string
	}{
		{[]string{"client", "delete", "filed"}, `client "filed"`},
		{[]string{"user", "delete", "dora"}, `user "dora"`},
	} {
		res := runCmd(t, env, "", tc.args...)
		if exitCode(res.err) != 2 {
			t.Errorf("oauth2d %s = %v, want exit 2", strings.Join(tc.args, " "), res.err)
			continue
		}
		for _, want := range []string{tc.detail, "managed by the bootstrap file", "OAUTH2D_BOOTSTRAP"} {
			if !strings.Contains(res.err.Error(), want) {
				t.Errorf("oauth2d %s: %q does not say %q", strings.Join(tc.args, " "), res.err, want)
			}
		}
	}
	if _, err := st.GetClient(ctx, "filed"); err != nil {
		t.Errorf("client after a refused delete: %v", err)
	}
	if _, err := st.GetUserByUsername(ctx, "dora"); err != nil {
		t.Errorf("user after a refused delete: %v", err)
	}
	if cutoffs, err := st.Cutoffs(ctx); err != nil || len(cutoffs) != 0 {
		t.Errorf("cut-offs after refused deletes = %v, %v; want none", cutoffs, err)
	}
}
