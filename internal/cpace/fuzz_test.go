package cpace

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzFinish feeds arbitrary peer messages to a responder holding the
// draft's scalar yb. A message is either rejected with an error wrapping
// ErrInvalidPeerMessage and no outputs, or accepted, in which case it was
// in canonical form (its re-encoding is the input) and gave a 64-byte ISK;
// the draft's MSGa gives the draft's ISK_IR.
func FuzzFinish(f *testing.F) {
	v := loadVectors(f)
	e := v.Exchange
	prs, ci, sid := hx(f, e, "PRS"), hx(f, e, "CI"), hx(f, e, "sid")
	tmpl, err := newWithScalar(Responder, prs, ci, sid, hx(f, e, "ADb"), hx(f, e, "yb"))
	if err != nil {
		f.Fatal(err)
	}
	msgA := lvCat(hx(f, e, "Ya"), hx(f, e, "ADa"))
	wantISK := hx(f, e, "ISK_IR")
	f.Add(msgA)
	f.Add(lvCat(hx(f, e, "Ya"), bytes.Repeat([]byte{'x'}, MaxADSize)))
	f.Add(lvCat(identity[:], nil))
	f.Add(lvCat(hx(f, map[string]string{"Y1": v.ScalarMultVfy.InvalidY1}, "Y1"), nil))
	f.Add(append(append([]byte{ElementSize}, hx(f, e, "Ya")...), 0x80, 0x00))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, msg []byte) {
		st := tmpl.clone()
		isk, ad, err := st.Finish(msg)
		if err != nil {
			if !errors.Is(err, ErrInvalidPeerMessage) || isk != nil || ad != nil {
				t.Fatalf("rejection: isk %x, ad %q, err %v", isk, ad, err)
			}
			return
		}
		if len(isk) != ISKSize || len(ad) > MaxADSize {
			t.Fatalf("ISK %d bytes, AD %d bytes", len(isk), len(ad))
		}
		if !bytes.Equal(lvCat(msg[1:1+ElementSize], ad), msg) {
			t.Fatalf("accepted a non-canonical message %x", msg)
		}
		if bytes.Equal(msg, msgA) && !bytes.Equal(isk, wantISK) {
			t.Fatalf("draft MSGa gave ISK %x, want %x", isk, wantISK)
		}
		if _, _, err := st.Finish(msg); !errors.Is(err, ErrFinished) {
			t.Fatalf("second Finish: %v", err)
		}
	})
}
