// Package qr draws sp2p's tokens as QR codes (for a terminal, or as PNG)
// and reads them back from images (screenshots, photos), bounded. It lives
// apart from invite so that a program using sessions does not pull in QR
// and image decoders: only the CLI (and the browser page) need it.
package qr

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // photos of tokens
	_ "image/png"
	"io"
	"io/fs"
	"strings"

	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"
	qrcode "github.com/skip2/go-qrcode"
)

// Level is the error-correction level of sp2p's QR codes: medium (15%),
// a balance between density and robustness to a glare on a phone screen.
const Level = qrcode.Medium

// Version returns the QR version (1 to 40) that text needs at Level.
func Version(text string) (int, error) {
	q, err := qrcode.New(text, Level)
	if err != nil {
		return 0, fmt.Errorf("qr: %w", err)
	}
	return q.VersionNumber, nil
}

// Style is how Terminal draws a QR code.
type Style int

// Terminal styles.
const (
	// Colors draws dark modules on a light background with ANSI colors,
	// so the code scans whatever the terminal's own colors are.
	Colors Style = iota
	// ForDarkTerminal draws without colors, for light text on a dark
	// background.
	ForDarkTerminal
	// ForLightTerminal draws without colors, for dark text on a light
	// background.
	ForLightTerminal
)

// Terminal draws text as a QR code with Unicode half blocks, two modules
// per character cell, with the standard four-module quiet zone, in the
// given style.
func Terminal(text string, style Style) (string, error) {
	q, err := qrcode.New(text, Level)
	if err != nil {
		return "", fmt.Errorf("qr: %w", err)
	}
	bm := q.Bitmap() // true: a dark module; includes the quiet zone
	var b strings.Builder
	for y := 0; y < len(bm); y += 2 {
		if style == Colors {
			b.WriteString("\x1b[0m")
		}
		for x := range bm[y] {
			top := bm[y][x]
			bottom := y+1 < len(bm) && bm[y+1][x]
			switch style {
			case Colors:
				// ▀: the upper half in the foreground color, the lower in
				// the background color; black is 30/40, white 97/107.
				fg, bg := "97", "107"
				if top {
					fg = "30"
				}
				if bottom {
					bg = "40"
				}
				b.WriteString("\x1b[" + fg + ";" + bg + "m▀")
			default:
				// Without colors a drawn half block is in the terminal's
				// text color: dark modules are drawn on a light terminal,
				// light ones on a dark terminal.
				drawTop, drawBottom := top, bottom
				if style == ForDarkTerminal {
					drawTop, drawBottom = !top, !bottom
				}
				b.WriteString(halfBlocks[btoi(drawTop)<<1|btoi(drawBottom)])
			}
		}
		if style == Colors {
			b.WriteString("\x1b[0m")
		}
		b.WriteByte('\n')
	}
	return b.String(), nil
}

// halfBlocks draws (top, bottom) as one character cell.
var halfBlocks = [4]string{" ", "▄", "▀", "█"}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// PNG renders text as a PNG image, dark modules on white, with a whole number of pixels per
// module (which scanners decode more reliably than a scaled image) and the
// standard four-module quiet zone.
func PNG(text string, pixelsPerModule int) ([]byte, error) {
	if pixelsPerModule < 1 || pixelsPerModule > 64 {
		return nil, fmt.Errorf("qr: pixels per module %d out of range 1..64", pixelsPerModule)
	}
	q, err := qrcode.New(text, Level)
	if err != nil {
		return nil, fmt.Errorf("qr: %w", err)
	}
	// A negative size asks go-qrcode for a fixed number of pixels per
	// module.
	return q.PNG(-pixelsPerModule)
}

// Limits of ReadImage.
const (
	MaxImageBytes  = 16 << 20
	MaxImagePixels = 25_000_000 // e.g. 5000 × 5000
)

// Errors of ReadImage.
var (
	// ErrNoCode: the image holds no readable QR code.
	ErrNoCode = errors.New("qr: no readable QR code in the image")
	// ErrLimit: the image is over MaxImageBytes or MaxImagePixels.
	ErrLimit = errors.New("qr: image over the limit")
)

// ReadImage decodes the QR code in a PNG or JPEG image (a screenshot or
// a photo of a token) and returns its text, bounded by MaxImageBytes and
// MaxImagePixels. When r is a file (it has a Stat method), a regular
// file larger than MaxImageBytes is refused from its size, before it is
// read. The text still has to be parsed (invite.ParseOffer).
func ReadImage(r io.Reader) (text string, err error) {
	if f, ok := r.(interface{ Stat() (fs.FileInfo, error) }); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > MaxImageBytes {
			return "", fmt.Errorf("%w: image file of %d bytes, at most %d", ErrLimit, fi.Size(), MaxImageBytes)
		}
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxImageBytes+1))
	if err != nil {
		return "", fmt.Errorf("qr: reading the image: %w", err)
	}
	if len(data) > MaxImageBytes {
		return "", fmt.Errorf("%w: image larger than %d bytes", ErrLimit, MaxImageBytes)
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("%w: not a PNG or JPEG image: %v", ErrNoCode, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > MaxImagePixels {
		return "", fmt.Errorf("%w: image of %d×%d pixels, at most %d pixels", ErrLimit, cfg.Width, cfg.Height, MaxImagePixels)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoCode, err)
	}
	// The QR decoder is third-party code reading untrusted pixels: a
	// panic in it becomes an error, never a crash.
	defer func() {
		if r := recover(); r != nil {
			text, err = "", fmt.Errorf("%w: decoder failure", ErrNoCode)
		}
	}()
	src := gozxing.NewLuminanceSourceFromImage(img)
	reader := zxqr.NewQRCodeReader()
	// Light modules on a dark background (a code photographed off a dark
	// terminal, an inverted screenshot) decode from the inverted image.
	for _, lum := range []gozxing.LuminanceSource{src, gozxing.NewInvertedLuminanceSource(src)} {
		bmp, err := gozxing.NewBinaryBitmap(gozxing.NewHybridBinarizer(lum))
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrNoCode, err)
		}
		// A generated image decodes best as a pure barcode; a photo needs
		// the full detector.
		for _, hints := range []map[gozxing.DecodeHintType]any{
			{gozxing.DecodeHintType_PURE_BARCODE: true},
			{gozxing.DecodeHintType_TRY_HARDER: true},
		} {
			if res, err := reader.Decode(bmp, hints); err == nil {
				return res.GetText(), nil
			}
		}
	}
	return "", ErrNoCode
}
