package main

import (
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/oauth2d/oauth2d/internal/config"
)

// The build image must be the Go release go.mod asks for.
func TestDockerfileGoVersionMatchesGoMod(t *testing.T) {
	gomod := readRepoFile(t, "go.mod")
	dockerfile := readRepoFile(t, "Dockerfile")
	goLine := regexp.MustCompile(`(?m)^go (\S+)$`).FindStringSubmatch(gomod)
	arg := regexp.MustCompile(`(?m)^ARG GO_VERSION=(\S+)$`).FindStringSubmatch(dockerfile)
	if goLine == nil || arg == nil {
		t.Fatalf("go.mod go line %v, Dockerfile ARG GO_VERSION %v: one is missing", goLine, arg)
	}
	if goLine[1] != arg[1] {
		t.Errorf("Dockerfile builds with Go %s, go.mod asks for %s", arg[1], goLine[1])
	}
	if !strings.Contains(dockerfile, "FROM golang:${GO_VERSION}") {
		t.Error("Dockerfile does not build FROM golang:${GO_VERSION}")
	}
}

// The image and the default compose service are production-safe; the demo
// setup is opt-in (docker-compose.demo.yml).
func TestDockerDefaultsAreProductionSafe(t *testing.T) {
	dockerfile := readRepoFile(t, "Dockerfile")
	if !strings.Contains(dockerfile, "ENV OAUTH2D_CONFIG=/app/configs/oauth2d.container.yaml") {
		t.Error("the image does not default to configs/oauth2d.container.yaml")
	}
	if strings.Contains(dockerfile, "COPY configs/ ") || strings.Contains(dockerfile, "bootstrap.yaml") {
		t.Error("the image carries the demo configuration or bootstrap file")
	}
	type service struct {
		Environment map[string]string
		Volumes     []string
	}
	type compose struct{ Services map[string]service }
	var base, demo compose
	for file, into := range map[string]*compose{"docker-compose.yml": &base, "docker-compose.demo.yml": &demo} {
		if err := yaml.Unmarshal([]byte(readRepoFile(t, file)), into); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	env := base.Services["oauth2d"].Environment
	if env == nil {
		t.Fatal("docker-compose.yml has no oauth2d service with an environment")
	}
	for k := range env {
		if k == "OAUTH2D_CONFIG" || k == "OAUTH2D_BOOTSTRAP" || k == "OAUTH2D_INSECURE_DEV" || k == "OAUTH2D_LOG_FORMAT" {
			t.Errorf("docker-compose.yml sets %s: the image's production configuration must apply", k)
		}
	}
	if v := env["OAUTH2D_KEY_ENCRYPTION_KEY"]; !strings.HasPrefix(v, "${") {
		t.Errorf("docker-compose.yml hard-codes the key encryption key %q", v)
	}
	if got := demo.Services["oauth2d"].Environment["OAUTH2D_CONFIG"]; got != "/app/configs/oauth2d.yaml" {
		t.Errorf("docker-compose.demo.yml runs config %q, want the development configuration", got)
	}
	// The development configuration and the demo file start only on a
	// loopback issuer, so the demo setup must set one, not pass the
	// shell's through.
	demoIssuer := demo.Services["oauth2d"].Environment["OAUTH2D_ISSUER"]
	if u, err := url.Parse(demoIssuer); err != nil || !config.IsLoopback(u.Hostname()) {
		t.Errorf("docker-compose.demo.yml sets issuer %q, want one on a loopback host", demoIssuer)
	}
	if !strings.Contains(readRepoFile(t, ".dockerignore"), "**/node_modules") {
		t.Error(".dockerignore does not exclude nested node_modules")
	}
}

func readRepoFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../../" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
