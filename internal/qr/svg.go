package qr

import (
	"fmt"
	"strconv"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// SVG renders text as a QR code in SVG markup, at the same error-correction
// level as the PNG and terminal forms: dark modules on white, the standard
// four-module quiet zone, one unit per module (the viewBox), so the image
// scales to any size without blurring. Each row's runs of dark modules are
// one rectangle of a single path, which keeps the markup small.
func SVG(text string) (string, error) {
	q, err := qrcode.New(text, Level)
	if err != nil {
		return "", fmt.Errorf("qr: %w", err)
	}
	bm := q.Bitmap() // true: a dark module; includes the quiet zone
	n := strconv.Itoa(len(bm))
	var b strings.Builder
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ` + n + ` ` + n + `" shape-rendering="crispEdges">`)
	b.WriteString(`<rect width="` + n + `" height="` + n + `" fill="#fff"/><path fill="#000" d="`)
	for y, row := range bm {
		for x := 0; x < len(row); {
			if !row[x] {
				x++
				continue
			}
			run := 1
			for x+run < len(row) && row[x+run] {
				run++
			}
			fmt.Fprintf(&b, "M%d %dh%dv1h-%dz", x, y, run, run)
			x += run
		}
	}
	b.WriteString(`"/></svg>`)
	return b.String(), nil
}
