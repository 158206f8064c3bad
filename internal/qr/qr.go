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

// Terminal draws text as a QR code with Unicode half blocks, two modules
// per character cell, for a terminal with a dark background.
func Terminal(text string) (string, error) {
	q, err := qrcode.New(text, Level)
	if err != nil {
		return "", fmt.Errorf("qr: %w", err)
	}
	return q.ToSmallString(false), nil
}

// PNG renders text as a PNG image with a whole number of pixels per
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
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoCode, err)
	}
	reader := zxqr.NewQRCodeReader()
	// A generated image decodes best as a pure barcode; a photo needs the
	// full detector.
	for _, hints := range []map[gozxing.DecodeHintType]any{
		{gozxing.DecodeHintType_PURE_BARCODE: true},
		{gozxing.DecodeHintType_TRY_HARDER: true},
	} {
		if res, err := reader.Decode(bmp, hints); err == nil {
			return res.GetText(), nil
		}
	}
	return "", ErrNoCode
}
