package identity

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"unicode/utf8"

	"filippo.io/edwards25519"
)

// ErrWeakKey is wrapped (together with ErrIDKey) by every error that
// refuses a public key whose encoding is not canonical or whose point has
// small order. For such keys a signature can verify without anyone knowing
// a private key: for the identity point, R = identity and S = 0 verify
// every message.
var ErrWeakKey = errors.New("weak ed25519 public key")

var identityPoint = edwards25519.NewIdentityPoint()

// CheckKey reports whether key may be used as an identity's public key. It
// accepts exactly the 32-byte strings that are the canonical RFC 8032
// encoding (y < p; sign bit 0 when x = 0) of a curve point whose order is
// not small (the point times the cofactor 8 is not the identity). Every
// key ed25519 key generation makes passes. Errors wrap ErrIDKey, and
// ErrWeakKey for non-canonical and small-order keys.
func CheckKey(key []byte) error {
	if len(key) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: %d bytes, want %d", ErrIDKey, len(key), ed25519.PublicKeySize)
	}
	if allZero(key) {
		return fmt.Errorf("%w: the all-zero key", ErrIDKey)
	}
	p, err := new(edwards25519.Point).SetBytes(key)
	if err != nil {
		return fmt.Errorf("%w: not a point on the curve", ErrIDKey)
	}
	// SetBytes also accepts y >= p and x = 0 with the sign bit set; the
	// canonical encoding of the point it decoded differs from such input.
	if !bytes.Equal(p.Bytes(), key) {
		return fmt.Errorf("%w: %w: non-canonical encoding", ErrIDKey, ErrWeakKey)
	}
	if new(edwards25519.Point).MultByCofactor(p).Equal(identityPoint) == 1 {
		return fmt.Errorf("%w: %w: a point of small order (anyone can make signatures that verify)", ErrIDKey, ErrWeakKey)
	}
	return nil
}

// Check reports whether id is a usable identity (see [CheckKey]).
func (id ID) Check() error { return CheckKey(id[:]) }

func allZero(b []byte) bool {
	var acc byte
	for _, c := range b {
		acc |= c
	}
	return acc == 0
}

// checkASCII refuses the first character of s that is not ASCII, naming
// it: only ASCII letters are folded to one case, so that no other
// character (such as U+017F, U+0131 or the Kelvin sign U+212A, which
// Unicode case folding maps to s, i and k) can stand in for one.
func checkASCII(s string) error {
	for i, r := range s {
		if r < utf8.RuneSelf {
			continue
		}
		if r == utf8.RuneError {
			return fmt.Errorf("%w: byte %#02x at offset %d is not ASCII (invalid UTF-8)", ErrIDCharacter, s[i], i)
		}
		return fmt.Errorf("%w: %q (U+%04X) at offset %d is not ASCII", ErrIDCharacter, r, r, i)
	}
	return nil
}

// asciiLower lower-cases ASCII letters only.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
