package invite

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

// QRLevel is the error-correction level of sp2p's QR codes: medium (15%),
// a balance between density and robustness to a glare on a phone screen.
const QRLevel = qrcode.Medium

// QRVersion returns the QR version (1 to 40) that text needs at QRLevel.
func QRVersion(text string) (int, error) {
	q, err := qrcode.New(text, QRLevel)
	if err != nil {
		return 0, fmt.Errorf("invite: QR code: %w", err)
	}
	return q.VersionNumber, nil
}

// QRTerminal draws text as a QR code with Unicode half blocks, two modules
// per character cell, for a terminal with a dark background.
func QRTerminal(text string) (string, error) {
	q, err := qrcode.New(text, QRLevel)
	if err != nil {
		return "", fmt.Errorf("invite: QR code: %w", err)
	}
	return q.ToSmallString(false), nil
}

// QRPNG renders text as a PNG image with a whole number of pixels per
// module (which scanners decode more reliably than a scaled image) and the
// standard four-module quiet zone.
func QRPNG(text string, pixelsPerModule int) ([]byte, error) {
	if pixelsPerModule < 1 || pixelsPerModule > 64 {
		return nil, fmt.Errorf("invite: QR pixels per module %d out of range 1..64", pixelsPerModule)
	}
	q, err := qrcode.New(text, QRLevel)
	if err != nil {
		return nil, fmt.Errorf("invite: QR code: %w", err)
	}
	// A negative size asks go-qrcode for a fixed number of pixels per
	// module.
	return q.PNG(-pixelsPerModule)
}

// Limits of ReadQRImage.
const (
	MaxQRImageBytes  = 16 << 20
	MaxQRImagePixels = 25_000_000 // e.g. 5000 × 5000
)

// ErrNoQRCode is returned when an image holds no readable QR code.
var ErrNoQRCode = errors.New("invite: no readable QR code in the image")

// ReadQRImage decodes the QR code in a PNG or JPEG image (a screenshot or
// a photo of a token) and returns its text, bounded by MaxQRImageBytes and
// MaxQRImagePixels. When r is a file (it has a Stat method), a regular
// file larger than MaxQRImageBytes is refused from its size, before it is
// read. The text still has to be parsed (ParseOffer).
func ReadQRImage(r io.Reader) (text string, err error) {
	if f, ok := r.(interface{ Stat() (fs.FileInfo, error) }); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > MaxQRImageBytes {
			return "", fmt.Errorf("%w: image file of %d bytes, at most %d", ErrLimit, fi.Size(), MaxQRImageBytes)
		}
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxQRImageBytes+1))
	if err != nil {
		return "", fmt.Errorf("invite: reading the image: %w", err)
	}
	if len(data) > MaxQRImageBytes {
		return "", fmt.Errorf("%w: image larger than %d bytes", ErrLimit, MaxQRImageBytes)
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("%w: not a PNG or JPEG image: %v", ErrNoQRCode, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > MaxQRImagePixels {
		return "", fmt.Errorf("%w: image of %d×%d pixels, at most %d pixels", ErrLimit, cfg.Width, cfg.Height, MaxQRImagePixels)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoQRCode, err)
	}
	// The QR decoder is third-party code reading untrusted pixels: a
	// panic in it becomes an error, never a crash.
	defer func() {
		if r := recover(); r != nil {
			text, err = "", fmt.Errorf("%w: decoder failure", ErrNoQRCode)
		}
	}()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoQRCode, err)
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
	return "", ErrNoQRCode
}
