package cpace

import (
	"crypto/ecdh"
	"crypto/rand"
	"testing"
)

// BenchmarkCPace is one full exchange: both parties' New and Finish.
func BenchmarkCPace(b *testing.B) {
	prs, ci, sid := []byte("42-adroitness-aardvark-adviser"), []byte("sp2p"), []byte("0123456789abcdef")
	for b.Loop() {
		a, err := New(Initiator, prs, ci, sid, []byte("alice"))
		if err != nil {
			b.Fatal(err)
		}
		r, err := New(Responder, prs, ci, sid, []byte("bob"))
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := r.Finish(a.Message()); err != nil {
			b.Fatal(err)
		}
		if _, _, err := a.Finish(r.Message()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkX25519Baseline is the raw baseline for BenchmarkCPace: an
// unauthenticated ephemeral X25519 exchange (two key generations, two
// Diffie-Hellman operations) with the standard library.
func BenchmarkX25519Baseline(b *testing.B) {
	for b.Loop() {
		ka, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		kb, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ka.ECDH(kb.PublicKey()); err != nil {
			b.Fatal(err)
		}
		if _, err := kb.ECDH(ka.PublicKey()); err != nil {
			b.Fatal(err)
		}
	}
}
