package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(c *Config)
		wantErr string // "" = valid
	}{
		{"defaults", func(c *Config) {}, ""},
		{"https issuer", func(c *Config) { c.Issuer = "https://auth.example.com" }, ""},
		{"https issuer with path", func(c *Config) { c.Issuer = "https://example.com/auth" }, ""},
		{"http issuer on 127.0.0.1", func(c *Config) { c.Issuer = "http://127.0.0.1:8080" }, ""},
		{"http issuer on ::1", func(c *Config) { c.Issuer = "http://[::1]:8080" }, ""},
		{"http issuer elsewhere", func(c *Config) { c.Issuer = "http://auth.example.com" }, "config: issuer: must be https"},
		{"http issuer on a lookalike host", func(c *Config) { c.Issuer = "http://localhost.example.com" }, "config: issuer: must be https"},
		{"no issuer", func(c *Config) { c.Issuer = "" }, "config: issuer: must be set (OAUTH2D_ISSUER)"},
		{"relative issuer", func(c *Config) { c.Issuer = "/auth" }, "config: issuer: must be an absolute URL"},
		{"issuer with trailing slash", func(c *Config) { c.Issuer = "https://auth.example.com/" }, "config: issuer: must not end with /"},
		{"issuer with query", func(c *Config) { c.Issuer = "https://auth.example.com?a=b" }, "config: issuer: must not carry a query"},
		{"ftp issuer", func(c *Config) { c.Issuer = "ftp://auth.example.com" }, "config: issuer: must be an https URL"},
		{"insecure_dev on localhost", func(c *Config) { c.InsecureDev = true }, ""},
		{"insecure_dev on https localhost", func(c *Config) { c.InsecureDev, c.Issuer = true, "https://localhost:8443" }, ""},
		{"insecure_dev on ::1", func(c *Config) { c.InsecureDev, c.Issuer = true, "http://[::1]:8080" }, ""},
		{"insecure_dev on a real issuer", func(c *Config) { c.InsecureDev, c.Issuer = true, "https://auth.example.com" },
			"config: insecure_dev: must be false when the issuer (https://auth.example.com) is not on a loopback host: insecure_dev and a demo bootstrap file (bootstrap,"},
		{"insecure_dev on a lookalike host", func(c *Config) { c.InsecureDev, c.Issuer = true, "https://localhost.example.com" }, "config: insecure_dev:"},
		{"addr without port", func(c *Config) { c.Addr = "localhost" }, "config: addr: must be host:port"},
		{"addr with bad port", func(c *Config) { c.Addr = "localhost:http2" }, "config: addr: port"},
		{"addr any interface", func(c *Config) { c.Addr = ":8080" }, ""},
		{"redis url", func(c *Config) { c.Redis.URL = "redis://:pw@127.0.0.1:6379/0" }, ""},
		{"redis tls url", func(c *Config) { c.Redis.URL = "rediss://cache.example:6380" }, ""},
		{"redis cluster list", func(c *Config) { c.Redis.URL = "10.0.0.1:7000,10.0.0.2:7000" }, ""},
		{"redis bare host:port", func(c *Config) { c.Redis.URL = "127.0.0.1:6379" }, ""},
		{"redis single-seed cluster", func(c *Config) { c.Redis.URL = "redis://10.0.0.1:7000," }, ""},
		{"redis sentinel", func(c *Config) { c.Redis.URL = "redis://10.0.0.1:26379?master_name=mymaster" }, ""},
		{"embedded redis refused", func(c *Config) { c.Redis.AllowEmbedded = false }, "config: redis.url: must be set (OAUTH2D_REDIS_URL)"},
		{"redis url without embedded", func(c *Config) { c.Redis.URL, c.Redis.AllowEmbedded = "redis://127.0.0.1:6379", false }, ""},
		{"redis bad scheme", func(c *Config) { c.Redis.URL = "http://127.0.0.1:6379" }, "config: redis.url: scheme must be redis or rediss"},
		{"redis junk", func(c *Config) { c.Redis.URL = "localhost" }, "config: redis.url:"},
		{"replica acks", func(c *Config) { c.Redis.URL, c.Redis.MinReplicasAck = "redis://10.0.0.1:26379?master_name=m", 1 }, ""},
		{"replica acks on the embedded redis", func(c *Config) { c.Redis.MinReplicasAck = 1 }, "config: redis.min_replicas_ack: needs redis.url"},
		{"negative replica acks", func(c *Config) { c.Redis.URL, c.Redis.MinReplicasAck = "redis://10.0.0.1:6379", -1 }, "config: redis.min_replicas_ack: must be between 0 and 16"},
		{"prefix with hash tag", func(c *Config) { c.Redis.Prefix = "{a}:" }, "config: redis.prefix: must not contain {"},
		{"empty prefix", func(c *Config) { c.Redis.Prefix = "" }, "config: redis.prefix:"},
		{"zero access ttl", func(c *Config) { c.Tokens.AccessTTL = 0 }, "config: tokens.access_ttl: must be positive"},
		{"long code ttl", func(c *Config) { c.Tokens.CodeTTL = time.Hour }, "config: tokens.code_ttl: must be at most 10m"},
		{"sliding over absolute", func(c *Config) { c.Tokens.RefreshSlidingTTL = 100 * 24 * time.Hour }, "config: tokens.refresh_sliding_ttl:"},
		{"negative grace", func(c *Config) { c.Tokens.RefreshGrace = -time.Second }, "config: tokens.refresh_grace:"},
		{"grace on", func(c *Config) { c.Tokens.RefreshGrace = 10 * time.Second }, ""},
		{"relative audience", func(c *Config) { c.Tokens.Audience = []string{"api"} }, "config: tokens.audience:"},
		{"audience with fragment", func(c *Config) { c.Tokens.Audience = []string{"https://api.example#x"} }, "config: tokens.audience:"},
		{"unknown algorithm", func(c *Config) { c.Keys.Algorithm = "HS256" }, "config: keys.algorithm: must be one of"},
		{"EdDSA", func(c *Config) { c.Keys.Algorithm = "EdDSA" }, ""},
		{"unknown id token algorithm", func(c *Config) { c.Keys.IDTokenAlgorithm = "none" }, "config: keys.id_token_algorithm:"},
		{"unknown key source", func(c *Config) { c.Keys.Source = "vault" }, "config: keys.source:"},
		{"dir source without dir", func(c *Config) { c.Keys.Source = KeysDir }, "config: keys.dir:"},
		{"dir source", func(c *Config) { c.Keys.Source, c.Keys.Dir = KeysDir, "/keys" }, ""},
		{"redis source without key", func(c *Config) { c.Keys.Source = KeysRedis }, "config: keys.encryption_key:"},
		{"redis source", func(c *Config) { c.Keys.Source, c.Keys.EncryptionKey = KeysRedis, "k" }, ""},
		{"half tls", func(c *Config) { c.TLS.CertFile = "cert.pem" }, "config: tls: cert_file and key_file"},
		{"branding", func(c *Config) {
			c.Branding = Branding{ProductName: "Example ID", LogoURL: "https://cdn.example.com/logo.svg", AccentColor: "#1A7f37"}
		}, ""},
		{"logo on loopback http", func(c *Config) { c.Branding.LogoURL = "http://127.0.0.1:9000/logo.png" }, ""},
		{"empty product name", func(c *Config) { c.Branding.ProductName = " " }, "config: branding.product_name: must not be empty"},
		{"long product name", func(c *Config) { c.Branding.ProductName = strings.Repeat("x", 65) }, "config: branding.product_name: must be at most 64"},
		{"product name with a newline", func(c *Config) { c.Branding.ProductName = "a\nb" }, "config: branding.product_name: must not contain control"},
		{"http logo elsewhere", func(c *Config) { c.Branding.LogoURL = "http://cdn.example.com/logo.png" }, "config: branding.logo_url: must be https"},
		{"relative logo", func(c *Config) { c.Branding.LogoURL = "/logo.png" }, "config: branding.logo_url: must be an absolute URL"},
		{"data logo", func(c *Config) { c.Branding.LogoURL = "data:image/png;base64,AAAA" }, "config: branding.logo_url:"},
		{"short accent", func(c *Config) { c.Branding.AccentColor = "#abc" }, "config: branding.accent_color: must be #rrggbb"},
		{"accent with css", func(c *Config) { c.Branding.AccentColor = "#000000;}body{display:none" }, "config: branding.accent_color:"},
		{"bad log level", func(c *Config) { c.Log.Level = "loud" }, "config: log.level:"},
		{"upper case log level", func(c *Config) { c.Log.Level = "DEBUG" }, ""},
		{"bad log format", func(c *Config) { c.Log.Format = "xml" }, "config: log.format:"},
		{"zero shutdown", func(c *Config) { c.HTTP.ShutdownTimeout = 0 }, "config: http.shutdown_timeout:"},
		{"tiny body", func(c *Config) { c.HTTP.MaxBodyBytes = 10 }, "config: http.max_body_bytes:"},
		{"no hsts", func(c *Config) { c.HTTP.HSTSMaxAge = 0 }, ""},
		{"hsts under a second", func(c *Config) { c.HTTP.HSTSMaxAge = 500 * time.Millisecond }, "config: http.hsts_max_age:"},
		{"negative hsts", func(c *Config) { c.HTTP.HSTSMaxAge = -time.Second }, "config: http.hsts_max_age:"},
		{"trusted proxies", func(c *Config) { c.HTTP.TrustedProxies = []string{"10.0.0.0/8", "192.168.1.1", "::1"} }, ""},
		{"bad trusted proxy", func(c *Config) { c.HTTP.TrustedProxies = []string{"lb.internal"} }, "config: http.trusted_proxies:"},
		{"no username limit", func(c *Config) { c.RateLimit.LoginPerUsername = 0 }, "config: rate_limit.login_per_username:"},
		{"no ip limit", func(c *Config) { c.RateLimit.LoginPerIP = -1 }, "config: rate_limit.login_per_ip:"},
		{"no pending attempts", func(c *Config) { c.RateLimit.LoginMaxPending = 0 }, "config: rate_limit.login_max_pending:"},
		{"no wait for a turn", func(c *Config) { c.RateLimit.LoginMaxWait = 0 }, "config: rate_limit.login_max_wait:"},
		{"a wait past the places' lease", func(c *Config) { c.RateLimit.LoginMaxWait = 2 * time.Minute }, "config: rate_limit.login_max_wait:"},
		{"a symmetric algorithm", func(c *Config) { c.DPoP.Algorithms = []string{"ES256", "HS256"} }, "config: dpop.algorithms:"},
		{"no algorithm", func(c *Config) { c.DPoP.Algorithms = nil }, "config: dpop.algorithms:"},
		{"max age of an hour", func(c *Config) { c.DPoP.MaxAge = time.Hour }, "config: dpop.max_age:"},
		{"nonces without a secret", func(c *Config) { c.DPoP.Nonces = true }, "config: dpop.nonce_secret:"},
		{"nonces with a short secret", func(c *Config) { c.DPoP.Nonces = true; c.DPoP.NonceSecret = "short" }, "config: dpop.nonce_secret:"},
		{"nonces with a secret", func(c *Config) { c.DPoP.Nonces = true; c.DPoP.NonceSecret = strings.Repeat("s", 32) }, ""},
		{"negative public budget", func(c *Config) { c.DPoP.PublicPerIP = -1 }, "config: dpop.public_per_ip:"},
		{"no feed waiters", func(c *Config) { c.RevocationFeed.MaxWaiters = 0 }, "config: revocation_feed.max_waiters: must be from 1"},
		{"one feed waiter", func(c *Config) { c.RevocationFeed.MaxWaiters = 1 }, ""},
		{"no public budget", func(c *Config) { c.DPoP.PublicPerIP = 0 }, ""},
		{"shortest back-channel timings", func(c *Config) { c.Backchannel = Backchannel{Timeout: time.Second, RetryFor: 10 * time.Second} }, ""},
		{"longest back-channel timings", func(c *Config) { c.Backchannel = Backchannel{Timeout: time.Minute, RetryFor: 24 * time.Hour} }, ""},
		{"no timeout", func(c *Config) { c.Backchannel.Timeout = 0 }, "config: backchannel.timeout:"},
		{"timeout under a second", func(c *Config) { c.Backchannel.Timeout = 500 * time.Millisecond }, "config: backchannel.timeout:"},
		{"timeout over a minute", func(c *Config) { c.Backchannel.Timeout = 2 * time.Minute }, "config: backchannel.timeout:"},
		{"no retries", func(c *Config) { c.Backchannel.RetryFor = 0 }, "config: backchannel.retry_for:"},
		{"retry for a week", func(c *Config) { c.Backchannel.RetryFor = 7 * 24 * time.Hour }, "config: backchannel.retry_for:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			c.fillDerived()
			tc.mutate(&c)
			err := c.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("Validate succeeded, want %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("Validate: %v\nwant it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestValidateReportsEverything(t *testing.T) {
	c := Default()
	c.fillDerived()
	c.Issuer = "http://auth.example.com"
	c.Addr = "nope"
	c.Tokens.AccessTTL = 0
	c.Log.Format = "xml"
	err := c.Validate()
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		t.Fatalf("Validate = %v, want joined errors", err)
	}
	if got := len(joined.Unwrap()); got != 4 {
		t.Errorf("got %d errors, want 4: %v", got, err)
	}
	for _, setting := range []string{"issuer", "addr", "tokens.access_ttl", "log.format"} {
		if !strings.Contains(err.Error(), "config: "+setting+":") {
			t.Errorf("error does not name %s: %v", setting, err)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST": true, "127.0.0.1": true, "127.1.2.3": true, "::1": true,
		"localhost.example": false, "example.com": false, "10.0.0.1": false, "0.0.0.0": false, "": false,
	} {
		if got := IsLoopback(host); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestValidateAcceptsEverySigningAlgorithm(t *testing.T) {
	for _, alg := range SigningAlgorithms() {
		t.Run(alg, func(t *testing.T) {
			c := Default()
			c.fillDerived()
			c.Keys.Algorithm, c.Keys.IDTokenAlgorithm = alg, alg
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

func TestSigningAlgorithmsCannotBeChangedByACaller(t *testing.T) {
	SigningAlgorithms()[0] = "none"
	if got := SigningAlgorithms()[0]; got != AlgES256 {
		t.Fatalf("SigningAlgorithms()[0] = %q after a caller wrote to its copy", got)
	}
}

// From a checkout, setting only the issuer to a real host must not start
// with the development configuration's insecure_dev: the refusal names
// both development settings and the configuration to use instead.
func TestDevelopmentConfigRefusedOnARealIssuer(t *testing.T) {
	c := loadFileForTest(t, "../../configs/oauth2d.yaml", map[string]string{"OAUTH2D_ISSUER": "https://auth.example.com"})
	err := c.Validate()
	if err == nil {
		t.Fatal("configs/oauth2d.yaml validates with issuer https://auth.example.com")
	}
	for _, w := range []string{"config: insecure_dev:", "https://auth.example.com", "bootstrap", ProductionConfig} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}

func TestCheckDemoBootstrap(t *testing.T) {
	for issuer, wantRefused := range map[string]bool{
		"http://localhost:8080": false, "http://127.0.0.1:8080": false, "http://[::1]:8080": false, "https://localhost": false,
		"https://auth.example.com": true, "https://localhost.example.com": true, "https://10.0.0.1": true,
	} {
		c := Default()
		c.Issuer = issuer
		err := c.CheckDemoBootstrap("configs/bootstrap.yaml")
		if (err != nil) != wantRefused {
			t.Errorf("issuer %s: CheckDemoBootstrap = %v, want refused %v", issuer, err, wantRefused)
			continue
		}
		if err != nil {
			for _, w := range []string{"config: bootstrap: configs/bootstrap.yaml is a demo file", "insecure_dev", issuer, ProductionConfig} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		}
	}
}
