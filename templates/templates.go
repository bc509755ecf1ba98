// Package templates holds oauth2d's HTML pages and their stylesheet,
// embedded so the binary is self-contained. internal/web parses them from
// an fs.FS, so tests can hand it an fstest.MapFS instead.
package templates

import "embed"

// FS holds layout.html, one file per page (and per section of a shared
// page), static/oauth2d.css, static/passkeys.js and static/favicon.png.
//
//go:embed *.html static/oauth2d.css static/favicon.png static/passkeys.js
var FS embed.FS
