package identity

// This file implements the bech32m checksummed encoding of BIP 350, which
// the public ID text form uses. The BCH code behind it detects every error
// that touches at most four characters of a string of up to 89 characters, so
// every single-character typo and every swap of two neighbouring characters
// in an ID is caught.

import (
	"errors"
	"strings"
)

const (
	bech32Charset  = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
	bech32mConst   = 0x2bc830a3
	bech32Checksum = 6 // characters
)

var bech32Rev = func() (t [128]int8) {
	for i := range t {
		t[i] = -1
	}
	for i, c := range bech32Charset {
		t[c] = int8(i)
	}
	return t
}()

func bech32Polymod(values []byte) uint32 {
	gen := [5]uint32{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}
	chk := uint32(1)
	for _, v := range values {
		top := chk >> 25
		chk = (chk&0x1ffffff)<<5 ^ uint32(v)
		for i := range 5 {
			if (top>>i)&1 == 1 {
				chk ^= gen[i]
			}
		}
	}
	return chk
}

func hrpExpand(hrp string) []byte {
	out := make([]byte, 0, 2*len(hrp)+1)
	for i := 0; i < len(hrp); i++ {
		out = append(out, hrp[i]>>5)
	}
	out = append(out, 0)
	for i := 0; i < len(hrp); i++ {
		out = append(out, hrp[i]&31)
	}
	return out
}

// convertBits regroups a bit stream from fromBits-bit groups to toBits-bit
// groups. When pad is false (decoding), leftover bits must be fewer than
// fromBits and all zero, so every value has exactly one encoding.
func convertBits(data []byte, fromBits, toBits uint, pad bool) ([]byte, bool) {
	var acc uint32
	var bits uint
	maxv := uint32(1)<<toBits - 1
	out := make([]byte, 0, len(data)*int(fromBits)/int(toBits)+1)
	for _, v := range data {
		if uint32(v)>>fromBits != 0 {
			return nil, false
		}
		acc = acc<<fromBits | uint32(v)
		bits += fromBits
		for bits >= toBits {
			bits -= toBits
			out = append(out, byte(acc>>bits&maxv))
		}
	}
	if pad {
		if bits > 0 {
			out = append(out, byte(acc<<(toBits-bits)&maxv))
		}
	} else if bits >= fromBits || acc<<(toBits-bits)&maxv != 0 {
		return nil, false
	}
	return out, true
}

// bech32mEncode returns the lower-case bech32m string of data under hrp.
func bech32mEncode(hrp string, data []byte) string {
	values, _ := convertBits(data, 8, 5, true)
	check := append(hrpExpand(hrp), values...)
	check = append(check, make([]byte, bech32Checksum)...)
	mod := bech32Polymod(check) ^ bech32mConst
	var b strings.Builder
	b.Grow(len(hrp) + 1 + len(values) + bech32Checksum)
	b.WriteString(hrp)
	b.WriteByte('1')
	for _, v := range values {
		b.WriteByte(bech32Charset[v])
	}
	for i := range bech32Checksum {
		b.WriteByte(bech32Charset[(mod>>(5*(5-i)))&31])
	}
	return b.String()
}

var (
	errBech32Separator = errors.New("missing the '1' separator")
	errBech32Char      = errors.New("character outside the ID alphabet")
	errBech32Checksum  = errors.New("bad checksum")
	errBech32Padding   = errors.New("non-canonical padding bits")
)

// bech32mDecode splits a lower-case bech32m string into its human-readable
// part and data bytes, verifying the checksum. The caller lower-cases and
// bounds the input first.
func bech32mDecode(s string) (hrp string, data []byte, err error) {
	sep := strings.LastIndexByte(s, '1')
	if sep < 1 || sep+1+bech32Checksum > len(s) {
		return "", nil, errBech32Separator
	}
	hrp = s[:sep]
	values := make([]byte, 0, len(s)-sep-1)
	for i := sep + 1; i < len(s); i++ {
		c := s[i]
		if c >= 128 || bech32Rev[c] < 0 {
			return "", nil, errBech32Char
		}
		values = append(values, byte(bech32Rev[c]))
	}
	if bech32Polymod(append(hrpExpand(hrp), values...)) != bech32mConst {
		return "", nil, errBech32Checksum
	}
	data, ok := convertBits(values[:len(values)-bech32Checksum], 5, 8, false)
	if !ok {
		return "", nil, errBech32Padding
	}
	return hrp, data, nil
}
