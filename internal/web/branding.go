package web

import (
	"fmt"
	"html/template"
	"regexp"
	"strconv"
)

// DefaultProductName is what the pages are headed with when Branding
// names no product.
const DefaultProductName = "oauth2d"

// Branding is the operator's name, logo and colour on every page
// (config.Branding, validated there).
type Branding struct {
	ProductName string
	// LogoURL replaces the name at the top of the page with an image whose
	// alt text is the name; its origin is added to the CSP's img-src.
	LogoURL string
	// AccentColor is #rrggbb or "" for the stylesheet's own.
	AccentColor string
}

var accentColor = regexp.MustCompile(`^#[0-9A-Fa-f]{6}$`)

// brandFuncs give every template {{brand}}, so the layout reads the
// branding without each page's data carrying it.
func brandFuncs(b Branding) template.FuncMap {
	return template.FuncMap{"brand": func() Branding { return b }}
}

// accentRule is appended to the served stylesheet: the colour reaches the
// pages as a CSS custom property, so they keep having no inline style
// (style-src 'self'). The hover shade is the colour at four fifths.
func accentRule(color string) ([]byte, error) {
	if color == "" {
		return nil, nil
	}
	if !accentColor.MatchString(color) {
		return nil, fmt.Errorf("web: accent colour %q is not #rrggbb", color)
	}
	rgb, _ := strconv.ParseUint(color[1:], 16, 32)
	darker := func(shift uint) uint64 { return (rgb >> shift & 0xff) * 4 / 5 }
	return fmt.Appendf(nil, "\n/* branding.accent_color */\n:root { --accent: %s; --accent-hover: #%02x%02x%02x; }\n",
		color, darker(16), darker(8), darker(0)), nil
}
