package main

import (
	"strings"
	"testing"
)

// The CLI's changes are audited as the admin API's are: "admin: change"
// with the command, the record, who ran it and how it ended; reads are
// not changes.
func TestCLIChangesAreAudited(t *testing.T) {
	env, _ := adminEnv(t)
	env["USER"] = "operator-jo"
	env["OAUTH2D_LOG_FORMAT"] = "text"
	for _, tc := range []struct {
		args []string
		want []string // in the one audit line
	}{
		{[]string{"client", "create", "--id", "audited", "--grant-type", "client_credentials", "--scope", "openid"},
			[]string{`command="client create"`, "client=audited", "outcome=ok"}},
		{[]string{"client", "create", "--id", "audited", "--grant-type", "client_credentials", "--scope", "openid"},
			[]string{`command="client create"`, "client=audited", `outcome="client create: client \"audited\" already exists"`}},
		{[]string{"client", "delete", "audited"}, []string{`command="client delete"`, "client=audited", "outcome=ok"}},
		{[]string{"user", "create", "--username", "dora"}, []string{`command="user create"`, "username=dora", "outcome=ok"}},
		{[]string{"user", "delete", "dora"}, []string{`command="user delete"`, "username=dora", "outcome=ok"}},
		{[]string{"resource", "put", "https://orders.example", "--scope", "orders"},
			[]string{`command="resource put"`, "resource=https://orders.example", "outcome=ok"}},
		{[]string{"resource", "delete", "https://orders.example"}, []string{`command="resource delete"`, "resource=https://orders.example", "outcome=ok"}},
	} {
		res := runCmd(t, env, "dora-password\n", tc.args...)
		var audit []string
		for _, line := range strings.Split(res.stderr, "\n") {
			if strings.Contains(line, `msg="admin: change"`) {
				audit = append(audit, line)
			}
		}
		if len(audit) != 1 {
			t.Fatalf("oauth2d %s: %d audit lines, want 1; stderr:\n%s", strings.Join(tc.args, " "), len(audit), res.stderr)
		}
		for _, w := range append(tc.want, "via=cli", "os_user=operator-jo") {
			if !strings.Contains(audit[0], w) {
				t.Errorf("oauth2d %s: audit line %q lacks %s", strings.Join(tc.args, " "), audit[0], w)
			}
		}
	}
	for _, read := range [][]string{{"client", "list"}, {"user", "list"}, {"resource", "list"}} {
		if res := runCmd(t, env, "", read...); strings.Contains(res.stderr, "admin: change") {
			t.Errorf("oauth2d %s logged a change: %s", strings.Join(read, " "), res.stderr)
		}
	}
}
