package cpace

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/gtank/ristretto255"
)

// vectors is testdata/ristretto255-sha512.json: the draft's own test
// vectors (draft-irtf-cfrg-cpace-21), extracted by
// testdata/extract_vectors.py without computing anything.
type vectors struct {
	Source             string            `json:"source"`
	PrependLen         map[string]string `json:"prepend_len"`
	LvCat              map[string]string `json:"lv_cat"`
	TranscriptIR       map[string]string `json:"transcript_ir"`
	CalculateGenerator map[string]any    `json:"calculate_generator"`
	Exchange           map[string]string `json:"exchange"`
	ScalarMultVfy      struct {
		Valid     map[string]string `json:"Valid"`
		InvalidY1 string            `json:"Invalid Y1"`
		InvalidY2 string            `json:"Invalid Y2"`
	} `json:"scalar_mult_vfy"`
	ISKIR map[string]string `json:"isk_ir"`
}

func loadVectors(tb testing.TB) *vectors {
	tb.Helper()
	b, err := os.ReadFile("testdata/ristretto255-sha512.json")
	if err != nil {
		tb.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		tb.Fatal(err)
	}
	return &v
}

// hx decodes the hex value stored under key, failing if it is missing.
func hx(tb testing.TB, m map[string]string, key string) []byte {
	tb.Helper()
	s, ok := m[key]
	if !ok {
		tb.Fatalf("vector %q missing", key)
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatalf("vector %q: %v", key, err)
	}
	return b
}

func eq(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\n got %x\nwant %x", what, got, want)
	}
}

func TestVectorsStringUtilities(t *testing.T) {
	t.Parallel()
	v := loadVectors(t)
	r127, r128 := make([]byte, 127), make([]byte, 128)
	for i := range r128 {
		r128[i] = byte(i)
	}
	copy(r127, r128)
	eq(t, "prepend_len(b'')", prependLen(nil, nil), hx(t, v.PrependLen, "prepend_len(b'')"))
	eq(t, "prepend_len(b'1234')", prependLen(nil, hx(t, v.PrependLen, "b'1234'")), hx(t, v.PrependLen, "prepend_len(b'1234')"))
	eq(t, "prepend_len(range(127))", prependLen(nil, r127), hx(t, v.PrependLen, "prepend_len(bytes(range(127)))"))
	eq(t, "prepend_len(range(128))", prependLen(nil, r128), hx(t, v.PrependLen, "prepend_len(bytes(range(128)))"))

	eq(t, "lv_cat", lvCat(hx(t, v.LvCat, "b'1234'"), hx(t, v.LvCat, "b'5'"), nil, hx(t, v.LvCat, "b'678'")),
		hx(t, v.LvCat, "lv_cat(b'1234',b'5',b'',b'678')"))

	tr := v.TranscriptIR
	eq(t, "transcript_ir 1", transcriptIR(hx(t, tr, "b'123'"), hx(t, tr, "b'PartyA'"), hx(t, tr, "b'234'"), hx(t, tr, "b'PartyB'")),
		hx(t, tr, "transcript_ir(b'123',b'PartyA',b'234',b'PartyB')"))
	eq(t, "transcript_ir 2", transcriptIR(hx(t, tr, "b'3456'"), hx(t, tr, "b'PartyA'"), hx(t, tr, "b'2345'"), hx(t, tr, "b'PartyB'")),
		hx(t, tr, "transcript_ir(b'3456',b'PartyA',b'2345',b'PartyB')"))
}

func TestVectorsGenerator(t *testing.T) {
	t.Parallel()
	v := loadVectors(t)
	m := map[string]string{}
	for k, val := range v.CalculateGenerator {
		if s, ok := val.(string); ok {
			m[k] = s
		}
	}
	if m["H"] != "SHA-512" || v.CalculateGenerator["H.s_in_bytes"] != float64(hashBlockSize) {
		t.Fatalf("vector is for %v with block size %v", m["H"], v.CalculateGenerator["H.s_in_bytes"])
	}
	prs, ci, sid := hx(t, m, "PRS"), hx(t, m, "CI"), hx(t, m, "sid")
	eq(t, "DSI", []byte(dsi), hx(t, m, "DSI"))
	gs := generatorString([]byte(dsi), prs, ci, sid, hashBlockSize)
	eq(t, "generator_string", gs, hx(t, m, "generator_string(G.DSI,PRS,CI,sid,H.s_in_bytes)"))
	// The ZPAD length sits at gs[1+len(DSI)+1+len(PRS)] as its LEB128 length.
	if zpad := v.CalculateGenerator["ZPAD length"]; float64(gs[1+len(dsi)+1+len(prs)]) != zpad {
		t.Errorf("zero padding length %d, want %v", gs[1+len(dsi)+1+len(prs)], zpad)
	}
	h := generatorHash(prs, ci, sid)
	eq(t, "hash result", h[:], hx(t, m, "hash result"))
	eq(t, "generator g", calculateGenerator(prs, ci, sid).Encode(nil), hx(t, m, "encoded generator g"))
}

// TestVectorsExchange runs both parties with the draft's fixed scalars and
// checks Ya, Yb, K, the ISK hash input and ISK_IR, from both sides.
func TestVectorsExchange(t *testing.T) {
	t.Parallel()
	v := loadVectors(t)
	e := v.Exchange
	prs, ci, sid := hx(t, e, "PRS"), hx(t, e, "CI"), hx(t, e, "sid")
	ada, adb := hx(t, e, "ADa"), hx(t, e, "ADb")
	eq(t, "g", calculateGenerator(prs, ci, sid).Encode(nil), hx(t, e, "g"))

	a, err := newWithScalar(Initiator, prs, ci, sid, ada, hx(t, e, "ya"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := newWithScalar(Responder, prs, ci, sid, adb, hx(t, e, "yb"))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "Ya", a.ownY, hx(t, e, "Ya"))
	eq(t, "Yb", b.ownY, hx(t, e, "Yb"))
	eq(t, "MSGa", a.Message(), lvCat(hx(t, e, "Ya"), ada))
	eq(t, "MSGb", b.Message(), lvCat(hx(t, e, "Yb"), adb))

	// K from both sides, through the same function Finish uses.
	ka, err := scalarMultVfy(scalarOf(t, hx(t, e, "ya")), hx(t, e, "Yb"))
	if err != nil {
		t.Fatal(err)
	}
	kb, err := scalarMultVfy(scalarOf(t, hx(t, e, "yb")), hx(t, e, "Ya"))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "K (A)", ka[:], hx(t, e, "K"))
	eq(t, "K (B)", kb[:], hx(t, e, "K"))

	tr := transcriptIR(a.ownY, ada, b.ownY, adb)
	eq(t, "transcript_ir", tr, hx(t, v.ISKIR, "transcript_ir(Ya,ADa,Yb,ADb)"))
	eq(t, "DSI_ISK", []byte(dsiISK), hx(t, v.ISKIR, "DSI_ISK"))
	eq(t, "ISK input", iskInput(sid, hx(t, e, "K"), tr), hx(t, v.ISKIR, "lv_cat(DSI_ISK,sid,K)||transcript_ir(Ya,ADa,Yb,ADb)"))
	eq(t, "ISK text block", hx(t, v.ISKIR, "ISK"), hx(t, e, "ISK_IR"))

	iskA, gotADb, err := a.Finish(b.Message())
	if err != nil {
		t.Fatal(err)
	}
	iskB, gotADa, err := b.Finish(a.Message())
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "ISK_IR (A)", iskA, hx(t, e, "ISK_IR"))
	eq(t, "ISK_IR (B)", iskB, hx(t, e, "ISK_IR"))
	eq(t, "ADb seen by A", gotADb, adb)
	eq(t, "ADa seen by B", gotADa, ada)
}

func scalarOf(tb testing.TB, b []byte) *ristretto255.Scalar {
	tb.Helper()
	s := ristretto255.NewScalar()
	if err := s.Decode(b); err != nil {
		tb.Fatal(err)
	}
	return s
}

// TestVectorsScalarMultVfy checks the draft's valid case and that both of
// its invalid points (a non-decoding encoding and G.I) abort, both in
// scalar_mult_vfy and inside a protocol run.
func TestVectorsScalarMultVfy(t *testing.T) {
	t.Parallel()
	v := loadVectors(t)
	valid := v.ScalarMultVfy.Valid
	s := scalarOf(t, hx(t, valid, "s"))
	X := hx(t, valid, "X")
	p := ristretto255.NewElement()
	if err := p.Decode(X); err != nil {
		t.Fatal(err)
	}
	eq(t, "scalar_mult(s, decode(X))", ristretto255.NewElement().ScalarMult(s, p).Encode(nil), hx(t, valid, "G.scalar_mult(s,decode(X))"))
	got, err := scalarMultVfy(s, X)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "scalar_mult_vfy(s, X)", got[:], hx(t, valid, "G.scalar_mult_vfy(s,X)"))

	for name, bad := range map[string]string{"Y_i1": v.ScalarMultVfy.InvalidY1, "Y_i2 (G.I)": v.ScalarMultVfy.InvalidY2} {
		Y, err := hex.DecodeString(bad)
		if err != nil || len(Y) != ElementSize {
			t.Fatalf("%s: bad vector", name)
		}
		if _, err := scalarMultVfy(s, Y); !errors.Is(err, ErrInvalidPeerMessage) {
			t.Errorf("scalar_mult_vfy(s, %s) = %v, want an abort", name, err)
		}
		for _, role := range []Role{Initiator, Responder} {
			st, err := New(role, []byte("pw"), nil, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			isk, ad, err := st.Finish(lvCat(Y, []byte("AD")))
			if !errors.Is(err, ErrInvalidPeerMessage) || isk != nil || ad != nil {
				t.Errorf("%v given %s: isk %x, ad %q, err %v; want ErrInvalidPeerMessage", role, name, isk, ad, err)
			}
		}
	}
}
