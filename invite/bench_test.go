package invite

import (
	"testing"

	"github.com/sp2p/sp2p/internal/qr"
)

// BenchmarkOfferToken measures creating, encoding and parsing an offer
// with two IPv4 host candidates, and reports its size: text characters,
// bytes, and QR version at level M (custom metrics in the output).
func BenchmarkOfferToken(b *testing.B) {
	alice := ident(b, 1)
	conn := testConn(RoleActPass, "192.168.1.20", "10.0.0.5")
	var text string
	var size int
	b.Run("create", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			o, err := NewOffer(alice, OfferParams{Conn: conn})
			if err != nil {
				b.Fatal(err)
			}
			text, size = o.Text(), len(o.Bytes())
		}
		version, err := qr.Version(text)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(text)), "chars")
		b.ReportMetric(float64(size), "bytes")
		b.ReportMetric(float64(version), "qr-version")
	})
	b.Run("parse+verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			o, err := ParseOffer(text)
			if err != nil {
				b.Fatal(err)
			}
			if err := o.Verify(VerifyOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
