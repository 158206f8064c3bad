package qr

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/invite"
)

// newTokens returns the text forms of a real offer and its answer.
func newTokens(t *testing.T, n byte) []string {
	t.Helper()
	alice, err := identity.FromSeed(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	bob, _ := identity.FromSeed(bytes.Repeat([]byte{2}, 32))
	conn := invite.ConnDesc{Role: invite.RoleActPass, // ICE credentials: derived from the ephemeral key
		Candidates: []invite.Candidate{{Type: invite.Host, Addr: netip.MustParseAddrPort("192.168.1.20:50000")}}}
	conn.Fingerprint[0] = n
	o, err := invite.NewOffer(alice, invite.OfferParams{Conn: conn, Ephemeral: [32]byte{n + 1}})
	if err != nil {
		t.Fatal(err)
	}
	aconn := conn
	aconn.Role = invite.RoleActive
	a, err := invite.NewAnswer(bob, o, invite.AnswerParams{Conn: aconn, Ephemeral: [32]byte{n + 2}})
	if err != nil {
		t.Fatal(err)
	}
	return []string{o.Text(), a.Text()}
}

// decodeQR reads a PNG with an independent decoder (gozxing), using the
// PURE_BARCODE hint that suits a generated image.
func decodeQR(t testing.TB, pngBytes []byte) string {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(pngBytes))
	if err != nil {
		t.Fatal(err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := zxqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true})
	if err != nil {
		t.Fatalf("QR decode: %v", err)
	}
	return res.GetText()
}

func TestQRScannable(t *testing.T) {
	t.Parallel()
	for i := range 10 {
		s := newTokens(t, byte(i))
		for _, text := range s {
			img, err := PNG(text, 4)
			if err != nil {
				t.Fatal(err)
			}
			got := decodeQR(t, img)
			if got != text {
				t.Fatalf("QR decoded to %q, want %q", got, text)
			}
			if got, err := ReadImage(bytes.NewReader(img)); err != nil || got != text {
				t.Fatalf("ReadImage: %q %v", got, err)
			}
			if _, _, err := invite.Decode(got); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := ReadImage(strings.NewReader("not an image")); !errors.Is(err, ErrNoCode) {
		t.Fatalf("ReadImage of text: %v", err)
	}
	// A PNG that claims to be 100,000 pixels square is refused from its
	// header, before any pixel is decoded.
	huge := image.NewGray(image.Rect(0, 0, 1, 1))
	var hb bytes.Buffer
	png.Encode(&hb, huge)
	hdr := hb.Bytes()
	binary.BigEndian.PutUint32(hdr[16:], 100_000)
	binary.BigEndian.PutUint32(hdr[20:], 100_000)
	binary.BigEndian.PutUint32(hdr[29:], crc32.ChecksumIEEE(hdr[12:29])) // IHDR's CRC
	if _, err := ReadImage(bytes.NewReader(hdr)); !errors.Is(err, ErrLimit) {
		t.Fatalf("huge image: %v", err)
	}
	blank, _ := PNG("x", 1)
	if _, err := ReadImage(bytes.NewReader(blank[:len(blank)/2])); err == nil {
		t.Fatal("truncated PNG decoded")
	}
	if s, err := Terminal("SP2P:ABC", ForLightTerminal); err != nil || !strings.Contains(s, "█") {
		t.Fatalf("terminal QR: %v", err)
	}
}

// A QR image file is refused from its size before it is read.
func TestQRImageFileSizeChecked(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "big.png")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(2 << 30); err != nil {
		t.Skip(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = ReadImage(f)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrLimit) {
		t.Fatalf("2 GiB image: %v", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("allocated %d bytes to refuse it", grew)
	}
}

// Token sizes in QR versions: an offer with two host candidates fits
// version 13 at medium error correction (invite: TestTokenSize logs the
// figures with real pion output).
func TestVersion(t *testing.T) {
	t.Parallel()
	for _, text := range newTokens(t, 0) {
		v, err := Version(text)
		if err != nil || v < 1 || v > 13 {
			t.Fatalf("%d characters: QR version %d, %v", len(text), v, err)
		}
	}
	if _, err := Version(strings.Repeat("A", 5000)); err == nil {
		t.Fatal("5000 characters fit a QR code")
	}
}

// Each terminal style draws exactly the code's modules: read back, cell by
// cell, the drawing gives the QR bitmap (quiet zone included), so the code
// scans on a light terminal, a dark one, and (with colors) any.
func TestTerminalStyles(t *testing.T) {
	t.Parallel()
	text := newTokens(t, 3)[0]
	q, err := qrcode.New(text, Level)
	if err != nil {
		t.Fatal(err)
	}
	want := q.Bitmap()
	for _, style := range []Style{Colors, ForDarkTerminal, ForLightTerminal} {
		out, err := Terminal(text, style)
		if err != nil {
			t.Fatal(err)
		}
		got := readTerminal(t, out, style)
		if len(got) < len(want) {
			t.Fatalf("style %d: %d rows, want %d", style, len(got), len(want))
		}
		for y := range want {
			for x := range want[y] {
				if got[y][x] != want[y][x] {
					t.Fatalf("style %d: module (%d,%d) is %v, want %v", style, x, y, got[y][x], want[y][x])
				}
			}
		}
	}
}

// readTerminal turns a drawing back into modules (true: dark).
func readTerminal(t *testing.T, out string, style Style) [][]bool {
	t.Helper()
	var rows [][]bool
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var top, bottom []bool
		if style == Colors {
			for _, cell := range strings.Split(line, "\x1b[")[1:] {
				if cell == "0m" {
					continue
				}
				var fg, bg int
				if _, err := fmt.Sscanf(cell, "%d;%dm▀", &fg, &bg); err != nil {
					t.Fatalf("cell %q: %v", cell, err)
				}
				top, bottom = append(top, fg == 30), append(bottom, bg == 40)
			}
		} else {
			for _, r := range line {
				drawnTop, drawnBottom := r == '▀' || r == '█', r == '▄' || r == '█'
				if style == ForDarkTerminal { // drawn cells are the light ones
					drawnTop, drawnBottom = !drawnTop, !drawnBottom
				}
				top, bottom = append(top, drawnTop), append(bottom, drawnBottom)
			}
		}
		rows = append(rows, top, bottom)
	}
	return rows
}

// An inverted image (light modules on dark, as photographed off a dark
// terminal) decodes too.
func TestReadInverted(t *testing.T) {
	t.Parallel()
	text := newTokens(t, 4)[0]
	img, err := PNG(text, 4)
	if err != nil {
		t.Fatal(err)
	}
	src, err := png.Decode(bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	inv := image.NewGray(src.Bounds())
	for y := src.Bounds().Min.Y; y < src.Bounds().Max.Y; y++ {
		for x := src.Bounds().Min.X; x < src.Bounds().Max.X; x++ {
			g := color.GrayModel.Convert(src.At(x, y)).(color.Gray)
			inv.SetGray(x, y, color.Gray{Y: 255 - g.Y})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, inv); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadImage(bytes.NewReader(b.Bytes())); err != nil || got != text {
		t.Fatalf("inverted image: %q, %v", got, err)
	}
}
