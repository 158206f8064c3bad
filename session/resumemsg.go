package session

import (
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/sp2p/sp2p/internal/seal"
)

// The resume message (SECURITY.md, "Resumption"): the first message each
// side sends on a session's new link, before any record.
//
//	offset size
//	0      1    0x52 ("R"; a record begins with 0x01)
//	1      1    version, 1
//	2      1    the sender's role (0 offerer, 1 answerer)
//	3      1    reserved, 0
//	4      16   session id
//	20     8    resume counter (uint64): 1 for the sender's first, then
//	            strictly increasing
//	28     32   the sender's fresh X25519 public key
//	60     8    received: how many of the peer's messages (application
//	            messages and the end of data) the sender has taken
//	68     32   HMAC-SHA256 under the sender's role's resume MAC key of
//	            bytes 0..67
const (
	resumeMagic   = 0x52
	resumeVersion = 1
	resumeMsgSize = 100
	resumeMACAt   = 68
)

// ErrResume is a resume message that was refused; the error says why. The
// session goes on trying (a refused message proves nothing about the
// peer: anyone can send bytes), until its resume window ends.
var ErrResume = errors.New("session: resume message refused")

// resumeMsg is a resume message's fields.
type resumeMsg struct {
	role     seal.Role
	counter  uint64
	pub      [32]byte
	received uint64
}

// encode returns the message with its tag.
func (m *resumeMsg) encode(r *seal.Resumer) []byte {
	b := make([]byte, resumeMACAt, resumeMsgSize)
	b[0], b[1], b[2] = resumeMagic, resumeVersion, byte(m.role)
	sid := r.SessionID()
	copy(b[4:20], sid[:])
	binary.BigEndian.PutUint64(b[20:], m.counter)
	copy(b[28:60], m.pub[:])
	binary.BigEndian.PutUint64(b[60:], m.received)
	tag := r.MAC(m.role, b)
	return append(b, tag[:]...)
}

// decodeResume checks a resume message from the peer (role want) and
// returns its fields: length, magic, version, reserved byte, role (a
// message of this side's own role is a reflection), session id, tag, in
// that order. The counter and received count are the caller's to check.
func decodeResume(b []byte, r *seal.Resumer, want seal.Role) (*resumeMsg, error) {
	switch {
	case len(b) != resumeMsgSize:
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrResume, len(b), resumeMsgSize)
	case b[0] != resumeMagic || b[1] != resumeVersion || b[3] != 0:
		return nil, fmt.Errorf("%w: not a version-%d resume message", ErrResume, resumeVersion)
	case b[2] != byte(want):
		return nil, fmt.Errorf("%w: from the wrong role (a reflected message)", ErrResume)
	}
	sid := r.SessionID()
	if subtle.ConstantTimeCompare(b[4:20], sid[:]) != 1 {
		return nil, fmt.Errorf("%w: for another session", ErrResume)
	}
	if !r.CheckMAC(want, b[:resumeMACAt], b[resumeMACAt:]) {
		return nil, fmt.Errorf("%w: its tag does not check (not from the peer, or altered)", ErrResume)
	}
	m := &resumeMsg{role: want, counter: binary.BigEndian.Uint64(b[20:]), received: binary.BigEndian.Uint64(b[60:])}
	copy(m.pub[:], b[28:60])
	return m, nil
}
