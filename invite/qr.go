package invite

import (
	"fmt"

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
