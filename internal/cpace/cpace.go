// Package cpace implements the CPace balanced password-authenticated key
// exchange of the CFRG draft draft-irtf-cfrg-cpace-21, cipher suite
// CPACE-RISTR255-SHA512 (group ristretto255, hash SHA-512), in the
// initiator-responder setting.
//
// Two parties that know the same password-related string PRS, the same
// channel identifier CI and the same session identifier sid each call [New]
// with their [Role], send [State.Message] to the other, and pass the other's
// message to [State.Finish]. Both obtain the same 64-byte intermediate
// session key (ISK) if and only if PRS, CI, sid and both messages (with their
// associated data) agree. A party that does not know PRS learns nothing from
// one run that lets it test a password offline: each run allows one online
// guess.
//
// # Wire format
//
// A message (MSGa from the initiator, MSGb from the responder) is
// lv_cat(Y, AD) as in the draft's transcript_ir:
//
//	0x20 || Y (32 bytes, ristretto255 encoding) || LEB128(len(AD)) || AD
//
// with len(AD) at most [MaxADSize], so a message is [MinMessageSize] to
// [MaxMessageSize] bytes. [State.Finish] rejects, with an error wrapping
// [ErrInvalidPeerMessage], a message of another length, a first byte other
// than 0x20, a non-minimal or too large AD length, trailing or missing bytes,
// a Y that is not a canonical ristretto255 encoding, and a Y whose product
// with the secret scalar is the identity element (the draft's abort
// condition).
//
// # Security
//
// ISK is not yet a traffic key and is not yet confirmed: callers derive
// their keys from it with a KDF under their own label and confirm them (for
// example with a MAC over the transcript) before trusting the peer, as the
// draft recommends. sid should be unique per run; CI binds the run to the
// application's context (both are hashed, neither is sent). AD is sent in
// clear and authenticated by the key agreement only.
//
// Finish erases the secret scalar and the intermediate values this package
// holds, on every path. Go cannot guarantee erasure: the garbage collector
// may have copied values, and ristretto255 and SHA-512 keep temporaries of
// their own that this package cannot reach. The erasure is best effort.
package cpace

import (
	"errors"
	"fmt"
	"sync"

	"github.com/gtank/ristretto255"
)

// Specification constants (draft-irtf-cfrg-cpace-21, CPACE-RISTR255-SHA512).
const (
	// dsi is G_Ristretto255.DSI.
	dsi = "CPaceRistretto255"
	// dsiISK is G.DSI || b"_ISK", the label of the ISK hash.
	dsiISK = dsi + "_ISK"
	// hashBlockSize is H.s_in_bytes for SHA-512.
	hashBlockSize = 128
	// ElementSize is the size of an encoded ristretto255 element.
	ElementSize = 32
	// ISKSize is the size of the intermediate session key (H.b_in_bytes).
	ISKSize = 64
)

// Implementation limits of sp2p's use of CPace.
const (
	// MaxADSize is the largest associated data, in bytes, that New accepts
	// and Finish accepts from a peer (inclusive).
	MaxADSize = 255
	// MinMessageSize is the size of a message with empty AD: the length
	// byte of Y, Y, and the one-byte length of AD.
	MinMessageSize = 1 + ElementSize + 1
	// MaxMessageSize is the size of a message with MaxADSize bytes of AD,
	// whose LEB128 length takes two bytes.
	MaxMessageSize = 1 + ElementSize + 2 + MaxADSize
)

// Role says which message a party sends: the initiator sends MSGa first,
// the responder answers with MSGb.
type Role uint8

// The two roles of the initiator-responder setting.
const (
	Initiator Role = iota
	Responder
)

// String returns "initiator" or "responder".
func (r Role) String() string {
	switch r {
	case Initiator:
		return "initiator"
	case Responder:
		return "responder"
	}
	return fmt.Sprintf("Role(%d)", uint8(r))
}

var (
	// ErrInvalidPeerMessage is wrapped by every error Finish returns for a
	// peer message it rejects: bad length or encoding, an element that does
	// not decode, or the identity element.
	ErrInvalidPeerMessage = errors.New("cpace: invalid peer message")
	// ErrFinished is returned by Finish on a State whose Finish already ran.
	ErrFinished = errors.New("cpace: Finish already called on this state")
)

// State is one party's side of one CPace run. It is safe for concurrent
// use; Finish runs at most once.
type State struct {
	mu   sync.Mutex
	role Role
	sid  []byte
	y    *ristretto255.Scalar // nil once Finish has run
	ownY []byte               // this party's encoded element
	ad   []byte               // this party's associated data
	msg  []byte               // this party's message, lv_cat(Y, AD)
}

// New samples a fresh scalar from crypto/rand and computes this party's
// message. prs is the password-related string; ci, sid and ad may be empty.
// It fails if role is neither Initiator nor Responder or ad is longer than
// MaxADSize. New copies its inputs.
func New(role Role, prs, ci, sid, ad []byte) (*State, error) {
	if err := checkInputs(role, ad); err != nil {
		return nil, err
	}
	y, err := sampleScalar()
	if err != nil {
		return nil, err
	}
	return newState(role, prs, ci, sid, ad, y), nil
}

// newWithScalar is New with a given scalar (32 bytes, canonical,
// little-endian), for the draft's test vectors.
func newWithScalar(role Role, prs, ci, sid, ad, scalar []byte) (*State, error) {
	if err := checkInputs(role, ad); err != nil {
		return nil, err
	}
	y := ristretto255.NewScalar()
	if err := y.Decode(scalar); err != nil {
		return nil, fmt.Errorf("cpace: scalar: %w", err)
	}
	return newState(role, prs, ci, sid, ad, y), nil
}

func checkInputs(role Role, ad []byte) error {
	if role != Initiator && role != Responder {
		return fmt.Errorf("cpace: unknown role %d", uint8(role))
	}
	if len(ad) > MaxADSize {
		return fmt.Errorf("cpace: associated data is %d bytes, more than %d", len(ad), MaxADSize)
	}
	return nil
}

func newState(role Role, prs, ci, sid, ad []byte, y *ristretto255.Scalar) *State {
	g := calculateGenerator(prs, ci, sid)
	var Y [ElementSize]byte
	ristretto255.NewElement().ScalarMult(y, g).Encode(Y[:0])
	g.Zero()
	ad = append([]byte(nil), ad...)
	return &State{
		role: role,
		sid:  append([]byte(nil), sid...),
		y:    y,
		ownY: Y[:],
		ad:   ad,
		msg:  lvCat(Y[:], ad),
	}
}

// Role returns the role the State was created with.
func (s *State) Role() Role { return s.role }

// Message returns this party's message (MSGa for the Initiator, MSGb for
// the Responder) to send to the peer. It returns a fresh copy each time and
// is still valid after Finish.
func (s *State) Message() []byte {
	return append([]byte(nil), s.msg...)
}

// Finish takes the peer's message and returns the 64-byte ISK and the
// peer's associated data. It may be called once: it erases the scalar
// whatever the outcome, so a rejected message ends the run (a new run needs
// a new State), and a second call returns ErrFinished. Errors for the
// peer's message wrap ErrInvalidPeerMessage and name what was wrong; they
// contain no secret.
func (s *State) Finish(peer []byte) (isk []byte, peerAD []byte, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.y == nil {
		return nil, nil, ErrFinished
	}
	y := s.y
	s.y = nil
	defer y.Zero()

	peerY, ad, err := decodeMessage(peer)
	if err != nil {
		return nil, nil, err
	}
	K, err := scalarMultVfy(y, peerY)
	defer clear(K[:])
	if err != nil {
		return nil, nil, err
	}
	var transcript []byte
	if s.role == Initiator {
		transcript = transcriptIR(s.ownY, s.ad, peerY, ad)
	} else {
		transcript = transcriptIR(peerY, ad, s.ownY, s.ad)
	}
	return deriveISK(s.sid, K[:], transcript), append([]byte(nil), ad...), nil
}

// Erase ends the run without a peer message (the peer went away, or the
// caller gave up): it erases the scalar, and a later Finish returns
// ErrFinished. It may be called more than once, and after Finish.
func (s *State) Erase() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.y != nil {
		s.y.Zero()
		s.y = nil
	}
}
