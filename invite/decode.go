package invite

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/sp2p/sp2p/identity"
)

// Decoding the binary token forms, strictly: every field has its place and
// its limits, checked as it is read, and trailing bytes are refused.

// truncatedError is ErrMalformed for token bytes that end inside a field:
// the one refusal that more bytes could cure (see Incomplete).
type truncatedError struct{ what string }

func (e *truncatedError) Error() string { return ErrMalformed.Error() + ": truncated at " + e.what }
func (e *truncatedError) Unwrap() error { return ErrMalformed }

// reader is a bounds-checked cursor over token bytes.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b) {
		r.err = &truncatedError{what}
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8(what string) byte {
	if v := r.take(1, what); v != nil {
		return v[0]
	}
	return 0
}

func (r *reader) u16(what string) uint16 {
	if v := r.take(2, what); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (r *reader) u32(what string) uint32 {
	if v := r.take(4, what); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (r *reader) u64(what string) uint64 {
	if v := r.take(8, what); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *reader) connDesc() ConnDesc {
	var d ConnDesc
	n := int(r.u8("ufrag length"))
	if r.err == nil && (n < MinUfragLen || n > MaxUfragLen) {
		r.fail(fmt.Errorf("%w: ICE ufrag of %d characters, want %d to %d", ErrLimit, n, MinUfragLen, MaxUfragLen))
	}
	d.ICEUfrag = string(r.take(n, "ufrag"))
	n = int(r.u8("password length"))
	if r.err == nil && (n < MinPwdLen || n > MaxPwdLen) {
		r.fail(fmt.Errorf("%w: ICE password of %d characters, want %d to %d", ErrLimit, n, MinPwdLen, MaxPwdLen))
	}
	d.ICEPwd = string(r.take(n, "password"))
	copy(d.Fingerprint[:], r.take(32, "fingerprint"))
	d.Role = DTLSRole(r.u8("DTLS role"))
	count := int(r.u8("candidate count"))
	if r.err == nil && count > MaxCandidates {
		r.fail(fmt.Errorf("%w: %d candidates, at most %d", ErrLimit, count, MaxCandidates))
	}
	for i := 0; i < count && r.err == nil; i++ {
		flags := r.u8("candidate flags")
		if flags&0xc0 != 0 {
			r.fail(fmt.Errorf("%w: candidate %d has unknown flags %#x", ErrMalformed, i, flags))
			break
		}
		c := Candidate{Type: CandidateType(flags & 3), TCP: flags&4 != 0, TCPType: TCPType(flags >> 4 & 3)}
		size := 4
		if flags&8 != 0 {
			size = 16
		}
		addr, _ := netip.AddrFromSlice(r.take(size, "candidate address"))
		c.Addr = netip.AddrPortFrom(addr, r.u16("candidate port"))
		d.Candidates = append(d.Candidates, c)
	}
	if r.err == nil {
		if err := d.check(); err != nil {
			r.fail(err)
		}
	}
	return d
}

// splitToken checks the common framing (size, version, kind) and splits
// off the signature.
func splitToken(raw []byte, want Kind) (body, sig []byte, err error) {
	switch {
	case len(raw) > MaxTokenSize:
		return nil, nil, fmt.Errorf("%w: token of %d bytes, at most %d", ErrLimit, len(raw), MaxTokenSize)
	case len(raw) < 2+SignatureSize:
		return nil, nil, fmt.Errorf("%w: token of %d bytes is too short", ErrMalformed, len(raw))
	case raw[0] != Version:
		return nil, nil, fmt.Errorf("%w: version %d (this program reads version %d)", ErrUnsupportedVersion, raw[0], Version)
	case Kind(raw[1]) != KindOffer && Kind(raw[1]) != KindAnswer:
		return nil, nil, fmt.Errorf("%w: unknown token kind %d", ErrMalformed, raw[1])
	case Kind(raw[1]) != want:
		return nil, nil, fmt.Errorf("%w: this is an %s token, expected an %s", ErrWrongKind, Kind(raw[1]), want)
	}
	n := len(raw) - SignatureSize
	return raw[:n], raw[n:], nil
}

// DecodeOffer decodes an offer's canonical bytes and checks its signature.
// It rejects anything not in canonical form, trailing bytes, and values
// outside the limits. It does not check time, recipient or pinning: see
// [Offer.Verify].
func DecodeOffer(raw []byte) (*Offer, error) {
	body, sig, err := splitToken(raw, KindOffer)
	if err != nil {
		return nil, err
	}
	r := &reader{b: body[2:]}
	o := &Offer{}
	copy(o.Inviter[:], r.take(IDSize, "inviter ID"))
	copy(o.Ephemeral[:], r.take(EphemeralSize, "ephemeral key"))
	copy(o.InviteID[:], r.take(InviteIDSize, "invite id"))
	created := r.u64("created")
	lifetime := r.u32("lifetime")
	if r.err == nil {
		if err := o.Inviter.Check(); err != nil {
			r.fail(fmt.Errorf("%w: inviter key: %w", ErrMalformed, err))
		}
	}
	switch flags := r.u8("flags"); {
	case r.err != nil:
	case flags == 1:
		copy(o.Recipient[:], r.take(IDSize, "recipient"))
		if r.err == nil && o.Recipient.IsZero() {
			r.fail(fmt.Errorf("%w: zero recipient ID", ErrMalformed))
		} else if r.err == nil {
			if err := o.Recipient.Check(); err != nil {
				r.fail(fmt.Errorf("%w: recipient key: %w", ErrMalformed, err))
			}
		}
	case flags != 0:
		r.fail(fmt.Errorf("%w: unknown offer flags %#x", ErrMalformed, flags))
	}
	optFlags, maxRetransmits := r.u8("channel options"), r.u8("max retransmits")
	o.Options = ChannelOptions{Unordered: optFlags&1 != 0, PartialReliability: optFlags&2 != 0, MaxRetransmits: maxRetransmits}
	if r.err == nil && (optFlags&^3 != 0 || (maxRetransmits != 0 && optFlags&2 == 0)) {
		r.fail(fmt.Errorf("%w: invalid channel options", ErrMalformed))
	}
	o.Conn = r.connDesc()
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(r.b))
	}
	if created > 1<<62 {
		return nil, fmt.Errorf("%w: creation time out of range", ErrMalformed)
	}
	o.Created = time.Unix(int64(created), 0)
	o.Lifetime = time.Duration(lifetime) * time.Second
	if o.Lifetime < MinLifetime || o.Lifetime > MaxLifetime {
		return nil, fmt.Errorf("%w: lifetime %v, must be from %v to %v", ErrLimit, o.Lifetime, MinLifetime, MaxLifetime)
	}
	if o.Conn.Role != RoleActPass {
		return nil, fmt.Errorf("%w: an offer's DTLS role must be actpass", ErrMalformed)
	}
	if o.Inviter.Verify(identity.ContextOffer, body, sig) != nil {
		return nil, ErrBadSignature
	}
	o.raw = append([]byte(nil), raw...)
	return o, nil
}

// DecodeAnswer decodes an answer's canonical bytes and checks its
// signature. It does not check that it answers a pending offer: see
// [Pending.Accept].
func DecodeAnswer(raw []byte) (*Answer, error) {
	body, sig, err := splitToken(raw, KindAnswer)
	if err != nil {
		return nil, err
	}
	r := &reader{b: body[2:]}
	a := &Answer{}
	copy(a.Answerer[:], r.take(IDSize, "answerer ID"))
	copy(a.Ephemeral[:], r.take(EphemeralSize, "ephemeral key"))
	copy(a.OfferHash[:], r.take(HashSize, "offer hash"))
	if r.err == nil {
		if err := a.Answerer.Check(); err != nil {
			r.fail(fmt.Errorf("%w: answerer key: %w", ErrMalformed, err))
		}
	}
	created := r.u64("created")
	a.Conn = r.connDesc()
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(r.b))
	}
	if created > 1<<62 {
		return nil, fmt.Errorf("%w: creation time out of range", ErrMalformed)
	}
	a.Created = time.Unix(int64(created), 0)
	if a.Conn.Role != RoleActive && a.Conn.Role != RolePassive {
		return nil, fmt.Errorf("%w: an answer's DTLS role must be active or passive", ErrMalformed)
	}
	if a.Answerer.Verify(identity.ContextAnswer, body, sig) != nil {
		return nil, ErrBadSignature
	}
	a.raw = append([]byte(nil), raw...)
	return a, nil
}
