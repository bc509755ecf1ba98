package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// Every command of the README's "Command line" examples runs, as written,
// through run against a real Redis, so that README and CLI cannot drift.
// Only the values a reader would make up differ: the test's Redis stands
// in for the README's, and what $(…) or read would produce comes from
// values below.
func TestREADMECommandLineExamples(t *testing.T) {
	readme := readRepoFile(t, "README.md") // before adminEnv leaves the package directory
	env, _ := adminEnv(t)
	env["OAUTH2D_KEYS_ID_TOKEN_ALGORITHM"] = "ES256" // skip RSA key generation: it is slow under -race
	sh := &readmeShell{
		t:   t,
		env: env,
		given: map[string]string{
			"OAUTH2D_REDIS_URL":          env["OAUTH2D_REDIS_URL"],
			"OAUTH2D_KEY_ENCRYPTION_KEY": base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32))),
			"SECRET":                     "a-secret-from-urandom-0123456789",
			"PASSWORD":                   "carol-password",
		},
		vars: map[string]string{},
	}
	sh.runSection(readme, "## Command line")
	// The examples must go on covering every admin command.
	for _, want := range []string{"client create", "client list", "client get", "client delete",
		"user create", "user list", "user delete", "resource put", "resource list", "resource get", "resource delete",
		"keys list", "keys rotate"} {
		if !sh.ran[want] {
			t.Errorf("the README's command-line examples no longer run %q", want)
		}
	}
}

// runSection runs every command of the README section under heading, in
// order; a section without an sh block fails, so that renaming or emptying
// it cannot pass the test by running nothing.
func (sh *readmeShell) runSection(readme, heading string) {
	sh.t.Helper()
	blocks := shellBlocks(sh.t, readme, heading)
	if len(blocks) == 0 {
		sh.t.Fatalf("README.md has no sh block under %q", heading)
	}
	for _, block := range blocks {
		for _, line := range logicalLines(block) {
			sh.exec(line)
		}
	}
}

// shellBlocks returns the ```sh blocks of the README section that starts
// with heading and ends at the next "## ".
func shellBlocks(t *testing.T, readme, heading string) []string {
	t.Helper()
	start := strings.Index(readme, "\n"+heading+"\n")
	if start < 0 {
		t.Fatalf("README.md has no %q section", heading)
	}
	section := readme[start+len(heading)+2:]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	var blocks []string
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(section, -1) {
		blocks = append(blocks, m[1])
	}
	return blocks
}

// logicalLines joins continued lines and drops comments and blank lines.
func logicalLines(block string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(block, "\n") {
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`))
			continue
		}
		cur.WriteString(line)
		if l := strings.TrimSpace(cur.String()); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
		cur.Reset()
	}
	return out
}

// readmeShell runs the few shell forms the README's examples use:
// assignments (with export), read, `oauth2d …` and
// `printf '%s\n' "$VAR" | oauth2d …`. Anything else fails the test, so a
// new form of example needs a look here.
type readmeShell struct {
	t     *testing.T
	env   map[string]string // the environment run sees
	given map[string]string // values for $(…), read, and our Redis
	vars  map[string]string
	ran   map[string]bool // "client get", ...
	curl  *readmeCurl     // runs curl against a live server, when set
}

type word struct {
	text       string
	substitute bool   // holds a $(…)
	command    string // the command inside $(…)
}

func (sh *readmeShell) exec(line string) {
	t := sh.t
	t.Helper()
	words := sh.split(line)
	var pipe []word
	for i, w := range words {
		if w.text == "|" {
			pipe, words = words[:i], words[i+1:]
			break
		}
	}
	name := words[0].text
	switch {
	case name == "export" || (len(words) == 1 && strings.Contains(name, "=")):
		for _, w := range words {
			if w.text != "export" {
				sh.assign(line, w)
			}
		}
	case name == "read":
		sh.set(line, words[len(words)-1].text, "")
	case name == "curl" && sh.curl != nil:
		sh.curl.run(line, words)
	case name == "oauth2d":
		stdin := ""
		if pipe != nil {
			if len(pipe) != 3 || pipe[0].text != "printf" || pipe[1].text != `%s\n` {
				t.Fatalf("README: %s\nthe test runs only printf '%%s\\n' \"$VAR\" | oauth2d …", line)
			}
			stdin = pipe[2].text + "\n"
		}
		sh.runOAuth2d(line, words[1:], stdin)
	default:
		t.Fatalf("README: %s\nthe test does not know how to run %q", line, name)
	}
}

func (sh *readmeShell) runOAuth2d(line string, words []word, stdin string) {
	sh.t.Helper()
	args := make([]string, len(words))
	for i, w := range words {
		args[i] = w.text
	}
	res := runCmd(sh.t, sh.env, stdin, args...)
	if res.err != nil {
		sh.t.Fatalf("README: %s\nfailed: %v\nstderr: %s", line, res.err, res.stderr)
	}
	if len(args) >= 2 {
		if sh.ran == nil {
			sh.ran = map[string]bool{}
		}
		sh.ran[args[0]+" "+args[1]] = true
	}
	for _, a := range args {
		if a == "--json" && !json.Valid([]byte(res.stdout)) {
			sh.t.Errorf("README: %s\nprinted no JSON: %q", line, res.stdout)
		}
	}
	sh.t.Logf("README: %s\n%s", line, res.stdout)
}

func (sh *readmeShell) assign(line string, w word) {
	name, value, ok := strings.Cut(w.text, "=")
	if !ok {
		sh.t.Fatalf("README: %s\n%q is not an assignment", line, w.text)
	}
	if w.substitute {
		value = "" // computed by a command: the test supplies it, or runs it
		if _, given := sh.given[name]; !given && sh.curl != nil {
			value = sh.curl.capture(line, sh.split(w.command))
		}
	}
	sh.set(line, name, value)
}

// set gives a variable the test's value when it has one (our Redis, a
// $(…) result, what read would get), else the README's.
func (sh *readmeShell) set(line, name, value string) {
	if v, ok := sh.given[name]; ok {
		value = v
	} else if value == "" {
		sh.t.Fatalf("README: %s\nthe test has no value for %s", line, name)
	}
	sh.vars[name] = value
	if strings.HasPrefix(name, "OAUTH2D_") {
		sh.env[name] = value
	}
}

// split breaks a line into words: '…' is literal, "…" and bare words
// expand $NAME and ${NAME}, $(…) is kept unrun, | is a word of its own
// and # starts a comment.
func (sh *readmeShell) split(line string) []word {
	var words []word
	var cur strings.Builder
	inWord, subst, cmd := false, false, ""
	flush := func() {
		if inWord {
			words = append(words, word{cur.String(), subst, cmd})
		}
		cur.Reset()
		inWord, subst, cmd = false, false, ""
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '#' && !inWord: // a comment runs to the end of the line
			i = len(line)
		case c == ' ' || c == '\t':
			flush()
		case c == '|':
			flush()
			words = append(words, word{text: "|"})
		case c == '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				sh.t.Fatalf("README: %s\nunterminated '", line)
			}
			cur.WriteString(line[i+1 : i+1+end])
			inWord, i = true, i+1+end
		case c == '"':
			end := strings.IndexByte(line[i+1:], '"')
			if end < 0 {
				sh.t.Fatalf("README: %s\nunterminated \"", line)
			}
			cur.WriteString(sh.expand(line, line[i+1:i+1+end]))
			inWord, i = true, i+1+end
		case strings.HasPrefix(line[i:], "$("):
			depth, j := 0, i+1
			for ; j < len(line); j++ {
				if line[j] == '(' {
					depth++
				} else if line[j] == ')' {
					if depth--; depth == 0 {
						break
					}
				}
			}
			cmd = line[i+2 : min(j, len(line))]
			inWord, subst, i = true, true, j
		case c == '$':
			m := regexp.MustCompile(`^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?`).FindString(line[i:])
			cur.WriteString(sh.expand(line, m))
			inWord, i = true, i+len(m)-1
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	flush()
	return words
}

func (sh *readmeShell) expand(line, s string) string {
	return regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?`).ReplaceAllStringFunc(s, func(ref string) string {
		name := strings.Trim(ref, "${}")
		v, ok := sh.vars[name]
		if !ok {
			sh.t.Fatalf("README: %s\n%s is used before it is set", line, fmt.Sprint("$", name))
		}
		return v
	})
}
