package cpace

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
)

// exchange runs one full CPace between an initiator and a responder.
func exchange(t *testing.T, prsA, prsB, ci, sid []byte) (iskA, iskB []byte) {
	t.Helper()
	a, err := New(Initiator, prsA, ci, sid, []byte("alice"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Responder, prsB, ci, sid, []byte("bob"))
	if err != nil {
		t.Fatal(err)
	}
	iskB, adA, err := b.Finish(a.Message())
	if err != nil {
		t.Fatal(err)
	}
	iskA, adB, err := a.Finish(b.Message())
	if err != nil {
		t.Fatal(err)
	}
	if string(adA) != "alice" || string(adB) != "bob" {
		t.Fatalf("associated data: B saw %q, A saw %q", adA, adB)
	}
	if len(iskA) != ISKSize || len(iskB) != ISKSize {
		t.Fatalf("ISK sizes %d, %d", len(iskA), len(iskB))
	}
	return iskA, iskB
}

func TestSamePasswordAgrees(t *testing.T) {
	t.Parallel()
	iskA, iskB := exchange(t, []byte("42-guitarist-revenge"), []byte("42-guitarist-revenge"), []byte("ci"), []byte("sid"))
	if !bytes.Equal(iskA, iskB) {
		t.Fatalf("same PRS, different ISK:\n%x\n%x", iskA, iskB)
	}
	// Fresh scalars: a second run gives a different key.
	again, _ := exchange(t, []byte("42-guitarist-revenge"), []byte("42-guitarist-revenge"), []byte("ci"), []byte("sid"))
	if bytes.Equal(iskA, again) {
		t.Fatal("two runs gave the same ISK")
	}
}

func TestDifferentInputsDisagree(t *testing.T) {
	t.Parallel()
	pw := []byte("42-guitarist-revenge")
	for _, tc := range []struct {
		name               string
		prsB, ciB, sidB    []byte
		prsA, ciA, sidA    []byte
		initiatorADChanged bool
	}{
		{name: "PRS", prsA: pw, prsB: []byte("42-guitarist-revenue")},
		{name: "PRS prefix", prsA: pw, prsB: pw[:len(pw)-1]},
		{name: "CI", prsA: pw, prsB: pw, ciA: []byte("a"), ciB: []byte("b")},
		{name: "sid", prsA: pw, prsB: pw, sidA: []byte("1"), sidB: []byte("2")},
	} {
		a, err := New(Initiator, tc.prsA, tc.ciA, tc.sidA, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := New(Responder, tc.prsB, tc.ciB, tc.sidB, nil)
		if err != nil {
			t.Fatal(err)
		}
		iskB, _, errB := b.Finish(a.Message())
		iskA, _, errA := a.Finish(b.Message())
		if errA != nil || errB != nil {
			t.Fatalf("%s: %v, %v (a wrong password must not be detectable from the messages)", tc.name, errA, errB)
		}
		if bytes.Equal(iskA, iskB) {
			t.Errorf("different %s, same ISK", tc.name)
		}
	}
}

// TestTamperedMessage flips every bit of MSGa and of MSGb in turn: each
// flip makes Finish fail or the two keys differ.
func TestTamperedMessage(t *testing.T) {
	t.Parallel()
	pw := []byte("7-guitarist-revenge-aardvark")
	tmplA, err := New(Initiator, pw, nil, []byte("sid"), []byte("ADa"))
	if err != nil {
		t.Fatal(err)
	}
	tmplB, err := New(Responder, pw, nil, []byte("sid"), []byte("ADb"))
	if err != nil {
		t.Fatal(err)
	}
	for _, flipA := range []bool{true, false} {
		msg := tmplA.Message()
		if !flipA {
			msg = tmplB.Message()
		}
		for bit := range len(msg) * 8 {
			a, b := tmplA.clone(), tmplB.clone()
			bad := bytes.Clone(msg)
			bad[bit/8] ^= 1 << (bit % 8)
			var iskA, iskB []byte
			var errA, errB error
			if flipA {
				iskB, _, errB = b.Finish(bad)
				iskA, _, errA = a.Finish(b.Message())
			} else {
				iskB, _, errB = b.Finish(a.Message())
				iskA, _, errA = a.Finish(bad)
			}
			if errA == nil && errB == nil && bytes.Equal(iskA, iskB) {
				t.Fatalf("flipping bit %d of MSG%s left both keys equal", bit, map[bool]string{true: "a", false: "b"}[flipA])
			}
			for _, err := range []error{errA, errB} {
				if err != nil && !errors.Is(err, ErrInvalidPeerMessage) {
					t.Fatalf("bit %d: %v does not wrap ErrInvalidPeerMessage", bit, err)
				}
			}
		}
	}
}

// clone returns a copy of an unfinished State, so that one generator and
// scalar serve many Finish calls in tests.
func (s *State) clone() *State {
	y := *s.y
	return &State{role: s.role, sid: s.sid, y: &y, ownY: s.ownY, ad: s.ad, msg: s.msg}
}

func TestIdentityRejected(t *testing.T) {
	t.Parallel()
	for _, role := range []Role{Initiator, Responder} {
		st, err := New(role, []byte("pw"), nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		isk, _, err := st.Finish(lvCat(identity[:], nil))
		if !errors.Is(err, ErrInvalidPeerMessage) || !strings.Contains(err.Error(), "identity") || isk != nil {
			t.Fatalf("%v: identity element: isk %x, err %v", role, isk, err)
		}
		// The rejected message ended the run.
		if _, _, err := st.Finish(lvCat(identity[:], nil)); !errors.Is(err, ErrFinished) {
			t.Fatalf("%v: Finish after a rejected message: %v, want ErrFinished", role, err)
		}
	}
}

func TestFinishTwice(t *testing.T) {
	t.Parallel()
	a, err := New(Initiator, []byte("pw"), nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Responder, []byte("pw"), nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Finish(b.Message()); err != nil {
		t.Fatal(err)
	}
	if a.y != nil {
		t.Fatal("scalar still held after Finish")
	}
	isk, ad, err := a.Finish(b.Message())
	if !errors.Is(err, ErrFinished) || isk != nil || ad != nil {
		t.Fatalf("second Finish: isk %x, ad %q, err %v; want ErrFinished", isk, ad, err)
	}
	// Concurrent Finish calls: exactly one wins.
	c, err := New(Initiator, []byte("pw"), nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 8 {
		wg.Go(func() {
			if _, _, err := c.Finish(b.Message()); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d concurrent Finish calls succeeded, want 1", wins)
	}
}

// TestScalarErased checks that Finish zeroes the scalar it held, on success
// and on a rejected message.
func TestScalarErased(t *testing.T) {
	t.Parallel()
	b, err := New(Responder, []byte("pw"), nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, peer := range [][]byte{b.Message(), []byte("short")} {
		a, err := New(Initiator, []byte("pw"), nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		y := a.y
		if bytes.Equal(y.Encode(nil), make([]byte, 32)) {
			t.Fatal("fresh scalar is zero")
		}
		_, _, _ = a.Finish(peer)
		if !bytes.Equal(y.Encode(nil), make([]byte, 32)) {
			t.Fatalf("scalar not erased after Finish(%d bytes)", len(peer))
		}
		a.Erase() // after Finish: nothing left to do, no panic
	}
	// Erase without a peer message.
	c, err := New(Initiator, []byte("pw"), nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	y := c.y
	c.Erase()
	c.Erase()
	if !bytes.Equal(y.Encode(nil), make([]byte, 32)) {
		t.Fatal("scalar not erased by Erase")
	}
	if _, _, err := c.Finish(b.Message()); !errors.Is(err, ErrFinished) {
		t.Fatalf("Finish after Erase: %v, want ErrFinished", err)
	}
}

func TestNewInputs(t *testing.T) {
	t.Parallel()
	if _, err := New(Role(2), []byte("pw"), nil, nil, nil); err == nil {
		t.Error("unknown role accepted")
	}
	if _, err := New(Initiator, []byte("pw"), nil, nil, make([]byte, MaxADSize+1)); err == nil {
		t.Error("AD of MaxADSize+1 bytes accepted")
	}
	st, err := New(Initiator, []byte("pw"), nil, nil, make([]byte, MaxADSize))
	if err != nil {
		t.Fatalf("AD of MaxADSize bytes: %v", err)
	}
	if n := len(st.Message()); n != MaxMessageSize {
		t.Errorf("message with MaxADSize AD is %d bytes, want MaxMessageSize %d", n, MaxMessageSize)
	}
	st, err = New(Responder, nil, nil, nil, nil)
	if err != nil {
		t.Fatalf("empty PRS: %v", err)
	}
	if n := len(st.Message()); n != MinMessageSize {
		t.Errorf("message with empty AD is %d bytes, want MinMessageSize %d", n, MinMessageSize)
	}
	m := st.Message()
	m[0] ^= 0xff
	if bytes.Equal(m, st.Message()) {
		t.Error("Message returns the State's own buffer")
	}
}

// TestDecodeBoundaries walks the message decoder's limits: every length
// around the bounds, the length bytes, and the AD length's encodings.
func TestDecodeBoundaries(t *testing.T) {
	t.Parallel()
	b, err := New(Responder, []byte("pw"), nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	Y := b.ownY
	ad := func(n int) []byte { return bytes.Repeat([]byte{'x'}, n) }
	for _, tc := range []struct {
		name string
		msg  []byte
		ok   bool
	}{
		{"empty", nil, false},
		{"MinMessageSize-1", lvCat(Y, nil)[:MinMessageSize-1], false},
		{"MinMessageSize", lvCat(Y, nil), true},
		{"AD 127 (1-byte length)", lvCat(Y, ad(127)), true},
		{"AD 128 (2-byte length)", lvCat(Y, ad(128)), true},
		{"AD MaxADSize", lvCat(Y, ad(MaxADSize)), true},
		{"AD MaxADSize+1", lvCat(Y, ad(MaxADSize+1)), false},
		{"MaxMessageSize+1", append(lvCat(Y, ad(MaxADSize)), 'x'), false},
		{"trailing byte", append(lvCat(Y, ad(3)), 'x'), false},
		{"missing byte", lvCat(Y, ad(3))[:1+ElementSize+1+2], false},
		{"element length 31", append([]byte{31}, lvCat(Y, nil)[1:]...), false},
		{"element length 33", append([]byte{33}, lvCat(Y, nil)[1:]...), false},
		{"non-minimal length 0", append(append([]byte{ElementSize}, Y...), 0x80, 0x00), false},
		{"non-minimal length 5", append(append(append([]byte{ElementSize}, Y...), 0x85, 0x00), ad(5)...), false},
		{"3-byte length", append(append(append([]byte{ElementSize}, Y...), 0x80, 0x80, 0x01), ad(40)...), false},
		{"cut length", append(append([]byte{ElementSize}, Y...), 0x80), false},
	} {
		a, err := New(Initiator, []byte("pw"), nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		isk, _, err := a.Finish(tc.msg)
		if tc.ok && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if !tc.ok && (!errors.Is(err, ErrInvalidPeerMessage) || isk != nil) {
			t.Errorf("%s: accepted (err %v)", tc.name, err)
		}
	}
}

func TestNonCanonicalElementRejected(t *testing.T) {
	t.Parallel()
	// p = 2^255-19 itself, little-endian: a non-canonical field encoding.
	p := bytes.Repeat([]byte{0xff}, ElementSize)
	p[0], p[31] = 0xed, 0x7f
	// 1 is canonical as a field element but negative for ristretto255.
	one := make([]byte, ElementSize)
	one[0] = 1
	for name, Y := range map[string][]byte{"p": p, "one": one} {
		a, err := New(Initiator, []byte("pw"), nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := a.Finish(lvCat(Y, nil)); !errors.Is(err, ErrInvalidPeerMessage) || !strings.Contains(err.Error(), "canonical") {
			t.Errorf("%s: %v, want a rejected encoding", name, err)
		}
	}
}
