package identity

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Specification constants of the public ID text form and the fingerprint.
const (
	// IDPrefix starts every public ID: the bech32m human-readable part
	// "sp2p" followed by bech32's separator "1".
	IDPrefix = idHRP + "1"
	idHRP    = "sp2p"
	// IDLength is the length of an ID in characters: the prefix, 52
	// characters for the 32-byte key and 6 checksum characters.
	IDLength = len(IDPrefix) + (ed25519.PublicKeySize*8+4)/5 + bech32Checksum

	// FingerprintLabel is hashed in front of the public key to make a
	// fingerprint (see SECURITY.md, "Fingerprint").
	FingerprintLabel  = "sp2p v1 fingerprint"
	fingerprintGroups = 6

	maxIDInput = 256 // longest input ParseID looks at, in bytes, white space included
)

// Errors returned by ParseID. Each is wrapped with the detail of what was
// wrong; test for them with errors.Is.
var (
	ErrIDPrefix    = errors.New("wrong prefix")
	ErrIDLength    = errors.New("wrong length")
	ErrIDChecksum  = errors.New("bad checksum")
	ErrIDCharacter = errors.New("character outside the ID alphabet")
	ErrIDKey       = errors.New("not a valid ed25519 public key")
	// ErrWeakKey (see key.go) is wrapped together with ErrIDKey.
)

// ID is the public half of an identity: an ed25519 public key. Its text form
// (String) is what people paste, pin and read aloud. The zero ID is not a
// valid identity.
type ID [ed25519.PublicKeySize]byte

// String returns the public ID text form: "sp2p1" followed by the bech32m
// encoding of the key and its checksum, in lower case.
func (id ID) String() string {
	return bech32mEncode(idHRP, id[:])
}

// Equal reports whether two IDs are the same, in constant time.
func (id ID) Equal(other ID) bool {
	return subtle.ConstantTimeCompare(id[:], other[:]) == 1
}

// IsZero reports whether id is the zero value (no identity).
func (id ID) IsZero() bool {
	var zero ID
	return id.Equal(zero)
}

// PublicKey returns the ed25519 public key of id.
func (id ID) PublicKey() ed25519.PublicKey {
	return ed25519.PublicKey(append([]byte(nil), id[:]...))
}

// ParseID parses the public ID text form. Input longer than 256 bytes is
// refused before anything else (white space included). Surrounding white
// space is ignored and upper, lower or mixed case are all accepted (people
// read IDs aloud and retype them); only ASCII letters are case-folded, and
// any other non-ASCII character is refused with ErrIDCharacter. Every
// single-character typo and every swap of two neighbouring characters is
// rejected by the checksum. The key must pass [CheckKey]: weak keys are
// refused with an error wrapping ErrIDKey and ErrWeakKey.
func ParseID(s string) (ID, error) {
	if len(s) > maxIDInput {
		return ID{}, fmt.Errorf("identity: invalid ID: %w: %d bytes of input, at most %d (an ID has %d characters)", ErrIDLength, len(s), maxIDInput, IDLength)
	}
	s = strings.TrimSpace(s)
	if err := checkASCII(s); err != nil {
		return ID{}, fmt.Errorf("identity: invalid ID: %w", err)
	}
	s = asciiLower(s)
	if !strings.HasPrefix(s, IDPrefix) {
		return ID{}, fmt.Errorf("identity: invalid ID: %w: an sp2p ID starts with %q", ErrIDPrefix, IDPrefix)
	}
	if len(s) != IDLength {
		return ID{}, fmt.Errorf("identity: invalid ID: %w: %d characters, want %d", ErrIDLength, len(s), IDLength)
	}
	hrp, data, err := bech32mDecode(s)
	switch {
	case errors.Is(err, errBech32Char):
		return ID{}, fmt.Errorf("identity: invalid ID: %w (allowed: %s)", ErrIDCharacter, bech32Charset)
	case errors.Is(err, errBech32Checksum):
		return ID{}, fmt.Errorf("identity: invalid ID: %w: a character is mistyped or two are swapped", ErrIDChecksum)
	case err != nil:
		return ID{}, fmt.Errorf("identity: invalid ID: %w: %v", ErrIDChecksum, err)
	case hrp != idHRP:
		return ID{}, fmt.Errorf("identity: invalid ID: %w", ErrIDPrefix)
	case len(data) != len(ID{}):
		return ID{}, fmt.Errorf("identity: invalid ID: %w: %d key bytes, want %d", ErrIDLength, len(data), len(ID{}))
	}
	var id ID
	copy(id[:], data)
	if err := id.Check(); err != nil {
		return ID{}, fmt.Errorf("identity: invalid ID: %w", err)
	}
	return id, nil
}

// hasIDPrefix reports whether s, as typed, looks like an attempt at an ID.
func hasIDPrefix(s string) bool {
	s = strings.TrimSpace(s)
	return len(s) >= len(IDPrefix) && asciiLower(s[:len(IDPrefix)]) == IDPrefix
}

// MarshalText implements encoding.TextMarshaler with the ID text form.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseID.
func (id *ID) UnmarshalText(b []byte) error {
	p, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = p
	return nil
}

// Fingerprint returns a short form of id that two people can compare by eye
// or read to each other over the phone: six groups of five decimal digits,
// about 100 bits of SHA-256(FingerprintLabel || key), for example
// "01234 56789 01234 56789 01234 56789". See SECURITY.md for the exact
// definition.
func (id ID) Fingerprint() string {
	h := sha256.New()
	h.Write([]byte(FingerprintLabel))
	h.Write(id[:])
	return digitGroups(h.Sum(nil), fingerprintGroups)
}

// digitGroups renders n groups of five digits, each from five bytes of sum
// read as a big-endian 40-bit number modulo 100000.
func digitGroups(sum []byte, n int) string {
	var b strings.Builder
	for i := range n {
		var buf [8]byte
		copy(buf[3:], sum[5*i:5*i+5])
		v := binary.BigEndian.Uint64(buf[:]) % 100000
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%05d", v)
	}
	return b.String()
}
