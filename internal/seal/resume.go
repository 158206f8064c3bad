package seal

// Resumption's key schedule (SECURITY.md, "Resumption"): the resume secret
// from the session's key schedule, and what each resumption derives from
// it.

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
)

// Labels of resumption's key schedule. A label that takes a role has the
// role's byte (0 offerer, 1 answerer) appended to it.
const (
	LabelResume              = "sp2p v1 resume"
	LabelResumeICE           = "sp2p v1 resume ice "
	LabelResumeMAC           = "sp2p v1 resume mac "
	LabelResumeKeyOAToAnswer = "sp2p v1 resume key offerer to answerer"
	LabelResumeKeyAOToOffer  = "sp2p v1 resume key answerer to offerer"
	LabelResumeTokenMAC      = "sp2p v1 resume token "
	LabelResumeID            = "sp2p v1 resume id"
)

// Sizes of resumption's values.
const (
	ResumeSecretSize = 32
	ResumeMACSize    = sha256.Size
	ICEUfragSize     = 8  // characters, as an invitation's
	ICEPwdSize       = 22 // characters, as an invitation's
)

// iceAlphabet maps a byte's low six bits to an ICE character (RFC 8839
// ice-char), as the invitation's derived credentials do.
const iceAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// Resumer holds a session's resume secret and derives what a resumption
// needs: each role's ICE credentials and message key, and new direction
// keys from a fresh X25519 exchange. Session ID and safety code stay
// those of the session.
type Resumer struct {
	role      Role
	sessionID [SessionIDSize]byte
	code      string
	secret    [ResumeSecretSize]byte
}

// Resumer returns the session's resumer: a copy of the resume secret,
// which [Keys.Erase] leaves alone (the resumer has its own Erase).
func (k *Keys) Resumer() *Resumer {
	return &Resumer{role: k.Role, sessionID: k.SessionID, code: k.SafetyCode, secret: k.resume}
}

// Role is this side's role in the session.
func (r *Resumer) Role() Role { return r.role }

// SessionID is the session's id.
func (r *Resumer) SessionID() [SessionIDSize]byte { return r.sessionID }

func (r *Resumer) expand(label string, role Role, n int) []byte {
	out, err := hkdf.Expand(sha256.New, r.secret[:], label+string([]byte{byte(role)}), n)
	if err != nil {
		panic(err) // only for n > 255*32
	}
	return out
}

// ICECredentials returns the ICE credentials of role's link of the given
// generation (1 for the first link after the session's first, then one
// more for each resumption): HKDF-Expand(secret, LabelResumeICE || role ||
// uint64(generation), 30) mapped to ICE characters (low six bits of each
// byte), the first 8 the username fragment, the other 22 the password.
func (r *Resumer) ICECredentials(role Role, generation uint64) (ufrag, pwd string) {
	b, err := hkdf.Expand(sha256.New, r.secret[:], LabelResumeICE+string(binary.BigEndian.AppendUint64([]byte{byte(role)}, generation)), ICEUfragSize+ICEPwdSize)
	if err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = iceAlphabet[b[i]&63]
	}
	return string(b[:ICEUfragSize]), string(b[ICEUfragSize:])
}

// MAC returns HMAC-SHA256(HKDF-Expand(secret, LabelResumeMAC || role, 32),
// msg): the tag of a resume message from role.
func (r *Resumer) MAC(role Role, msg []byte) [ResumeMACSize]byte {
	return r.mac(LabelResumeMAC, role, msg)
}

// mac is HMAC-SHA256(HKDF-Expand(secret, label || role, 32), msg).
func (r *Resumer) mac(label string, role Role, msg []byte) [ResumeMACSize]byte {
	key := r.expand(label, role, 32)
	defer clear(key)
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	var out [ResumeMACSize]byte
	m.Sum(out[:0])
	return out
}

// CheckMAC reports, in constant time, whether tag is role's tag of msg.
func (r *Resumer) CheckMAC(role Role, msg []byte, tag []byte) bool {
	want := r.MAC(role, msg)
	return subtle.ConstantTimeCompare(want[:], tag) == 1
}

// Derive returns the direction keys of a resumed session:
//
//	prk  = HKDF-Extract(salt = transcript, ikm = shared || secret)
//	k_oa = HKDF-Expand(prk, LabelResumeKeyOAToAnswer, 32)
//	k_ao = HKDF-Expand(prk, LabelResumeKeyAOToOffer, 32)
//
// shared is the X25519 result of the resumption's fresh keys, transcript
// the SHA-256 of the offerer's resume message followed by the answerer's.
// The session id, safety code and resume secret stay the same. An
// all-zero shared secret is rejected (ErrZeroSecret).
func (r *Resumer) Derive(shared []byte, transcript [TranscriptSize]byte) (*Keys, error) {
	if len(shared) != SharedSecretSize {
		return nil, fmt.Errorf("seal: shared secret is %d bytes, want %d", len(shared), SharedSecretSize)
	}
	var zero [SharedSecretSize]byte
	if subtle.ConstantTimeCompare(shared, zero[:]) == 1 {
		return nil, ErrZeroSecret
	}
	ikm := make([]byte, 0, SharedSecretSize+ResumeSecretSize)
	ikm = append(append(ikm, shared...), r.secret[:]...)
	defer clear(ikm)
	prk, err := hkdf.Extract(sha256.New, ikm, transcript[:])
	if err != nil {
		return nil, err
	}
	defer clear(prk)
	expand := func(label string) []byte {
		out, err := hkdf.Expand(sha256.New, prk, label, KeySize)
		if err != nil {
			panic(err)
		}
		return out
	}
	oa, ao := expand(LabelResumeKeyOAToAnswer), expand(LabelResumeKeyAOToOffer)
	defer clear(oa)
	defer clear(ao)
	k := &Keys{Role: r.role, SessionID: r.sessionID, SafetyCode: r.code, resume: r.secret}
	if r.role == Offerer {
		copy(k.send[:], oa)
		copy(k.recv[:], ao)
	} else {
		copy(k.send[:], ao)
		copy(k.recv[:], oa)
	}
	return k, nil
}

// TokenMAC is the tag of a resume token from role:
// HMAC-SHA256(HKDF-Expand(secret, LabelResumeTokenMAC || role, 32), msg).
func (r *Resumer) TokenMAC(role Role, msg []byte) [ResumeMACSize]byte {
	return r.mac(LabelResumeTokenMAC, role, msg)
}

// ResumeID is the session's public handle in resume tokens, the same on
// both sides: HKDF-Expand(secret, LabelResumeID, 8). It reveals nothing
// of the secret, and nothing links it to the session id.
func (r *Resumer) ResumeID() [8]byte {
	b, err := hkdf.Expand(sha256.New, r.secret[:], LabelResumeID, 8)
	if err != nil {
		panic(err)
	}
	return [8]byte(b)
}

// Erase overwrites the resume secret.
func (r *Resumer) Erase() { clear(r.secret[:]) }
