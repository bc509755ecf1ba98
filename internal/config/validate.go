package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The JWS algorithms oauth2d signs with (RFC 7518 §3.1, RFC 8037 §3.1),
// defined here once. They live in config, not in token which implements
// them, because config is the bottom layer: it must validate
// keys.algorithm without importing token, while token may import config.
// Adding an algorithm is one edit here; token's tests then run every entry
// of SigningAlgorithms and fail until token implements it.
const (
	AlgES256 = "ES256" // ECDSA P-256 with SHA-256; the default for access tokens
	AlgRS256 = "RS256" // RSASSA-PKCS1-v1_5 with SHA-256; OIDC's mandatory ID token alg
	AlgPS256 = "PS256" // RSASSA-PSS with SHA-256
	AlgEdDSA = "EdDSA" // Ed25519
)

// SigningAlgorithms lists the supported JWS algorithms, a fresh slice per
// call so that no caller can change the list for the others.
func SigningAlgorithms() []string { return []string{AlgES256, AlgRS256, AlgPS256, AlgEdDSA} }

// maxCodeTTL is RFC 6749 §4.1.2's "maximum authorization code lifetime of
// 10 minutes is RECOMMENDED".
const maxCodeTTL = 10 * time.Minute

// Validate reports every bad setting at once, each error naming its
// setting ("config: issuer: ..."), joined with errors.Join.
func (c *Config) Validate() error {
	var errs []error
	bad := func(setting, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config: %s: %s", setting, fmt.Sprintf(format, args...)))
	}

	if err := checkAddr(c.Addr); err != nil {
		bad("addr", "%v", err)
	}
	if err := checkIssuer(c.Issuer); err != nil {
		bad("issuer", "%v", err)
	} else if c.InsecureDev && !c.LoopbackIssuer() {
		bad("insecure_dev", "must be false when the issuer (%s) is not on a loopback host: %s", c.Issuer, devOnlyAdvice)
	}
	if err := checkRedisURL(c.Redis.URL); err != nil {
		bad("redis.url", "%v", err)
	}
	if c.Redis.URL == "" && !c.Redis.AllowEmbedded {
		bad("redis.url", "must be set (%s): redis.allow_embedded is false, so the in-memory Redis, which loses everything on exit, is not used", EnvName("redis.url"))
	}
	switch {
	case c.Redis.Prefix == "":
		bad("redis.prefix", "must not be empty (it keeps oauth2d's keys apart from others')")
	case strings.ContainsAny(c.Redis.Prefix, "{}"):
		bad("redis.prefix", "must not contain { or } (the store puts Cluster hash tags after it)")
	}
	c.validateTokens(bad)
	c.validateKeys(bad)
	c.validateDPoP(bad)
	c.validatePAR(bad)
	c.validateClientIDMetadata(bad)
	c.validateDevice(bad)
	c.validateFeed(bad)
	c.validateBackchannel(bad)
	c.validateAudit(bad)
	c.validateRegistration(bad)
	c.validateOutbound(bad)
	c.validateBranding(bad)
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		bad("tls", "cert_file and key_file must be set together")
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, strings.ToLower(c.Log.Level)) {
		bad("log.level", "must be debug, info, warn or error, not %q", c.Log.Level)
	}
	if !slices.Contains([]string{"text", "json"}, c.Log.Format) {
		bad("log.format", "must be text or json, not %q", c.Log.Format)
	}
	if c.Redis.Timeout <= 0 || c.Redis.Timeout > time.Minute {
		bad("redis.timeout", "must be positive and at most 1m")
	}
	switch {
	case c.Redis.MinReplicasAck < 0 || c.Redis.MinReplicasAck > 16:
		bad("redis.min_replicas_ack", "must be between 0 and 16")
	case c.Redis.MinReplicasAck > 0 && c.Redis.URL == "":
		bad("redis.min_replicas_ack", "needs redis.url: the embedded Redis has no replicas")
	}
	if c.HTTP.DrainDelay < 0 || c.HTTP.DrainDelay > time.Minute {
		bad("http.drain_delay", "must be between 0 and 1m")
	}
	if c.HTTP.ShutdownTimeout <= 0 {
		bad("http.shutdown_timeout", "must be positive")
	}
	if c.HTTP.MaxBodyBytes < 1<<10 {
		bad("http.max_body_bytes", "must be at least 1024")
	}
	// max-age is whole seconds; a positive value under one would send
	// max-age=0, which tells browsers to forget the policy.
	if c.HTTP.HSTSMaxAge != 0 && c.HTTP.HSTSMaxAge < time.Second {
		bad("http.hsts_max_age", "must be 0 (no header) or at least 1s")
	}
	for _, p := range c.HTTP.TrustedProxies {
		if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
			bad("http.trusted_proxies", "%q is neither an IP address nor a CIDR", p)
		}
	}
	if c.RateLimit.LoginPerUsernameIP < 1 {
		bad("rate_limit.login_per_username_ip", "must be at least 1 failure per minute")
	}
	if c.RateLimit.LoginPerIP < 1 {
		bad("rate_limit.login_per_ip", "must be at least 1 failure per minute")
	}
	if c.RateLimit.LoginPerUsername < c.RateLimit.LoginPerUsernameIP {
		// Else one address could lock the owner out everywhere.
		bad("rate_limit.login_per_username", "must be at least rate_limit.login_per_username_ip")
	}
	if c.RateLimit.LoginMaxPending < 1 {
		bad("rate_limit.login_max_pending", "must be at least 1")
	}
	if c.RateLimit.LoginMaxWait < 100*time.Millisecond || c.RateLimit.LoginMaxWait > time.Minute {
		bad("rate_limit.login_max_wait", "must be between 100ms and 1m")
	}
	return errors.Join(errs...)
}

func (c *Config) validateTokens(bad func(setting, format string, args ...any)) {
	t := c.Tokens
	positive := []struct {
		setting string
		d       time.Duration
	}{
		{"tokens.access_ttl", t.AccessTTL},
		{"tokens.id_token_ttl", t.IDTokenTTL},
		{"tokens.refresh_sliding_ttl", t.RefreshSlidingTTL},
		{"tokens.refresh_absolute_ttl", t.RefreshAbsoluteTTL},
		{"tokens.code_ttl", t.CodeTTL},
	}
	for _, p := range positive {
		if p.d <= 0 {
			bad(p.setting, "must be positive")
		}
	}
	if t.CodeTTL > maxCodeTTL {
		bad("tokens.code_ttl", "must be at most %s (RFC 6749 §4.1.2)", maxCodeTTL)
	}
	if t.RefreshAbsoluteTTL > 0 && t.RefreshSlidingTTL > t.RefreshAbsoluteTTL {
		bad("tokens.refresh_sliding_ttl", "must not exceed tokens.refresh_absolute_ttl")
	}
	if t.RefreshGrace < 0 || t.RefreshGrace > time.Minute {
		bad("tokens.refresh_grace", "must be between 0 (off) and 1m")
	}
	for _, aud := range t.Audience {
		if !IsResourceIndicator(aud) {
			bad("tokens.audience", "%q must be an absolute URI without fragment", aud)
		}
	}
	if !IsResourceIndicator(t.AdminAudience) {
		bad("tokens.admin_audience", "%q must be an absolute URI without fragment", t.AdminAudience)
	} else if slices.Contains(t.Audience, t.AdminAudience) {
		bad("tokens.admin_audience", "must differ from tokens.audience: the admin API is a resource of its own")
	}
}

func (c *Config) validateKeys(bad func(setting, format string, args ...any)) {
	k := c.Keys
	algs := SigningAlgorithms()
	if !slices.Contains(algs, k.Algorithm) {
		bad("keys.algorithm", "must be one of %s, not %q", strings.Join(algs, ", "), k.Algorithm)
	}
	if !slices.Contains(algs, k.IDTokenAlgorithm) {
		bad("keys.id_token_algorithm", "must be one of %s, not %q", strings.Join(algs, ", "), k.IDTokenAlgorithm)
	}
	switch k.Source {
	case KeysGenerate:
	case KeysDir:
		if k.Dir == "" {
			bad("keys.dir", "must be set when keys.source is dir")
		}
	case KeysRedis:
		if k.EncryptionKey == "" {
			bad("keys.encryption_key", "must be set (OAUTH2D_KEY_ENCRYPTION_KEY or keys.encryption_key_file) when keys.source is redis")
		}
	default:
		bad("keys.source", "must be generate, dir or redis, not %q", k.Source)
	}
}

func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("must be host:port, not %q", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}

func checkIssuer(issuer string) error {
	if issuer == "" {
		return fmt.Errorf("must be set (%s): the https URL clients reach this server at, e.g. https://auth.example.com", EnvName("issuer"))
	}
	u, err := url.Parse(issuer)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return fmt.Errorf("must be an absolute URL, not %q", issuer)
	}
	if err := CheckHTTPS(u); err != nil {
		return err
	}
	// OIDC Discovery §4: the issuer has no query or fragment, and
	// "/.well-known/..." is appended to it, so no trailing slash either.
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return errors.New("must not carry a query, fragment or user info")
	}
	if strings.HasSuffix(u.Path, "/") {
		return errors.New("must not end with /")
	}
	return nil
}

// ProductionConfig is the example configuration to start from for an
// issuer that others reach.
const ProductionConfig = "configs/oauth2d.production.yaml"

// devOnlyAdvice ends the refusals of development settings on an issuer
// that others reach, naming both settings and what to use instead.
const devOnlyAdvice = "insecure_dev and a demo bootstrap file (bootstrap, such as configs/bootstrap.yaml, whose passwords are public) " +
	"are for an issuer on localhost, 127.0.0.1 or [::1] only; start from " + ProductionConfig +
	` (insecure_dev: false, bootstrap: "" or your own file)`

// LoopbackIssuer reports whether the issuer is on a loopback host, the
// only place where insecure_dev and demo credentials are acceptable: no
// one else reaches the server there. It is false for an issuer that does
// not parse (which Validate reports).
func (c *Config) LoopbackIssuer() bool {
	u, err := url.Parse(c.Issuer)
	return err == nil && IsLoopback(u.Hostname())
}

// CheckDemoBootstrap refuses the demo bootstrap file at path (a file
// marked `demo: true`: its secrets and passwords are public, so anyone
// could sign in as its admin) unless the issuer is on a loopback host.
// Validate cannot tell, since only the file says whether it is a demo.
func (c *Config) CheckDemoBootstrap(path string) error {
	if c.LoopbackIssuer() {
		return nil
	}
	return fmt.Errorf("config: bootstrap: %s is a demo file (demo: true) and must not be loaded when the issuer (%s) is not on a loopback host: %s",
		path, c.Issuer, devOnlyAdvice)
}

// CheckHTTPS applies the HTTPS posture of DESIGN.md §8 to an issuer or
// redirect URI: https anywhere, http only on a loopback host (RFC 8252 §7.3).
func CheckHTTPS(u *url.URL) error {
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if IsLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("must be https (http is allowed only on localhost, 127.0.0.1 or [::1]), not %q", u.Redacted())
	default:
		return fmt.Errorf("must be an https URL, not %q", u.Redacted())
	}
}

// IsLoopback reports whether host (without port or brackets) names the
// local machine: "localhost", 127.0.0.0/8 or ::1.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkRedisURL accepts what storage.Open does: "" (embedded), one
// redis:// or rediss:// URL or bare host:port (a Sentinel URL carries
// ?master_name=), or a comma-separated list of Cluster seeds (host:port or
// URLs; a trailing comma names a single-seed cluster).
func checkRedisURL(raw string) error {
	if raw == "" {
		return nil
	}
	for _, part := range strings.Split(raw, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !strings.Contains(part, "://") {
			if _, _, err := net.SplitHostPort(part); err != nil {
				return fmt.Errorf("%q is neither a redis:// URL nor host:port", part)
			}
			continue
		}
		u, err := url.Parse(part)
		if err != nil {
			// The parse error may quote a password; say only which part failed.
			return errors.New("cannot parse a redis URL in the list")
		}
		if u.Scheme != "redis" && u.Scheme != "rediss" {
			return fmt.Errorf("scheme must be redis or rediss, not %q", u.Scheme)
		}
		if u.Host == "" {
			return fmt.Errorf("%q has no host", u.Redacted())
		}
	}
	return nil
}

// IsResourceIndicator reports whether s is a valid resource indicator
// (RFC 8707 §2): an absolute URI without fragment.
func IsResourceIndicator(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.IsAbs() && u.Fragment == "" && !strings.Contains(s, "#")
}
