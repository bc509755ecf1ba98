package config

import (
	"slices"
	"time"
)

// ClientIDMetadata configures Client ID Metadata Documents
// (draft-ietf-oauth-client-id-metadata-document-03): a client_id that is
// an https URL names a JSON document the server fetches, through the
// outbound guard, instead of a registration. Off by default: with it on,
// anyone who can serve a document can act as a (public, third-party,
// unverified) client.
type ClientIDMetadata struct {
	// Enabled accepts https URLs as client ids and advertises
	// client_id_metadata_document_supported.
	Enabled bool `yaml:"enabled"`
	// Scopes are the scopes such a client may have: the document's scope
	// narrows them, never widens them.
	Scopes []string `yaml:"scopes"`
	// MaxBytes bounds a document's body.
	MaxBytes int `yaml:"max_bytes"`
	// Timeout bounds one fetch, connection and body included.
	Timeout time.Duration `yaml:"timeout"`
	// CacheMin and CacheMax clamp how long a fetched document is used
	// (its Cache-Control max-age or Expires; CacheMin without either).
	CacheMin time.Duration `yaml:"cache_min"`
	CacheMax time.Duration `yaml:"cache_max"`
	// CacheEntries bounds the documents one instance keeps in memory.
	CacheEntries int `yaml:"cache_entries"`
	// PerIP bounds, per client address and minute, the lookups that miss
	// the cache and so may fetch; 0 turns it off.
	PerIP int `yaml:"per_ip"`
}

func defaultClientIDMetadata() ClientIDMetadata {
	return ClientIDMetadata{
		Scopes:   []string{"openid", "profile", "email", "offline_access"},
		MaxBytes: 5 << 10, Timeout: 3 * time.Second,
		CacheMin: time.Minute, CacheMax: 24 * time.Hour, CacheEntries: 1000, PerIP: 30,
	}
}

func (c *Config) clientIDMetadataSettings() []setting {
	m := &c.ClientIDMetadata
	return []setting{
		{"client_id_metadata.enabled", "accept https URLs as client ids and fetch their client ID metadata documents", (*boolValue)(&m.Enabled)},
		{"client_id_metadata.scopes", "scopes a metadata-document client may have, comma-separated", (*listValue)(&m.Scopes)},
		{"client_id_metadata.max_bytes", "largest client ID metadata document accepted, in bytes", (*intValue)(&m.MaxBytes)},
		{"client_id_metadata.timeout", "time allowed to fetch one client ID metadata document", (*durationValue)(&m.Timeout)},
		{"client_id_metadata.cache_min", "shortest time a fetched document is used", (*durationValue)(&m.CacheMin)},
		{"client_id_metadata.cache_max", "longest time a fetched document is used", (*durationValue)(&m.CacheMax)},
		{"client_id_metadata.cache_entries", "documents one instance keeps in memory", (*intValue)(&m.CacheEntries)},
		{"client_id_metadata.per_ip", "uncached document lookups per minute per client address (0 = unlimited)", (*intValue)(&m.PerIP)},
	}
}

func (c *Config) validateClientIDMetadata(bad func(setting, format string, args ...any)) {
	m := c.ClientIDMetadata
	if m.MaxBytes < 512 || m.MaxBytes > 64<<10 {
		bad("client_id_metadata.max_bytes", "must be from 512 to 65536, not %d", m.MaxBytes)
	}
	if m.Timeout < 100*time.Millisecond || m.Timeout > 30*time.Second {
		bad("client_id_metadata.timeout", "must be from 100ms to 30s, not %v", m.Timeout)
	}
	if m.CacheMin < time.Second || m.CacheMin > m.CacheMax {
		bad("client_id_metadata.cache_min", "must be at least 1s and at most cache_max, not %v", m.CacheMin)
	}
	if m.CacheMax > 7*24*time.Hour {
		bad("client_id_metadata.cache_max", "must be at most 168h, not %v", m.CacheMax)
	}
	if m.CacheEntries < 1 || m.CacheEntries > 1000000 {
		bad("client_id_metadata.cache_entries", "must be from 1 to 1000000, not %d", m.CacheEntries)
	}
	if m.PerIP < 0 {
		bad("client_id_metadata.per_ip", "must not be negative")
	}
	if m.Enabled && len(m.Scopes) == 0 {
		bad("client_id_metadata.scopes", "must name at least one scope when client_id_metadata.enabled is true")
	}
	for i, s := range m.Scopes {
		switch {
		case s == "" || slices.Contains(m.Scopes[:i], s):
			bad("client_id_metadata.scopes", "%q is empty or listed twice", s)
		case slices.Contains(PrivilegedScopes, s):
			// As for registration.scopes: a client nobody vouched for
			// never holds administrator powers, whoever consents.
			bad("client_id_metadata.scopes", "%q carries administrator powers and cannot go to a metadata-document client", s)
		}
	}
}
