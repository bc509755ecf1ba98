package web

import (
	"fmt"
	"html/template"
	"strconv"

	"github.com/oauth2d/oauth2d/internal/config"
)

// Branding is the operator's name, logo and colour on every page, as
// configured (config.Branding, validated there): LogoURL replaces the name
// at the top of the page with an image whose alt text is the name, and its
// origin is added to the CSP's img-src; AccentColor is #rrggbb or "" for
// the stylesheet's own; an empty ProductName shows
// config.DefaultProductName.
type Branding = config.Branding

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
	if !config.ValidAccentColor(color) {
		return nil, fmt.Errorf("web: accent colour %q is not #rrggbb", color)
	}
	rgb, _ := strconv.ParseUint(color[1:], 16, 32)
	darker := func(shift uint) uint64 { return (rgb >> shift & 0xff) * 4 / 5 }
	return fmt.Appendf(nil, "\n/* branding.accent_color */\n:root { --accent: %s; --accent-hover: #%02x%02x%02x; }\n",
		color, darker(16), darker(8), darker(0)), nil
}
