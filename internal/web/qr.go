package web

import (
	"fmt"
	"html/template"
	"strings"

	"github.com/boombuler/barcode/qr"
)

// qrSVG draws content as a QR code in inline SVG: the page fetches
// nothing, and the CSP (img-src 'self', no inline style) allows it, as
// an SVG element with presentation attributes is neither an image load
// nor a style. Medium error correction, a four-module quiet zone.
func qrSVG(content string) (template.HTML, error) {
	code, err := qr.Encode(content, qr.M, qr.Auto)
	if err != nil {
		return "", fmt.Errorf("web: qr code: %w", err)
	}
	n := code.Bounds().Dx()
	const quiet = 4
	var path strings.Builder
	for y := range n {
		for x := range n {
			if r, _, _, _ := code.At(x, y).RGBA(); r == 0 {
				fmt.Fprintf(&path, "M%d %dh1v1h-1z", x+quiet, y+quiet)
			}
		}
	}
	size := n + 2*quiet
	// Everything in it is numbers and fixed text: nothing from the
	// request reaches the markup.
	return template.HTML(fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" class="qr" id="totp-qr" role="img" aria-label="QR code of the authenticator secret" viewBox="0 0 %d %d" width="220" height="220" shape-rendering="crispEdges"><rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="%s"/></svg>`,
		size, size, size, size, path.String())), nil
}
