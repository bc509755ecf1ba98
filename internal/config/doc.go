// Package config is oauth2d's configuration: one Config struct with safe
// defaults, loaded in layers (defaults → YAML file → OAUTH2D_* environment
// variables → command-line flags) and checked by Validate, which reports
// every bad setting at once, each error naming its setting.
//
// Secrets are never read from the YAML file or from flags: the signing-key
// encryption key comes only from OAUTH2D_KEY_ENCRYPTION_KEY or from the
// file named by keys.encryption_key_file.
//
// The HTTPS posture follows RFC 8252 §7.3 and RFC 9700 §2.6 (DESIGN.md §8):
// an http issuer is accepted only on a loopback host; everything else must
// be https. The token lifetimes follow RFC 6749 §4.1.2 (codes live at most
// ten minutes) and RFC 9700 §4.14.2 (rotating refresh tokens with a bounded
// lifetime).
package config
