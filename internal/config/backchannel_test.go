package config

import (
	"flag"
	"strings"
	"testing"
	"time"
)

func TestBackchannelDefaults(t *testing.T) {
	if got := Default().Backchannel; got != (Backchannel{Timeout: 5 * time.Second, RetryFor: time.Hour}) {
		t.Fatalf("defaults %+v", got)
	}
}

// The two settings come from the YAML file, the environment and flags, a
// later layer winning; Validate refuses a bad value by the setting's name.
func TestLoadBackchannel(t *testing.T) {
	t.Chdir(t.TempDir())
	file := writeFile(t, "oauth2d.yaml", "backchannel:\n  timeout: 7s\n  retry_for: 2h\n")
	load := func(env map[string]string, args ...string) (*Config, error) {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fl := BindFlags(fs)
		if err := fs.Parse(append([]string{"--config", file}, args...)); err != nil {
			t.Fatal(err)
		}
		return Load(fl, func(k string) string { return env[k] })
	}
	c, err := load(nil)
	if err != nil {
		t.Fatal(err)
	}
	want(t, "yaml", c.Backchannel, Backchannel{Timeout: 7 * time.Second, RetryFor: 2 * time.Hour})
	c, err = load(map[string]string{"OAUTH2D_BACKCHANNEL_TIMEOUT": "3s", "OAUTH2D_BACKCHANNEL_RETRY_FOR": "30m"})
	if err != nil {
		t.Fatal(err)
	}
	want(t, "env", c.Backchannel, Backchannel{Timeout: 3 * time.Second, RetryFor: 30 * time.Minute})
	c, err = load(map[string]string{"OAUTH2D_BACKCHANNEL_TIMEOUT": "3s"}, "--backchannel-timeout", "2s", "--backchannel-retry-for", "15m")
	if err != nil {
		t.Fatal(err)
	}
	want(t, "flags", c.Backchannel, Backchannel{Timeout: 2 * time.Second, RetryFor: 15 * time.Minute})
	c, err = load(map[string]string{"OAUTH2D_BACKCHANNEL_RETRY_FOR": "48h"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "backchannel.retry_for") || !strings.Contains(err.Error(), "10s to 24h") {
		t.Fatalf("retry_for of 48h: %v", err)
	}
}
