package config

import (
	"net/url"
	"regexp"
	"strings"
	"unicode"
)

// Branding is what the login, consent, account and error pages show of the
// operator instead of oauth2d's own name.
type Branding struct {
	// ProductName heads every page and ends its title.
	ProductName string `yaml:"product_name"`
	// LogoURL is an image shown above the heading; "" shows the name in
	// text. The pages' Content-Security-Policy allows its origin for images.
	LogoURL string `yaml:"logo_url"`
	// AccentColor (#rrggbb) colours the name, buttons and links; "" keeps
	// the built-in blue. It reaches the pages through the stylesheet, never
	// an inline style, which the CSP forbids.
	AccentColor string `yaml:"accent_color"`
}

// maxProductName keeps the heading and the title bar readable.
const maxProductName = 64

// DefaultProductName heads the pages unless branding.product_name says
// otherwise.
const DefaultProductName = "oauth2d"

var accentPattern = regexp.MustCompile(`^#[0-9A-Fa-f]{6}$`)

// ValidAccentColor reports whether c is the #rrggbb that
// branding.accent_color takes.
func ValidAccentColor(c string) bool { return accentPattern.MatchString(c) }

func defaultBranding() Branding { return Branding{ProductName: DefaultProductName} }

func (c *Config) brandingSettings() []setting {
	return []setting{
		{"branding.product_name", "name shown on the login, consent and error pages", (*stringValue)(&c.Branding.ProductName)},
		{"branding.logo_url", "logo image on the pages (https, or http on loopback; \"\" for none)", (*stringValue)(&c.Branding.LogoURL)},
		{"branding.accent_color", "accent colour of the pages, #rrggbb (\"\" for the built-in one)", (*stringValue)(&c.Branding.AccentColor)},
	}
}

func (c *Config) validateBranding(bad func(setting, format string, args ...any)) {
	b := c.Branding
	name := strings.TrimSpace(b.ProductName)
	switch {
	case name == "":
		bad("branding.product_name", "must not be empty")
	case len(b.ProductName) > maxProductName:
		bad("branding.product_name", "must be at most %d bytes", maxProductName)
	case strings.IndexFunc(b.ProductName, unicode.IsControl) >= 0:
		bad("branding.product_name", "must not contain control characters")
	}
	if b.LogoURL != "" {
		u, err := url.Parse(b.LogoURL)
		switch {
		case err != nil || !u.IsAbs() || u.Host == "":
			bad("branding.logo_url", "must be an absolute URL, not %q", b.LogoURL)
		case u.User != nil:
			bad("branding.logo_url", "must not carry user info")
		default:
			if err := CheckHTTPS(u); err != nil {
				bad("branding.logo_url", "%v", err)
			}
		}
	}
	if b.AccentColor != "" && !ValidAccentColor(b.AccentColor) {
		bad("branding.accent_color", "must be #rrggbb (six hex digits), not %q", b.AccentColor)
	}
}
