package config

import "time"

// PAR configures pushed authorization requests (RFC 9126). The endpoint is
// always served.
type PAR struct {
	// RequestURITTL is how long a request_uri may wait for the browser; it
	// is used once.
	RequestURITTL time.Duration `yaml:"request_uri_ttl"`
	// Required makes every client push its authorization requests, as if
	// each were registered with require_pushed_authorization_requests.
	Required bool `yaml:"required"`
	// PublicPerIP bounds, per client address and minute, the requests
	// public clients (which authenticate with nothing but their id) may
	// push, so anonymous callers cannot fill Redis; 0 turns it off.
	PublicPerIP int `yaml:"public_per_ip"`
}

func defaultPAR() PAR {
	return PAR{RequestURITTL: time.Minute, PublicPerIP: 60}
}

func (c *Config) parSettings() []setting {
	return []setting{
		{"par.request_uri_ttl", "how long a pushed request's request_uri stays usable", (*durationValue)(&c.PAR.RequestURITTL)},
		{"par.required", "every client must push its authorization requests (PAR)", (*boolValue)(&c.PAR.Required)},
		{"par.public_per_ip", "pushed requests per minute per address from public clients (0 = unlimited)", (*intValue)(&c.PAR.PublicPerIP)},
	}
}

func (c *Config) validatePAR(bad func(setting, format string, args ...any)) {
	if c.PAR.RequestURITTL < 5*time.Second || c.PAR.RequestURITTL > 10*time.Minute {
		bad("par.request_uri_ttl", "must be from 5s to 10m, not %v", c.PAR.RequestURITTL)
	}
	if c.PAR.PublicPerIP < 0 {
		bad("par.public_per_ip", "must not be negative")
	}
}
