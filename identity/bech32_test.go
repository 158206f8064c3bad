package identity

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

// Valid and invalid bech32m strings from BIP 350's test vectors.
func TestBech32mVectors(t *testing.T) {
	t.Parallel()
	valid := []string{
		"A1LQFN3A",
		"a1lqfn3a",
		"an83characterlonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11sg7hg6",
		"abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx",
		"11llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllludsr8",
		"split1checkupstagehandshakeupstreamerranterredcaperredlc445v",
		"?1v759aa",
	}
	for _, s := range valid {
		if _, _, err := bech32mDecodeValues(strings.ToLower(s)); err != nil {
			t.Errorf("valid vector %q rejected: %v", s, err)
		}
	}
	invalid := []string{
		"qyrz8wqd2c9m",  // no separator
		"1qyrz8wqd2c9m", // empty hrp
		"y1b0jsk6g",     // invalid data character
		"lt1igcx5c0",    // invalid data character
		"in1muywd",      // too short checksum
		"mm1crxm3i",     // invalid character in checksum
		"au1s5cgom",     // invalid character in checksum
		"16plkw9",       // empty hrp
		"1p2gdwpf",      // empty hrp
		"abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw", // bech32 (not m) checksum
	}
	for _, s := range invalid {
		if _, _, err := bech32mDecodeValues(strings.ToLower(s)); err == nil {
			t.Errorf("invalid vector %q accepted", s)
		}
	}
}

// bech32mDecodeValues checks only the checksum, as BIP 350's vectors have
// data parts that are not whole bytes.
func bech32mDecodeValues(s string) (string, []byte, error) {
	_, _, err := bech32mDecode(s)
	if err == errBech32Padding {
		err = nil
	}
	return "", nil, err
}

func TestBech32mRoundTrip(t *testing.T) {
	t.Parallel()
	for n := range 40 {
		data := bytes.Repeat([]byte{byte(n * 37)}, n)
		s := bech32mEncode("x", data)
		hrp, got, err := bech32mDecode(s)
		if err != nil || hrp != "x" || !bytes.Equal(got, data) {
			t.Fatalf("round trip of %s: %q %x %v", hex.EncodeToString(data), hrp, got, err)
		}
	}
}
