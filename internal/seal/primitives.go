package seal

// All of the record layer's cryptography is in this file: the key schedule
// (HKDF-SHA256), the forward ratchet, and the AEAD (XChaCha20-Poly1305).

import (
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
)

// Labels of the key schedule: the HKDF "info" of each derived value.
const (
	LabelKeyOffererToAnswerer = "sp2p v1 key offerer to answerer"
	LabelKeyAnswererToOfferer = "sp2p v1 key answerer to offerer"
	LabelSessionID            = "sp2p v1 session id"
	LabelSafetyCode           = "sp2p v1 safety code"
	LabelRekey                = "sp2p v1 rekey"
)

// Sizes of the key schedule's inputs and outputs.
const (
	SharedSecretSize = 32 // X25519 output
	TranscriptSize   = sha256.Size
	KeySize          = chacha20poly1305.KeySize
	SessionIDSize    = 16
	safetyCodeGroups = 4 // groups of five digits: about 66 bits
	safetyCodeBytes  = 5 * safetyCodeGroups
)

// ErrZeroSecret is returned for an all-zero X25519 result: the peer sent a
// low-order point, and the "shared" secret would be known to everyone.
var ErrZeroSecret = errors.New("seal: all-zero shared secret (low-order peer key)")

// Role says which side of the handshake a peer played. It picks which
// derived key seals and which opens, and the direction byte of records.
type Role uint8

const (
	// Offerer created the invitation.
	Offerer Role = 0
	// Answerer answered it.
	Answerer Role = 1
)

func (r Role) String() string {
	switch r {
	case Offerer:
		return "offerer"
	case Answerer:
		return "answerer"
	}
	return fmt.Sprintf("Role(%d)", uint8(r))
}

// Keys is the output of the key schedule for one side of a session.
type Keys struct {
	Role       Role
	SessionID  [SessionIDSize]byte
	SafetyCode string // for people to compare, e.g. "01234 56789 01234 56789"
	send, recv [KeySize]byte
	resume     [ResumeSecretSize]byte // see Resumer
}

// DeriveKeys runs the key schedule (SECURITY.md, "Key schedule"):
//
//	prk  = HKDF-Extract(salt = transcript, ikm = shared)
//	k_oa = HKDF-Expand(prk, LabelKeyOffererToAnswerer, 32)
//	k_ao = HKDF-Expand(prk, LabelKeyAnswererToOfferer, 32)
//	sid  = HKDF-Expand(prk, LabelSessionID, 16)
//	code = digits(HKDF-Expand(prk, LabelSafetyCode, 20))
//	rs   = HKDF-Expand(prk, LabelResume, 32)
//
// shared is the X25519 result and transcript the SHA-256 of the offer token
// bytes followed by the answer token bytes. The caller should clear shared
// afterwards; call [Keys.Erase] when the keys are no longer needed.
func DeriveKeys(shared []byte, transcript [TranscriptSize]byte, role Role) (*Keys, error) {
	if len(shared) != SharedSecretSize {
		return nil, fmt.Errorf("seal: shared secret is %d bytes, want %d", len(shared), SharedSecretSize)
	}
	if role != Offerer && role != Answerer {
		panic("seal: invalid role")
	}
	var zero [SharedSecretSize]byte
	if subtle.ConstantTimeCompare(shared, zero[:]) == 1 {
		return nil, ErrZeroSecret
	}
	prk, err := hkdf.Extract(sha256.New, shared, transcript[:])
	if err != nil {
		return nil, err
	}
	defer clear(prk)
	expand := func(label string, n int) []byte {
		out, err := hkdf.Expand(sha256.New, prk, label, n)
		if err != nil {
			panic(err) // only for n > 255*32
		}
		return out
	}
	oa, ao := expand(LabelKeyOffererToAnswerer, KeySize), expand(LabelKeyAnswererToOfferer, KeySize)
	defer clear(oa)
	defer clear(ao)
	k := &Keys{Role: role}
	if role == Offerer {
		copy(k.send[:], oa)
		copy(k.recv[:], ao)
	} else {
		copy(k.send[:], ao)
		copy(k.recv[:], oa)
	}
	copy(k.SessionID[:], expand(LabelSessionID, SessionIDSize))
	k.SafetyCode = digitGroups(expand(LabelSafetyCode, safetyCodeBytes), safetyCodeGroups)
	rs := expand(LabelResume, ResumeSecretSize)
	copy(k.resume[:], rs)
	clear(rs)
	return k, nil
}

// Erase overwrites the direction keys. Go cannot guarantee that no copy
// remains elsewhere in memory (the garbage collector may have moved data),
// but the keys are gone from this structure.
func (k *Keys) Erase() {
	clear(k.send[:])
	clear(k.recv[:])
	clear(k.resume[:])
}

// ratchet replaces key with HKDF-Expand(key, LabelRekey, 32): the next
// epoch's key. The old key cannot be computed from the new one.
func ratchet(key *[KeySize]byte) {
	next, err := hkdf.Expand(sha256.New, key[:], LabelRekey, KeySize)
	if err != nil {
		panic(err)
	}
	copy(key[:], next)
	clear(next)
}

// aeadState is an XChaCha20-Poly1305 instance for one epoch's key. The
// x/crypto AEAD keeps its own copy of the key, which Go cannot erase; we drop
// the instance when the epoch ends.
type aeadState struct {
	epoch uint32
	key   [KeySize]byte
	aead  aeadCipher
}

type aeadCipher interface {
	Seal(dst, nonce, plaintext, additionalData []byte) []byte
	Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
}

func (s *aeadState) init(key *[KeySize]byte, epoch uint32) {
	a, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		panic(err) // key size is fixed
	}
	s.epoch, s.key, s.aead = epoch, *key, a
}

func (s *aeadState) erase() {
	clear(s.key[:])
	s.aead = nil
}

// digitGroups renders n groups of five digits, each from five bytes of b
// read as a big-endian 40-bit number modulo 100000.
func digitGroups(b []byte, n int) string {
	var sb strings.Builder
	for i := range n {
		var buf [8]byte
		copy(buf[3:], b[5*i:5*i+5])
		if i > 0 {
			sb.WriteByte(' ')
		}
		fmt.Fprintf(&sb, "%05d", binary.BigEndian.Uint64(buf[:])%100000)
	}
	return sb.String()
}
