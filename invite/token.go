package invite

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/sp2p/sp2p/identity"
)

// Token format, version 2 (SECURITY.md, "Invitation tokens"). Integers are
// big-endian; every field has a fixed place; variable fields are
// length-prefixed; the signature covers every byte before it. The ICE
// credentials and the invite id are not carried: both sides derive them
// from the token's ephemeral key ([ICECredentials], [InviteIDOf]).
const (
	Version = 2

	kindOffer  = 1
	kindAnswer = 2

	IDSize        = 32
	EphemeralSize = 32 // X25519 public key
	InviteIDSize  = 16
	HashSize      = sha256.Size
	SignatureSize = 64

	// MaxTokenSize bounds a token's canonical bytes.
	MaxTokenSize = 1024
	// DefaultLifetime is how long an invitation stays valid by default.
	DefaultLifetime = 5 * time.Minute
	// MaxLifetime is the longest lifetime an invitation may have.
	MaxLifetime = 24 * time.Hour
	// MinLifetime is the shortest.
	MinLifetime = 10 * time.Second
	// DefaultClockSkew is how far in the future a token's creation time may
	// be, to allow for clocks that disagree a little: created <= now + skew
	// is accepted. It also bounds how far an answer's creation time may be
	// before its offer's: answer.created >= offer.created - skew.
	DefaultClockSkew = 2 * time.Minute
	// MaxCreated is the last creation time a token can carry (4 bytes of
	// Unix seconds: 2106-02-07 06:28:15 UTC); later clocks cannot make
	// tokens of this version.
	MaxCreated = 1<<32 - 1

	// ICEUfragLen and ICEPwdLen are the lengths of the derived ICE
	// credentials (48 and 132 bits).
	ICEUfragLen = 8
	ICEPwdLen   = 22

	offerFixedSize  = 2 + IDSize + EphemeralSize + 4 + 4 + 1 + 1
	answerFixedSize = 2 + IDSize + EphemeralSize + HashSize + 4

	iceInfo      = "sp2p v2 ice"
	inviteIDInfo = "sp2p v2 invite id"
	iceAlphabet  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
)

// ICECredentials returns the ICE ufrag (8 characters) and password (22)
// of the side whose ephemeral X25519 public key is ephemeral: the 30 bytes
// of HKDF-SHA256(ikm = ephemeral, salt = empty, info = "sp2p v2 ice"),
// each byte b written as iceAlphabet[b & 63], the first 8 the ufrag, the
// next 22 the password. A link must use them: tokens do not carry them.
func ICECredentials(ephemeral [EphemeralSize]byte) (ufrag, pwd string) {
	b, err := hkdf.Key(sha256.New, ephemeral[:], nil, iceInfo, ICEUfragLen+ICEPwdLen)
	if err != nil {
		panic("invite: HKDF: " + err.Error()) // only for lengths over 255 hashes
	}
	for i := range b {
		b[i] = iceAlphabet[b[i]&63]
	}
	return string(b[:ICEUfragLen]), string(b[ICEUfragLen:])
}

// InviteIDOf returns the invite id of an offer with the ephemeral key
// ephemeral: HKDF-SHA256(ikm = ephemeral, salt = empty, info = "sp2p v2
// invite id"), 16 bytes.
func InviteIDOf(ephemeral [EphemeralSize]byte) [InviteIDSize]byte {
	b, err := hkdf.Key(sha256.New, ephemeral[:], nil, inviteIDInfo, InviteIDSize)
	if err != nil {
		panic("invite: HKDF: " + err.Error())
	}
	return [InviteIDSize]byte(b)
}

// Purpose is what an invitation is for, chosen by the inviter and signed
// in the offer, so the invitee's program can refuse a token meant for
// another one (files offered to a chat, a stream to a file receiver).
type Purpose uint8

// Purposes. Values 3 to 255 are refused (ErrMalformed).
const (
	// PurposeChat: messages (a line chat).
	PurposeChat Purpose = 0
	// PurposeStream: one byte stream in each direction.
	PurposeStream Purpose = 1
	// PurposeFiles: the inviter sends files.
	PurposeFiles Purpose = 2

	maxPurpose = PurposeFiles
)

func (p Purpose) String() string {
	switch p {
	case PurposeChat:
		return "chat"
	case PurposeStream:
		return "stream"
	case PurposeFiles:
		return "files"
	}
	return fmt.Sprintf("Purpose(%d)", uint8(p))
}

// describe says what an invitation of purpose p is for, for errors.
func (p Purpose) describe() string {
	switch p {
	case PurposeChat:
		return "a chat"
	case PurposeStream:
		return "a byte stream"
	case PurposeFiles:
		return "sending files"
	}
	return p.String()
}

// Kind says whether a token is an offer or an answer.
type Kind uint8

// Token kinds.
const (
	KindOffer  Kind = kindOffer
	KindAnswer Kind = kindAnswer
)

func (k Kind) String() string {
	switch k {
	case KindOffer:
		return "offer"
	case KindAnswer:
		return "answer"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// ChannelOptions are the data channel's delivery settings, chosen by the
// inviter. The zero value is reliable and ordered.
type ChannelOptions struct {
	// Unordered delivers messages as they arrive; the record layer's replay
	// window handles the reordering.
	Unordered bool
	// MaxRetransmits, when PartialReliability is set, bounds how often
	// SCTP resends a lost message (0 means never).
	PartialReliability bool
	MaxRetransmits     uint8
}

func (o ChannelOptions) bytes() [2]byte {
	var flags byte
	if o.Unordered {
		flags |= 1
	}
	if o.PartialReliability {
		flags |= 2
	}
	return [2]byte{flags, o.MaxRetransmits}
}

// Offer is a decoded, signature-checked invitation.
type Offer struct {
	Inviter   identity.ID
	Ephemeral [EphemeralSize]byte
	InviteID  [InviteIDSize]byte // derived from Ephemeral (InviteIDOf)
	Created   time.Time          // whole seconds
	Lifetime  time.Duration
	Recipient identity.ID // zero: anyone may answer
	Purpose   Purpose
	Options   ChannelOptions
	Conn      ConnDesc // ICE credentials derived from Ephemeral

	raw []byte // canonical bytes, signature included
}

// Answer is a decoded, signature-checked answer to an offer.
type Answer struct {
	Answerer  identity.ID
	Ephemeral [EphemeralSize]byte
	OfferHash [HashSize]byte
	Created   time.Time
	Conn      ConnDesc // ICE credentials derived from Ephemeral

	raw []byte
}

// Bytes returns the token's canonical bytes (signature included). The
// caller must not modify them.
func (o *Offer) Bytes() []byte { return o.raw }

// Bytes returns the token's canonical bytes (signature included).
func (a *Answer) Bytes() []byte { return a.raw }

// Hash returns SHA-256 of the offer's canonical bytes: what an answer
// commits to.
func (o *Offer) Hash() [HashSize]byte { return sha256.Sum256(o.raw) }

// Hash returns SHA-256 of the answer's canonical bytes.
func (a *Answer) Hash() [HashSize]byte { return sha256.Sum256(a.raw) }

// Expires returns the end of the offer's validity.
func (o *Offer) Expires() time.Time { return o.Created.Add(o.Lifetime) }

// CheckPurpose returns nil if the offer is for want, else an error
// wrapping ErrWrongPurpose that says what it is for.
func (o *Offer) CheckPurpose(want Purpose) error {
	if o.Purpose == want {
		return nil
	}
	return fmt.Errorf("%w: this invitation is for %s, not %s", ErrWrongPurpose, o.Purpose.describe(), want.describe())
}

// OfferParams are the inputs of NewOffer.
type OfferParams struct {
	Ephemeral [EphemeralSize]byte // the inviter's X25519 public key
	// Conn must have the DTLS role actpass, and either the ICE
	// credentials ICECredentials(Ephemeral) or none (they are filled in).
	Conn      ConnDesc
	Purpose   Purpose
	Options   ChannelOptions
	Lifetime  time.Duration // 0: DefaultLifetime
	Recipient identity.ID   // zero: anyone may answer
	Now       time.Time     // zero: time.Now()
}

// NewOffer creates and signs an invitation. Its invite id and ICE
// credentials are derived from p.Ephemeral, which must be fresh for every
// offer.
func NewOffer(id *identity.Identity, p OfferParams) (*Offer, error) {
	o := &Offer{
		InviteID: InviteIDOf(p.Ephemeral),
		Inviter:  id.ID(), Ephemeral: p.Ephemeral, Lifetime: p.Lifetime,
		Recipient: p.Recipient, Purpose: p.Purpose, Options: p.Options, Conn: p.Conn,
		Created: p.Now,
	}
	if o.Lifetime == 0 {
		o.Lifetime = DefaultLifetime
	}
	if o.Created.IsZero() {
		o.Created = time.Now()
	}
	o.Created = time.Unix(o.Created.Unix(), 0)
	if err := o.Conn.withCredentials(o.Ephemeral); err != nil {
		return nil, err
	}
	body, err := o.encodeBody()
	if err != nil {
		return nil, err
	}
	o.raw = append(body, id.Sign(identity.ContextOffer, body)...)
	return o, nil
}

// AnswerParams are the inputs of NewAnswer.
type AnswerParams struct {
	Ephemeral [EphemeralSize]byte // the answerer's X25519 public key
	// Conn must have the DTLS role active or passive, and either the ICE
	// credentials ICECredentials(Ephemeral) or none (they are filled in).
	Conn ConnDesc
	Now  time.Time // zero: time.Now()
}

// NewAnswer creates and signs the answer to offer.
func NewAnswer(id *identity.Identity, offer *Offer, p AnswerParams) (*Answer, error) {
	a := &Answer{Answerer: id.ID(), Ephemeral: p.Ephemeral, OfferHash: offer.Hash(), Created: p.Now, Conn: p.Conn}
	if a.Created.IsZero() {
		a.Created = time.Now()
	}
	a.Created = time.Unix(a.Created.Unix(), 0)
	if err := a.Conn.withCredentials(a.Ephemeral); err != nil {
		return nil, err
	}
	body, err := a.encodeBody()
	if err != nil {
		return nil, err
	}
	a.raw = append(body, id.Sign(identity.ContextAnswer, body)...)
	return a, nil
}

// withCredentials fills in the ICE credentials derived from ephemeral,
// or checks that d has them: a token cannot carry others.
func (d *ConnDesc) withCredentials(ephemeral [EphemeralSize]byte) error {
	ufrag, pwd := ICECredentials(ephemeral)
	switch {
	case d.ICEUfrag == "" && d.ICEPwd == "":
		d.ICEUfrag, d.ICEPwd = ufrag, pwd
	case d.ICEUfrag != ufrag || d.ICEPwd != pwd:
		return fmt.Errorf("%w: the ICE credentials are not the ones derived from the ephemeral key (tokens carry none: the link must use invite.ICECredentials)", ErrMalformed)
	}
	return nil
}

func checkCreated(t time.Time) error {
	if t.Unix() < 0 || t.Unix() > MaxCreated {
		return fmt.Errorf("%w: creation time %s is outside 1970-01-01 to 2106-02-07 06:28:15 UTC (4 bytes of Unix seconds)", ErrLimit, t.UTC().Format(time.RFC3339))
	}
	return nil
}

func (o *Offer) encodeBody() ([]byte, error) {
	if o.Lifetime < MinLifetime || o.Lifetime > MaxLifetime || o.Lifetime%time.Second != 0 {
		return nil, fmt.Errorf("%w: lifetime %v must be whole seconds from %v to %v", ErrLimit, o.Lifetime, MinLifetime, MaxLifetime)
	}
	if o.Conn.Role != RoleActPass {
		return nil, fmt.Errorf("%w: an offer's DTLS role must be actpass", ErrMalformed)
	}
	if o.Options.MaxRetransmits != 0 && !o.Options.PartialReliability {
		return nil, fmt.Errorf("%w: MaxRetransmits without PartialReliability", ErrMalformed)
	}
	if o.Purpose > maxPurpose {
		return nil, fmt.Errorf("%w: unknown purpose %d", ErrMalformed, o.Purpose)
	}
	if err := checkCreated(o.Created); err != nil {
		return nil, err
	}
	if !o.Recipient.IsZero() {
		if err := o.Recipient.Check(); err != nil {
			return nil, fmt.Errorf("%w: recipient key: %w", ErrMalformed, err)
		}
	}
	if o.InviteID != InviteIDOf(o.Ephemeral) {
		return nil, fmt.Errorf("%w: the invite id is not the one derived from the ephemeral key", ErrMalformed)
	}
	b := make([]byte, 0, 512)
	b = append(b, Version, kindOffer)
	b = append(b, o.Inviter[:]...)
	b = append(b, o.Ephemeral[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(o.Created.Unix()))
	b = binary.BigEndian.AppendUint32(b, uint32(o.Lifetime/time.Second))
	if o.Recipient.IsZero() {
		b = append(b, 0, byte(o.Purpose))
	} else {
		b = append(b, 1, byte(o.Purpose))
		b = append(b, o.Recipient[:]...)
	}
	opts := o.Options.bytes()
	b = append(b, opts[:]...)
	b, err := o.Conn.appendTo(b, o.Ephemeral)
	if err != nil {
		return nil, err
	}
	if len(b)+SignatureSize > MaxTokenSize {
		return nil, fmt.Errorf("%w: token of %d bytes, at most %d", ErrLimit, len(b)+SignatureSize, MaxTokenSize)
	}
	return b, nil
}

func (a *Answer) encodeBody() ([]byte, error) {
	if a.Conn.Role != RoleActive && a.Conn.Role != RolePassive {
		return nil, fmt.Errorf("%w: an answer's DTLS role must be active or passive", ErrMalformed)
	}
	if err := checkCreated(a.Created); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 512)
	b = append(b, Version, kindAnswer)
	b = append(b, a.Answerer[:]...)
	b = append(b, a.Ephemeral[:]...)
	b = append(b, a.OfferHash[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(a.Created.Unix()))
	b, err := a.Conn.appendTo(b, a.Ephemeral)
	if err != nil {
		return nil, err
	}
	if len(b)+SignatureSize > MaxTokenSize {
		return nil, fmt.Errorf("%w: token of %d bytes, at most %d", ErrLimit, len(b)+SignatureSize, MaxTokenSize)
	}
	return b, nil
}

// appendTo appends the compact binary connection description:
//
//	fingerprint (32), DTLS role (1), candidate count (1),
//	candidates: flags (1), address (4 or 16) or mDNS name (16), port (2)
//
// with flags = type | tcp<<2 | ipv6<<3 | tcptype<<4 | mdns<<6. The ICE
// credentials are not written: they must be the ones derived from
// ephemeral.
func (d *ConnDesc) appendTo(b []byte, ephemeral [EphemeralSize]byte) ([]byte, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	if ufrag, pwd := ICECredentials(ephemeral); d.ICEUfrag != ufrag || d.ICEPwd != pwd {
		return nil, fmt.Errorf("%w: the ICE credentials are not the ones derived from the ephemeral key (tokens carry none: the link must use invite.ICECredentials)", ErrMalformed)
	}
	b = append(b, d.Fingerprint[:]...)
	b = append(b, byte(d.Role), byte(len(d.Candidates)))
	for _, c := range d.Candidates {
		flags := byte(c.Type) | byte(c.TCPType)<<4
		if c.TCP {
			flags |= 1 << 2
		}
		if c.IsMDNS() {
			b = append(b, flags|1<<6)
			b = append(b, c.Name[:]...)
			b = binary.BigEndian.AppendUint16(b, c.Addr.Port())
			continue
		}
		if c.Addr.Addr().Is6() {
			flags |= 1 << 3
		}
		b = append(b, flags)
		b = append(b, c.Addr.Addr().AsSlice()...)
		b = binary.BigEndian.AppendUint16(b, c.Addr.Port())
	}
	return b, nil
}

// VerifyOptions are the checks of Offer.Verify.
type VerifyOptions struct {
	// Now is the current time; zero means time.Now().
	Now time.Time
	// ClockSkew is how far in the future a creation time may be; zero
	// means DefaultClockSkew.
	ClockSkew time.Duration
	// Self is the verifier's ID, checked against the offer's recipient.
	Self identity.ID
	// Expect, when not zero, is the only inviter accepted (a pinned peer
	// or --expect).
	Expect identity.ID
}

func (v VerifyOptions) now() time.Time {
	if v.Now.IsZero() {
		return time.Now()
	}
	return v.Now
}

func (v VerifyOptions) skew() time.Duration {
	if v.ClockSkew == 0 {
		return DefaultClockSkew
	}
	return v.ClockSkew
}

// Verify checks what an invitee must check beyond the signature: that the
// offer is not created in the future beyond the clock skew (created <= now
// + skew is accepted, later is ErrNotYetValid) and not expired (expired
// when now >= created + lifetime: ErrExpired), that it is for this verifier
// if it names a recipient, and that it comes from the expected inviter if
// one is pinned. Times are compared at the full precision of now.
func (o *Offer) Verify(v VerifyOptions) error {
	now := v.now()
	if o.Created.After(now.Add(v.skew())) {
		return fmt.Errorf("%w: created %s, now %s", ErrNotYetValid, o.Created.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if !now.Before(o.Expires()) {
		return fmt.Errorf("%w at %s", ErrExpired, o.Expires().UTC().Format(time.RFC3339))
	}
	if !o.Recipient.IsZero() && !o.Recipient.Equal(v.Self) {
		return fmt.Errorf("%w: it names %s as its recipient", ErrWrongRecipient, o.Recipient)
	}
	if !v.Expect.IsZero() && !o.Inviter.Equal(v.Expect) {
		return fmt.Errorf("%w: signed by %s (fingerprint %s), expected %s (fingerprint %s)",
			ErrUnexpectedPeer, o.Inviter, o.Inviter.Fingerprint(), v.Expect, v.Expect.Fingerprint())
	}
	return nil
}

// Transcript returns SHA-256(offer bytes || answer bytes), the salt of the
// session's key schedule.
func Transcript(o *Offer, a *Answer) [HashSize]byte {
	h := sha256.New()
	h.Write(o.raw)
	h.Write(a.raw)
	var t [HashSize]byte
	h.Sum(t[:0])
	return t
}
