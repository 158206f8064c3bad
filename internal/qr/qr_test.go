package qr

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/png"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"

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
	conn := invite.ConnDesc{ICEUfrag: "abcdefgh", ICEPwd: "abcdefghijklmnopqrstuv", Role: invite.RoleActPass,
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
	if s, err := Terminal("SP2P:ABC"); err != nil || !strings.Contains(s, "█") {
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
