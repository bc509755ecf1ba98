package prereq

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Node returns the node binary, ending t with Missing when node is not on
// PATH, is older than Node.js minMajor, or when one of pkgs is not
// installed in dir/node_modules (what `npm ci --prefix dir` installs from
// dir's package-lock.json). dir is the npm directory as the test sees it.
func Node(t testing.TB, minMajor int, dir string, pkgs ...string) string {
	t.Helper()
	install := "apt-get install -y nodejs npm && npm ci --prefix " + dir
	node := LookPath(t, install, "node")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, "-p", "process.versions.node").Output()
	version := strings.TrimSpace(string(out))
	major, _, _ := strings.Cut(version, ".")
	if n, convErr := strconv.Atoi(major); err != nil || convErr != nil || n < minMajor {
		Missing(t, fmt.Sprintf("Node.js %d or later", minMajor), fmt.Sprintf("%s is %q (%v)", node, version, err),
			fmt.Sprintf("Node.js %d or later from Debian 13, or from nodejs.org", minMajor))
	}
	for _, pkg := range pkgs {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json")); err != nil {
			Missing(t, "the npm packages of "+dir, err.Error(), "npm ci --prefix "+dir)
		}
	}
	return node
}
