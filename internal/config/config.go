package config

import (
	"log/slog"
	"strings"
	"time"
)

// DefaultPath is the configuration file read when --config is not given. It
// may be missing; an explicitly named file may not.
const DefaultPath = "configs/oauth2d.yaml"

// Key sources (keys.source).
const (
	// KeysGenerate makes fresh signing keys in memory at start-up: tokens do
	// not survive a restart and instances do not share keys. Development only.
	KeysGenerate = "generate"
	// KeysDir reads PEM private keys from keys.dir.
	KeysDir = "dir"
	// KeysRedis keeps keys in Redis, encrypted with the key encryption key,
	// so every instance signs with the same rotating key set.
	KeysRedis = "redis"
)

// Config is every setting of oauth2d. The yaml tags are the names used in
// the file; the same names, upper-cased with "." and "_" turned into "_",
// prefixed OAUTH2D_, are the environment variables (see settings).
type Config struct {
	// Addr is the listen address, host:port.
	Addr string `yaml:"addr"`
	// Issuer is the `iss` of every token and the base of discovery. It must
	// be https, or http on a loopback host (DESIGN.md §8).
	Issuer string `yaml:"issuer"`
	// InsecureDev relaxes checks meant for production: bootstrap and
	// admin-created clients may register plain-http redirect URIs on any
	// host, where a code could be read on the wire, and the server's own
	// requests (back-channel logout) may reach any address, loopback and
	// private networks included (package outbound). It is false by default
	// and true in configs/oauth2d.yaml (the development configuration).
	// It was called "dev"; a file or variable that still says so is refused.
	InsecureDev bool `yaml:"insecure_dev"`
	// Bootstrap is the file of clients and users upserted at start-up; ""
	// loads none. A missing file at the default path is skipped.
	Bootstrap string `yaml:"bootstrap"`
	// PKCERequiredForAll requires PKCE from confidential clients too (it is
	// always required from public clients).
	PKCERequiredForAll bool `yaml:"pkce_required_for_all"`

	Redis     Redis     `yaml:"redis"`
	Tokens    Tokens    `yaml:"tokens"`
	Keys      Keys      `yaml:"keys"`
	TLS       TLS       `yaml:"tls"`
	Log       Log       `yaml:"log"`
	HTTP      HTTP      `yaml:"http"`
	RateLimit RateLimit `yaml:"rate_limit"`
	DPoP      DPoP      `yaml:"dpop"`
	PAR       PAR       `yaml:"par"`
	// Device tunes the device authorization grant (RFC 8628).
	Device Device `yaml:"device"`
	// Backchannel tunes the delivery of back-channel logout tokens.
	Backchannel Backchannel `yaml:"backchannel"`
	// Outbound says which internal destinations the server's own requests
	// may reach.
	Outbound Outbound `yaml:"outbound"`
	Branding Branding `yaml:"branding"`
	Consent  Consent  `yaml:"consent"`
	MFA      MFA      `yaml:"mfa"`
	// RevocationFeed tunes the feed resource servers follow.
	RevocationFeed RevocationFeed `yaml:"revocation_feed"`
	// Audit says where audit events go besides the log.
	Audit Audit `yaml:"audit"`
	// Registration configures dynamic client registration (RFC 7591, 7592).
	Registration Registration `yaml:"registration"`
	// ClientIDMetadata accepts https URLs as client ids (Client ID
	// Metadata Documents).
	ClientIDMetadata ClientIDMetadata `yaml:"client_id_metadata"`
}

// Redis says where state lives.
type Redis struct {
	// URL is "" for the embedded in-process Redis (data lost on exit),
	// redis:// or rediss:// for one server, or a comma-separated list of
	// addresses for a Cluster.
	URL string `yaml:"url"`
	// AllowEmbedded lets an empty URL mean the embedded Redis. True by
	// default for the quick start; a production configuration (the Docker
	// image's) sets it false so that a missing URL stops the start instead
	// of silently keeping every client, user and token in memory.
	AllowEmbedded bool `yaml:"allow_embedded"`
	// Prefix starts every key, so tenants and tests can share one server.
	Prefix string `yaml:"prefix"`
	// Timeout bounds every Redis command; a request that needs a Redis
	// that does not answer in time gets 503 + Retry-After, not a hang.
	Timeout time.Duration `yaml:"timeout"`
	// MinReplicasAck, when positive, holds the answer to a write a
	// failover must not lose until that many replicas have it (WAIT); see
	// storage.Options.MinReplicasAck. Zero: asynchronous replication.
	MinReplicasAck int `yaml:"min_replicas_ack"`
}

// Tokens holds lifetimes and the access-token audience.
type Tokens struct {
	AccessTTL time.Duration `yaml:"access_ttl"`
	// IDTokenTTL is the ID token's lifetime; zero means AccessTTL.
	IDTokenTTL time.Duration `yaml:"id_token_ttl"`
	// RefreshSlidingTTL: a refresh-token family unused this long expires.
	RefreshSlidingTTL time.Duration `yaml:"refresh_sliding_ttl"`
	// RefreshAbsoluteTTL: a family expires this long after the login,
	// however often it is used.
	RefreshAbsoluteTTL time.Duration `yaml:"refresh_absolute_ttl"`
	CodeTTL            time.Duration `yaml:"code_ttl"`
	// RefreshGrace lets a just-rotated refresh token answer once more with
	// the same successor while that successor is unused: a client that
	// never got the answer (a 5xx, a timeout, a dropped connection) may
	// retry, and two concurrent refreshes of one client both succeed. Zero
	// turns it off so any reuse revokes the family.
	RefreshGrace time.Duration `yaml:"refresh_grace"`
	// Audience is the identifier of the built-in comments API, a
	// registered resource (RFC 8707) like any other: the `aud` of the
	// tokens for it. Empty means [issuer + "/api"]. The first entry is
	// the default resource: it takes the scopes no registered resource
	// defines. Further entries are aliases the built-in API also accepts.
	Audience []string `yaml:"audience"`
	// AdminAudience is the identifier of the admin API (/admin/v1), a
	// resource of its own, so that a comments token is refused there and
	// an admin token at the comments API. Empty means issuer + "/admin".
	AdminAudience string `yaml:"admin_audience"`
}

// MaxLifetime is the longest a signed token lives: a retired signing key
// must stay published that long, and a revocation must be remembered that
// long.
func (t Tokens) MaxLifetime() time.Duration { return max(t.AccessTTL, t.IDTokenTTL) }

// Keys says how tokens are signed.
type Keys struct {
	// Algorithm signs access tokens: ES256, RS256, PS256 or EdDSA.
	Algorithm string `yaml:"algorithm"`
	// IDTokenAlgorithm signs ID tokens; RS256 by default because OIDC Core
	// §15.1 makes it the one every relying party must support.
	IDTokenAlgorithm string `yaml:"id_token_algorithm"`
	// Source is KeysGenerate, KeysDir or KeysRedis.
	Source string `yaml:"source"`
	// Dir holds PEM private keys when Source is KeysDir.
	Dir string `yaml:"dir"`
	// EncryptionKeyFile names a file holding the key encryption key, used
	// when OAUTH2D_KEY_ENCRYPTION_KEY is not set.
	EncryptionKeyFile string `yaml:"encryption_key_file"`
	// EncryptionKey encrypts signing keys at rest in Redis. It is a secret,
	// so it comes only from OAUTH2D_KEY_ENCRYPTION_KEY or EncryptionKeyFile,
	// never from the YAML file or a flag.
	EncryptionKey string `yaml:"-"`
}

// TLS serves HTTPS directly when both files are set.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Enabled reports whether the server should terminate TLS itself.
func (t TLS) Enabled() bool { return t.CertFile != "" && t.KeyFile != "" }

// Log configures the slog logger.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn or error
	Format string `yaml:"format"` // text or json
}

// SlogLevel is Level as a slog.Level; unknown levels (rejected by Validate)
// read as info.
func (l Log) SlogLevel() slog.Level {
	switch strings.ToLower(l.Level) {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// HTTP tunes the HTTP server.
type HTTP struct {
	// DrainDelay is how long the server keeps serving after SIGTERM, with
	// /readyz already 503, so that load balancers stop sending first.
	DrainDelay time.Duration `yaml:"drain_delay"`
	// ShutdownTimeout bounds the drain of in-flight requests on SIGTERM.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// MaxBodyBytes caps form and JSON request bodies.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// TrustedProxies lists the proxies (IPs or CIDRs) whose
	// X-Forwarded-For is believed. Empty trusts none, so the client IP that
	// rate limits key on is the TCP peer and cannot be forged by a header.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// HSTSMaxAge is the max-age of the Strict-Transport-Security header
	// (RFC 6797) every answer carries when the issuer is https, so that a
	// browser that once reached the server never tries plain http again,
	// where the cookies and the login form could be read. Zero sends none.
	HSTSMaxAge time.Duration `yaml:"hsts_max_age"`
}

// DefaultHSTSMaxAge is two years, the max-age hstspreload.org recommends
// (63072000 s).
const DefaultHSTSMaxAge = 2 * 365 * 24 * time.Hour

// RateLimit bounds password guessing at the login form and the password
// grant (RFC 9700 §2.4, RFC 6749 §10.10). The Login* budgets are failed
// password checks per minute (also the burst); a success and a refused
// attempt count nothing (package ratelimit). An attempt takes a place in
// each budget while its password is checked; attempts in flight that fill
// a budget make the next one wait, not fail, so concurrent right
// passwords are never answered 429 and concurrent wrong ones never get
// more checks than the budget. LoginMaxPending and LoginMaxWait bound
// that waiting: past them the answer is 503 with Retry-After.
type RateLimit struct {
	// LoginPerUsernameIP: failures for one username from one address, the
	// strict budget against one attacker guessing one account; the owner
	// at another address is unaffected.
	LoginPerUsernameIP int `yaml:"login_per_username_ip"`
	// LoginPerIP: failures from one address for any username, against
	// password spraying (one guess at many accounts).
	LoginPerIP int `yaml:"login_per_ip"`
	// LoginPerUsername: failures for one username from all addresses,
	// against distributed guessing. Generous: spending it locks the owner
	// out, which takes LoginPerUsername/LoginPerUsernameIP addresses.
	LoginPerUsername int `yaml:"login_per_username"`
	// LoginMaxPending: password attempts one instance holds at once,
	// waiting for their turn or being checked; one more is answered 503
	// with Retry-After at once. It bounds what a flood costs an instance.
	LoginMaxPending int `yaml:"login_max_pending"`
	// LoginMaxWait: longest an attempt waits for its turn (a free password
	// checker, or attempts in flight on its budgets to end) before it is
	// answered 503 with Retry-After.
	LoginMaxWait time.Duration `yaml:"login_max_wait"`
}

// Default returns the built-in settings: a loopback development server with
// an embedded Redis and generated keys.
func Default() Config {
	return Config{
		Addr:      "127.0.0.1:8080",
		Issuer:    "http://localhost:8080",
		Bootstrap: DefaultBootstrap,
		Redis:     Redis{Prefix: "oauth2d:", AllowEmbedded: true, Timeout: 2 * time.Second},
		Tokens: Tokens{
			AccessTTL:          15 * time.Minute,
			RefreshSlidingTTL:  14 * 24 * time.Hour,
			RefreshAbsoluteTTL: 90 * 24 * time.Hour,
			CodeTTL:            60 * time.Second,
			RefreshGrace:       DefaultRefreshGrace,
		},
		Keys: Keys{
			Algorithm:        "ES256",
			IDTokenAlgorithm: "RS256",
			Source:           KeysGenerate,
		},
		Log: Log{Level: "info", Format: "text"},
		HTTP: HTTP{DrainDelay: 5 * time.Second, ShutdownTimeout: 10 * time.Second, MaxBodyBytes: 64 << 10,
			HSTSMaxAge: DefaultHSTSMaxAge},
		RateLimit: RateLimit{LoginPerUsernameIP: 5, LoginPerIP: 20, LoginPerUsername: 30,
			LoginMaxPending: 256, LoginMaxWait: 5 * time.Second},
		DPoP:             defaultDPoP(),
		PAR:              defaultPAR(),
		Device:           defaultDevice(),
		ClientIDMetadata: defaultClientIDMetadata(),
		Backchannel:      defaultBackchannel(),
		Branding:         defaultBranding(),
		Consent:          defaultConsent(),

		RevocationFeed: RevocationFeed{MaxWaiters: 1024},
		Audit:          defaultAudit(),
		Registration:   defaultRegistration(),
	}
}

// DefaultRefreshGrace is the default retry window of a rotated refresh
// token: long enough for a client to retry after a Redis stall or a
// failover (typically 10-20 s) answered 503, short enough that a stolen
// token is worth nothing once its owner has used the successor (which
// ends the window at once).
const DefaultRefreshGrace = 30 * time.Second

// DefaultBootstrap is the bootstrap path that may be missing without error.
const DefaultBootstrap = "configs/bootstrap.yaml"

// fillDerived sets the settings whose default depends on another one.
func (c *Config) fillDerived() {
	if c.Tokens.IDTokenTTL == 0 {
		c.Tokens.IDTokenTTL = c.Tokens.AccessTTL
	}
	// Without an issuer (an error Validate reports) there is nothing to
	// derive the audience from; "/api" would only add a second error.
	if len(c.Tokens.Audience) == 0 && c.Issuer != "" {
		c.Tokens.Audience = []string{strings.TrimSuffix(c.Issuer, "/") + "/api"}
	}
	if c.Tokens.AdminAudience == "" && c.Issuer != "" {
		c.Tokens.AdminAudience = strings.TrimSuffix(c.Issuer, "/") + "/admin"
	}
}
