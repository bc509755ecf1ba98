package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Every curl of the README's "Adding your own client" runs, as written,
// against a server started as the quick start starts it (the demo
// bootstrap file), so that the admin API's documented bodies, paths and
// the way to an admin token cannot drift from the server.
func TestREADMEAdminAPIExamples(t *testing.T) {
	readme := readRepoFile(t, "README.md")
	env := map[string]string{"OAUTH2D_BOOTSTRAP": mustAbs(t, "../../configs/bootstrap.yaml")}
	inEmptyDir(t)
	base, _, stop := serveUntilReady(t, env)
	t.Cleanup(func() { _ = stop() })
	sh := &readmeShell{t: t, env: env, given: map[string]string{}, vars: map[string]string{},
		curl: &readmeCurl{t: t, base: base}}
	sh.runSection(readme, "## Adding your own client")
	for _, want := range []string{"POST /oauth2/token", "POST /admin/v1/clients", "GET /admin/v1/clients",
		"PUT /admin/v1/clients/my-app", "DELETE /admin/v1/clients/my-app", "POST /admin/v1/users",
		"PATCH /admin/v1/users/", "DELETE /admin/v1/users/", "POST /admin/v1/resources", "GET /admin/v1/resources/https://",
		"PUT /admin/v1/resources/https://", "DELETE /admin/v1/resources/https://"} {
		if !sh.curl.ran(want) {
			t.Errorf("the README's admin examples no longer send %s", want)
		}
	}
}

// readmeCurl runs the curl forms the README uses (-s, -u, -d, -H, -X and
// a URL on http://localhost:8080) against base, and `| jq -r .member`.
type readmeCurl struct {
	t    *testing.T
	base string
	sent []string // "METHOD /path"
}

func (c *readmeCurl) ran(prefix string) bool {
	for _, s := range c.sent {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// run sends a curl line; any answer but 2xx fails the test.
func (c *readmeCurl) run(line string, words []word) []byte {
	t := c.t
	t.Helper()
	var pipe []word
	for i, w := range words {
		if w.text == "|" {
			words, pipe = words[:i], words[i+1:]
			break
		}
	}
	method, target, user := "", "", ""
	var data []string
	header := http.Header{}
	for i := 1; i < len(words); i++ {
		arg := words[i].text
		next := func() string {
			if i+1 >= len(words) {
				t.Fatalf("README: %s\n%s needs a value", line, arg)
			}
			i++
			return words[i].text
		}
		switch {
		case arg == "-s":
		case arg == "-u":
			user = next()
		case arg == "-d":
			data = append(data, next())
		case arg == "-H":
			k, v, _ := strings.Cut(next(), ":")
			header.Add(k, strings.TrimSpace(v))
		case arg == "-X":
			method = next()
		case strings.HasPrefix(arg, "http://localhost:8080/"):
			target = c.base + strings.TrimPrefix(arg, "http://localhost:8080")
		default:
			t.Fatalf("README: %s\nthe test does not know curl's %q", line, arg)
		}
	}
	if method == "" {
		method = http.MethodGet
		if data != nil {
			method = http.MethodPost
		}
	}
	if data != nil && header.Get("Content-Type") == "" {
		header.Set("Content-Type", "application/x-www-form-urlencoded") // as curl -d does
	}
	req, err := http.NewRequest(method, target, strings.NewReader(strings.Join(data, "&")))
	if err != nil {
		t.Fatalf("README: %s\n%v", line, err)
	}
	req.Header = header
	if user != "" {
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user)))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("README: %s\n%v", line, err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	c.sent = append(c.sent, method+" "+req.URL.Path)
	if res.StatusCode/100 != 2 {
		t.Fatalf("README: %s\nanswered %d: %s", line, res.StatusCode, body)
	}
	if pipe != nil {
		return c.jq(line, pipe, body)
	}
	return body
}

// capture runs the command of a $(…) and returns what it would print.
func (c *readmeCurl) capture(line string, words []word) string {
	c.t.Helper()
	if len(words) == 0 || words[0].text != "curl" {
		c.t.Fatalf("README: %s\nthe test runs only $(curl …)", line)
	}
	return strings.TrimSpace(string(c.run(line, words)))
}

// jq is `jq -r .member` of a JSON object.
func (c *readmeCurl) jq(line string, pipe []word, body []byte) []byte {
	c.t.Helper()
	if len(pipe) != 3 || pipe[0].text != "jq" || pipe[1].text != "-r" || !strings.HasPrefix(pipe[2].text, ".") {
		c.t.Fatalf("README: %s\nthe test runs only | jq -r .member", line)
	}
	var obj map[string]any
	if err := json.Unmarshal(body, &obj); err != nil {
		c.t.Fatalf("README: %s\nnot a JSON object: %s", line, body)
	}
	v, ok := obj[strings.TrimPrefix(pipe[2].text, ".")].(string)
	if !ok || v == "" {
		c.t.Fatalf("README: %s\nno %s in %s", line, pipe[2].text, body)
	}
	return []byte(v)
}
