package main

import (
	"context"
	"strings"
	"testing"

	"github.com/oauth2d/oauth2d/internal/audit"
)

// The CLI's changes are audited as the admin API's are: an admin.change
// event with the command and its record, who ran it and how it ended,
// in the log and in the audit stream; reads are not changes, and the
// password given on stdin is in neither.
func TestCLIChangesAreAudited(t *testing.T) {
	env, st := adminEnv(t)
	env["USER"] = "operator-jo"
	env["OAUTH2D_LOG_FORMAT"] = "text"
	const password = "dora-password-7f3a"
	tests := []struct {
		args []string
		want []string // in the one audit line
	}{
		{[]string{"client", "create", "--id", "audited", "--grant-type", "client_credentials", "--scope", "openid"},
			[]string{`audit.resource="client create audited"`, "audit.outcome=success"}},
		{[]string{"client", "create", "--id", "audited", "--grant-type", "client_credentials", "--scope", "openid"},
			[]string{`audit.resource="client create audited"`, "audit.outcome=failure", `audit.reason="client create: client \"audited\" already exists"`}},
		{[]string{"client", "delete", "audited"}, []string{`audit.resource="client delete audited"`, "audit.outcome=success"}},
		{[]string{"user", "create", "--username", "dora"}, []string{`audit.resource="user create dora"`, "audit.outcome=success"}},
		{[]string{"user", "delete", "dora"}, []string{`audit.resource="user delete dora"`, "audit.outcome=success"}},
		{[]string{"resource", "put", "https://orders.example", "--scope", "orders"},
			[]string{`audit.resource="resource put https://orders.example"`, "audit.outcome=success"}},
		{[]string{"resource", "delete", "https://orders.example"}, []string{`audit.resource="resource delete https://orders.example"`, "audit.outcome=success"}},
	}
	for _, tc := range tests {
		res := runCmd(t, env, password+"\n", tc.args...)
		if strings.Contains(res.stderr, password) {
			t.Errorf("oauth2d %s: the password is on stderr:\n%s", strings.Join(tc.args, " "), res.stderr)
		}
		var lines []string
		for _, line := range strings.Split(res.stderr, "\n") {
			if strings.Contains(line, "msg=audit") {
				lines = append(lines, line)
			}
		}
		if len(lines) != 1 {
			t.Fatalf("oauth2d %s: %d audit lines, want 1; stderr:\n%s", strings.Join(tc.args, " "), len(lines), res.stderr)
		}
		for _, w := range append(tc.want, "audit.event="+audit.AdminChange, "audit.actor=cli:operator-jo") {
			if !strings.Contains(lines[0], w) {
				t.Errorf("oauth2d %s: audit line %q lacks %s", strings.Join(tc.args, " "), lines[0], w)
			}
		}
	}
	for _, read := range [][]string{{"client", "list"}, {"user", "list"}, {"resource", "list"}} {
		if res := runCmd(t, env, "", read...); strings.Contains(res.stderr, "msg=audit") {
			t.Errorf("oauth2d %s logged a change: %s", strings.Join(read, " "), res.stderr)
		}
	}

	// The stream holds the same events, in order.
	entries, err := st.Redis().XRange(context.Background(), st.AuditStreamKey(), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(tests) {
		t.Fatalf("audit stream holds %d entries, want %d: %v", len(entries), len(tests), entries)
	}
	for i, e := range entries {
		if e.Values["event"] != audit.AdminChange || e.Values["actor"] != "cli:operator-jo" || e.Values["time"] == nil ||
			!strings.Contains(tests[i].want[0], e.Values["resource"].(string)) {
			t.Errorf("stream entry %d = %v, want the event of oauth2d %s", i, e.Values, strings.Join(tests[i].args, " "))
		}
		for _, v := range e.Values {
			if strings.Contains(v.(string), password) {
				t.Errorf("stream entry %d holds the password: %v", i, e.Values)
			}
		}
	}
}
