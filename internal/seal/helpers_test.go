package seal

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"github.com/sp2p/sp2p/internal/testclock"
)

func newClock() *testclock.Clock { return testclock.New() }

// pair derives both sides' keys and returns the offerer's sealer and the
// answerer's opener (plus the reverse direction).
type testPair struct {
	offerer, answerer *Keys
	oSeal             *Sealer
	oOpen             *Opener
	aSeal             *Sealer
	aOpen             *Opener
}

func newPair(t testing.TB, cfg Config) *testPair {
	t.Helper()
	shared := bytes.Repeat([]byte{7}, 32)
	tr := sha256.Sum256([]byte("offer||answer"))
	ko, err := DeriveKeys(shared, tr, Offerer)
	if err != nil {
		t.Fatal(err)
	}
	ka, err := DeriveKeys(shared, tr, Answerer)
	if err != nil {
		t.Fatal(err)
	}
	p := &testPair{offerer: ko, answerer: ka}
	p.oSeal, p.oOpen = New(ko, cfg)
	p.aSeal, p.aOpen = New(ka, cfg)
	return p
}

func mustSeal(t testing.TB, s *Sealer, typ Type, payload []byte) []byte {
	t.Helper()
	rec, err := s.Seal(nil, typ, payload)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}
