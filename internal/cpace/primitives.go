package cpace

import (
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"fmt"

	"github.com/gtank/ristretto255"
)

// This file is the whole of the draft's cryptographic glue for
// CPACE-RISTR255-SHA512; the names follow the draft.

// prependLen returns LEB128(len(data)) || data, appended to dst.
func prependLen(dst, data []byte) []byte {
	n := uint64(len(data))
	for n >= 0x80 {
		dst = append(dst, byte(n)|0x80)
		n >>= 7
	}
	dst = append(dst, byte(n))
	return append(dst, data...)
}

// lvCat is the draft's lv_cat: the concatenation of prepend_len of each
// argument.
func lvCat(args ...[]byte) []byte {
	var out []byte
	for _, a := range args {
		out = prependLen(out, a)
	}
	return out
}

// generatorString is the draft's generator_string(DSI, PRS, CI, sid,
// s_in_bytes): lv_cat(DSI, PRS, zero_bytes(len_zpad), CI, sid) with
// len_zpad = max(0, s_in_bytes - 1 - len(prepend_len(PRS)) -
// len(prepend_len(DSI))).
func generatorString(dsi, prs, ci, sid []byte, sInBytes int) []byte {
	zpad := sInBytes - 1 - len(prependLen(nil, prs)) - len(prependLen(nil, dsi))
	zpad = max(zpad, 0)
	return lvCat(dsi, prs, make([]byte, zpad), ci, sid)
}

// generatorHash returns H.hash(generator_string(...), 2*field_size_bytes),
// the 64 bytes that element derivation maps to the generator.
func generatorHash(prs, ci, sid []byte) [sha512.Size]byte {
	gs := generatorString([]byte(dsi), prs, ci, sid, hashBlockSize)
	h := sha512.Sum512(gs)
	clear(gs) // it holds PRS
	return h
}

// calculateGenerator is G.calculate_generator(H, PRS, CI, sid): the
// ristretto255 element derivation (one-way map) of the generator hash.
func calculateGenerator(prs, ci, sid []byte) *ristretto255.Element {
	h := generatorHash(prs, ci, sid)
	g := ristretto255.NewElement().FromUniformBytes(h[:])
	clear(h[:])
	return g
}

// sampleScalar is G.sample_scalar() as the draft recommends: 32 random
// bytes with the bits above group_size_bits (252) cleared, read as a
// little-endian integer. Such a value is below the group order, so it is
// canonical. Zero, which has probability 2^-252, is drawn again.
func sampleScalar() (*ristretto255.Scalar, error) {
	var b [32]byte
	defer clear(b[:])
	y := ristretto255.NewScalar()
	zero := ristretto255.NewScalar()
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("cpace: sampling a scalar: %w", err)
		}
		b[31] &= 0x0f
		if err := y.Decode(b[:]); err != nil {
			// Unreachable: a value below 2^252 is canonical.
			return nil, fmt.Errorf("cpace: sampling a scalar: %w", err)
		}
		if y.Equal(zero) == 0 {
			return y, nil
		}
	}
}

// identity is G.I, the encoding of the neutral element.
var identity [ElementSize]byte

// scalarMultVfy is G.scalar_mult_vfy(y, X) followed by the draft's abort
// check: it returns K = encode(y * decode(X)), or fails (wrapping
// ErrInvalidPeerMessage) if X does not decode or K is G.I. The caller
// erases K.
func scalarMultVfy(y *ristretto255.Scalar, X []byte) (K [ElementSize]byte, err error) {
	p := ristretto255.NewElement()
	if err := p.Decode(X); err != nil {
		return K, fmt.Errorf("%w: its element is not a canonical ristretto255 encoding", ErrInvalidPeerMessage)
	}
	k := ristretto255.NewElement().ScalarMult(y, p)
	k.Encode(K[:0])
	k.Zero()
	if subtle.ConstantTimeCompare(K[:], identity[:]) == 1 {
		return K, fmt.Errorf("%w: its element gives the identity element", ErrInvalidPeerMessage)
	}
	return K, nil
}

// transcriptIR is the draft's transcript_ir(Ya, ADa, Yb, ADb) =
// lv_cat(Ya, ADa) || lv_cat(Yb, ADb), which is MSGa || MSGb.
func transcriptIR(ya, ada, yb, adb []byte) []byte {
	return append(lvCat(ya, ada), lvCat(yb, adb)...)
}

// iskInput is lv_cat(G.DSI || b"_ISK", sid, K) || transcript.
func iskInput(sid, K, transcript []byte) []byte {
	return append(lvCat([]byte(dsiISK), sid, K), transcript...)
}

// deriveISK is ISK = H.hash(lv_cat(G.DSI || b"_ISK", sid, K) ||
// transcript).
func deriveISK(sid, K, transcript []byte) []byte {
	in := iskInput(sid, K, transcript)
	isk := sha512.Sum512(in)
	clear(in) // it holds K
	return isk[:]
}
