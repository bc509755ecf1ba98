package config

import (
	"flag"
	"strings"
	"testing"
	"time"
)

func TestValidateBackchannel(t *testing.T) {
	cases := []struct {
		name    string
		edit    func(c *Config)
		setting string // "" for a valid configuration
	}{
		{"defaults", func(*Config) {}, ""},
		{"shortest", func(c *Config) { c.Backchannel = Backchannel{Timeout: time.Second, RetryFor: 10 * time.Second} }, ""},
		{"longest", func(c *Config) { c.Backchannel = Backchannel{Timeout: time.Minute, RetryFor: 24 * time.Hour} }, ""},
		{"no timeout", func(c *Config) { c.Backchannel.Timeout = 0 }, "backchannel.timeout"},
		{"timeout under a second", func(c *Config) { c.Backchannel.Timeout = 500 * time.Millisecond }, "backchannel.timeout"},
		{"timeout over a minute", func(c *Config) { c.Backchannel.Timeout = 2 * time.Minute }, "backchannel.timeout"},
		{"no retries", func(c *Config) { c.Backchannel.RetryFor = 0 }, "backchannel.retry_for"},
		{"retry for a week", func(c *Config) { c.Backchannel.RetryFor = 7 * 24 * time.Hour }, "backchannel.retry_for"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			c.fillDerived()
			tc.edit(&c)
			err := c.Validate()
			switch {
			case tc.setting == "" && err != nil:
				t.Fatalf("Validate = %v", err)
			case tc.setting != "" && (err == nil || !strings.Contains(err.Error(), "config: "+tc.setting+":")):
				t.Fatalf("Validate = %v, want an error naming %s", err, tc.setting)
			}
		})
	}
}

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
