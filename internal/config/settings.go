package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// setting binds one named setting to its field, so the environment and flag
// layers (and the README table test) share one list.
type setting struct {
	name  string // the YAML path, e.g. "tokens.access_ttl"
	usage string
	value value
}

type value interface {
	String() string
	Set(string) error
}

func (s setting) isBool() bool {
	_, ok := s.value.(*boolValue)
	return ok
}

// settings lists every setting except the key encryption key, which is a
// secret and never comes from a flag.
func (c *Config) settings() []setting {
	return append([]setting{
		{"addr", "listen address host:port", (*stringValue)(&c.Addr)},
		{"issuer", "issuer URL (https, or http on loopback)", (*stringValue)(&c.Issuer)},
		{"insecure_dev", "INSECURE development mode: allow plain-http redirect URIs on any host and outbound requests to internal addresses", (*boolValue)(&c.InsecureDev)},
		{"bootstrap", "clients and users file upserted at start-up (\"\" for none)", (*stringValue)(&c.Bootstrap)},
		{"pkce_required_for_all", "require PKCE from confidential clients too", (*boolValue)(&c.PKCERequiredForAll)},
		{"redis.url", "Redis URL, comma list for Cluster, \"\" for embedded", (*stringValue)(&c.Redis.URL)},
		{"redis.allow_embedded", "an empty redis.url means the embedded Redis (data lost on exit); false makes redis.url required", (*boolValue)(&c.Redis.AllowEmbedded)},
		{"redis.prefix", "prefix of every Redis key", (*stringValue)(&c.Redis.Prefix)},
		{"redis.timeout", "longest wait for one Redis command before the request is answered 503", (*durationValue)(&c.Redis.Timeout)},
		{"redis.min_replicas_ack", "replicas that must hold a new or rotated refresh token, code, consent or client before it is answered (0 = off)", (*intValue)(&c.Redis.MinReplicasAck)},
		{"tokens.access_ttl", "access token lifetime", (*durationValue)(&c.Tokens.AccessTTL)},
		{"tokens.id_token_ttl", "ID token lifetime (0 = access_ttl)", (*durationValue)(&c.Tokens.IDTokenTTL)},
		{"tokens.refresh_sliding_ttl", "refresh token idle lifetime", (*durationValue)(&c.Tokens.RefreshSlidingTTL)},
		{"tokens.refresh_absolute_ttl", "refresh token lifetime from login", (*durationValue)(&c.Tokens.RefreshAbsoluteTTL)},
		{"tokens.code_ttl", "authorization code lifetime", (*durationValue)(&c.Tokens.CodeTTL)},
		{"tokens.refresh_grace", "retry window of a rotated refresh token whose successor is unused (0 = off)", (*durationValue)(&c.Tokens.RefreshGrace)},
		{"tokens.audience", "the built-in comments API's resource identifier(s), comma-separated (empty = issuer + /api)", (*listValue)(&c.Tokens.Audience)},
		{"tokens.admin_audience", "the admin API's resource identifier (empty = issuer + /admin)", (*stringValue)(&c.Tokens.AdminAudience)},
		{"keys.algorithm", "access token signing algorithm: ES256, RS256, PS256, EdDSA", (*stringValue)(&c.Keys.Algorithm)},
		{"keys.id_token_algorithm", "ID token signing algorithm", (*stringValue)(&c.Keys.IDTokenAlgorithm)},
		{"keys.source", "signing keys: generate (dev), dir or redis", (*stringValue)(&c.Keys.Source)},
		{"keys.dir", "directory of PEM keys when keys.source is dir", (*stringValue)(&c.Keys.Dir)},
		{"keys.encryption_key_file", "file holding the key encryption key (else $" + EncryptionKeyEnv + ")", (*stringValue)(&c.Keys.EncryptionKeyFile)},
		{"tls.cert_file", "TLS certificate file (PEM)", (*stringValue)(&c.TLS.CertFile)},
		{"tls.key_file", "TLS private key file (PEM)", (*stringValue)(&c.TLS.KeyFile)},
		{"log.level", "log level: debug, info, warn, error", (*stringValue)(&c.Log.Level)},
		{"log.format", "log format: text or json", (*stringValue)(&c.Log.Format)},
		{"http.drain_delay", "how long to keep serving after SIGTERM with /readyz 503", (*durationValue)(&c.HTTP.DrainDelay)},
		{"http.shutdown_timeout", "drain time for in-flight requests on shutdown", (*durationValue)(&c.HTTP.ShutdownTimeout)},
		{"http.max_body_bytes", "largest accepted request body", (*int64Value)(&c.HTTP.MaxBodyBytes)},
		{"http.trusted_proxies", "proxies (IPs or CIDRs) whose X-Forwarded-For is believed, comma-separated", (*listValue)(&c.HTTP.TrustedProxies)},
		{"http.hsts_max_age", "max-age of Strict-Transport-Security on every answer when the issuer is https (0 = no header)", (*durationValue)(&c.HTTP.HSTSMaxAge)},
		{"rate_limit.login_per_username_ip", "failed password checks per minute per username and client IP", (*intValue)(&c.RateLimit.LoginPerUsernameIP)},
		{"rate_limit.login_per_ip", "failed password checks per minute per client IP", (*intValue)(&c.RateLimit.LoginPerIP)},
		{"rate_limit.login_per_username", "failed password checks per minute per username, from all addresses", (*intValue)(&c.RateLimit.LoginPerUsername)},
		{"rate_limit.login_max_pending", "password attempts one instance holds at once (waiting or being checked); more are answered 503", (*intValue)(&c.RateLimit.LoginMaxPending)},
		{"rate_limit.login_max_wait", "longest a password attempt waits for its turn before it is answered 503", (*durationValue)(&c.RateLimit.LoginMaxWait)},
	}, slices.Concat(c.dpopSettings(), c.parSettings(), c.deviceSettings(), c.backchannelSettings(), c.outboundSettings(), c.brandingSettings(), c.consentSettings(), c.mfaSettings(), c.feedSettings(), c.auditSettings(), c.clientIDMetadataSettings(), c.registrationSettings())...)
}

// SettingNames lists every setting name in documentation order (tests check
// the README against it).
func SettingNames() []string {
	var c Config
	var names []string
	for _, s := range c.settings() {
		names = append(names, s.name)
	}
	return names
}

type stringValue string

func (v *stringValue) String() string     { return string(*v) }
func (v *stringValue) Set(s string) error { *v = stringValue(s); return nil }

type boolValue bool

func (v *boolValue) String() string { return strconv.FormatBool(bool(*v)) }
func (v *boolValue) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("%q is not a boolean (true or false)", s)
	}
	*v = boolValue(b)
	return nil
}

type durationValue time.Duration

func (v *durationValue) String() string { return time.Duration(*v).String() }
func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration (like 15m or 336h)", s)
	}
	*v = durationValue(d)
	return nil
}

type intValue int

func (v *intValue) String() string { return strconv.Itoa(int(*v)) }
func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("%q is not an integer", s)
	}
	*v = intValue(n)
	return nil
}

type int64Value int64

func (v *int64Value) String() string { return strconv.FormatInt(int64(*v), 10) }
func (v *int64Value) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not an integer", s)
	}
	*v = int64Value(n)
	return nil
}

// listValue is a comma-separated list; each Set replaces the whole list so
// that a later layer overrides an earlier one rather than adding to it.
type listValue []string

func (v *listValue) String() string { return strings.Join(*v, ",") }
func (v *listValue) Set(s string) error {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	*v = out
	return nil
}
