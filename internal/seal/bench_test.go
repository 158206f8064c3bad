package seal

import (
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

var benchSizes = []int{100, 1 << 10, 16 << 10, 64 << 10}

// BenchmarkSeal compares Sealer.Seal with the raw XChaCha20-Poly1305 Seal of
// the same payload (same key, a 24-byte header as associated data) in the
// same run.
func BenchmarkSeal(b *testing.B) {
	for _, n := range benchSizes {
		msg := make([]byte, n)
		buf := make([]byte, 0, n+Overhead)
		b.Run(fmt.Sprintf("raw/%d", n), func(b *testing.B) {
			aead, _ := chacha20poly1305.NewX(make([]byte, KeySize))
			nonce, ad := make([]byte, NonceSize), make([]byte, HeaderSize)
			rand.Read(nonce)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				aead.Seal(buf[:0], nonce, msg, ad)
			}
		})
		b.Run(fmt.Sprintf("sealed/%d", n), func(b *testing.B) {
			p := newPair(b, Config{})
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.oSeal.Seal(buf[:0], TypeData, msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOpen compares Opener.Open (all checks: header, epoch,
// authentication, replay window, timestamp) with the raw Open.
func BenchmarkOpen(b *testing.B) {
	for _, n := range benchSizes {
		msg := make([]byte, n)
		out := make([]byte, 0, n)
		b.Run(fmt.Sprintf("raw/%d", n), func(b *testing.B) {
			aead, _ := chacha20poly1305.NewX(make([]byte, KeySize))
			nonce, ad := make([]byte, NonceSize), make([]byte, HeaderSize)
			rand.Read(nonce)
			ct := aead.Seal(nil, nonce, msg, ad)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := aead.Open(out[:0], nonce, ct, ad); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("sealed/%d", n), func(b *testing.B) {
			// A ring of distinct records, opened in turn; the replay
			// filter is reset each time the ring wraps (once per 64
			// records), the only way to open the same record twice.
			now := time.Now()
			p := newPair(b, Config{Now: func() time.Time { return now }})
			const ring = 64
			recs := make([][]byte, ring)
			for i := range recs {
				recs[i] = mustSeal(b, p.oSeal, TypeData, msg)
			}
			b.SetBytes(int64(n))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if i == ring {
					i = 0
					p.aOpen.filter = replayFilter{}
				}
				if _, _, err := p.aOpen.Open(out[:0], recs[i]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
