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

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// connDesc reads a connection description whose ICE credentials are
// derived from ephemeral.
func (r *reader) connDesc(ephemeral [EphemeralSize]byte) ConnDesc {
	var d ConnDesc
	d.ICEUfrag, d.ICEPwd = ICECredentials(ephemeral)
	copy(d.Fingerprint[:], r.take(32, "fingerprint"))
	d.Role = DTLSRole(r.u8("DTLS role"))
	count := int(r.u8("candidate count"))
	if r.err == nil && count > MaxCandidates {
		r.fail(fmt.Errorf("%w: %d candidates, at most %d", ErrLimit, count, MaxCandidates))
	}
	for i := 0; i < count && r.err == nil; i++ {
		flags := r.u8("candidate flags")
		switch {
		case r.err != nil:
			return d
		case flags&0x80 != 0:
			r.fail(fmt.Errorf("%w: candidate %d has unknown flags %#x", ErrMalformed, i, flags))
			return d
		case flags&0x40 != 0 && flags != 0x40:
			r.fail(fmt.Errorf("%w: candidate %d: an mDNS name candidate must be a UDP host candidate without the IPv6 bit (flags %#x)", ErrMalformed, i, flags))
			return d
		}
		c := Candidate{Type: CandidateType(flags & 3), TCP: flags&4 != 0, TCPType: TCPType(flags >> 4 & 3)}
		var addr netip.Addr
		switch {
		case flags&0x40 != 0:
			copy(c.Name[:], r.take(16, "candidate mDNS name"))
			if r.err == nil && c.Name.IsZero() {
				r.fail(fmt.Errorf("%w: candidate %d: the nil UUID as an mDNS name", ErrMalformed, i))
			}
		case flags&8 != 0:
			addr, _ = netip.AddrFromSlice(r.take(16, "candidate address"))
		default:
			addr, _ = netip.AddrFromSlice(r.take(4, "candidate address"))
		}
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

// Signing contexts of token format version 1, which is no longer read:
// only to tell a genuine old token from a damaged one.
const (
	contextOfferV1  identity.Context = "sp2p v1 offer"
	contextAnswerV1 identity.Context = "sp2p v1 answer"
)

// versionError refuses a token of another version. A genuine token of
// version 1 (its author's signature, at the place version 1 put it,
// verifies under version 1's context) is ErrOldVersion, with the advice
// to ask for a new one; any other is ErrUnsupportedVersion alone, which
// a damaged token also gets (whether it is a newer version's is for the
// caller to judge: see the CLI).
func versionError(raw []byte) error {
	if raw[0] == 1 && len(raw) >= 2+IDSize+SignatureSize {
		ctx := contextOfferV1
		if Kind(raw[1]) == KindAnswer {
			ctx = contextAnswerV1
		}
		n := len(raw) - SignatureSize
		if (Kind(raw[1]) == KindOffer || Kind(raw[1]) == KindAnswer) && identity.ID(raw[2:2+IDSize]).Verify(ctx, raw[:n], raw[n:]) == nil {
			return fmt.Errorf("%w: this token is version 1, from an older sp2p; this program reads version %d: ask for a new token", ErrOldVersion, Version)
		}
	}
	return fmt.Errorf("%w: version %d (this program reads version %d)", ErrUnsupportedVersion, raw[0], Version)
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
		return nil, nil, versionError(raw)
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
// outside the limits. It does not check time, recipient, purpose or
// pinning: see [Offer.Verify] and [Offer.CheckPurpose]. The invite id and
// the ICE credentials are derived from the ephemeral key.
func DecodeOffer(raw []byte) (*Offer, error) {
	body, sig, err := splitToken(raw, KindOffer)
	if err != nil {
		return nil, err
	}
	r := &reader{b: body[2:]}
	o := &Offer{}
	copy(o.Inviter[:], r.take(IDSize, "inviter ID"))
	copy(o.Ephemeral[:], r.take(EphemeralSize, "ephemeral key"))
	created := r.u32("created")
	lifetime := r.u32("lifetime")
	if r.err == nil {
		if err := o.Inviter.Check(); err != nil {
			r.fail(fmt.Errorf("%w: inviter key: %w", ErrMalformed, err))
		}
	}
	flags, purpose := r.u8("flags"), r.u8("purpose")
	o.Purpose = Purpose(purpose)
	switch {
	case r.err != nil:
	case flags&^1 != 0:
		r.fail(fmt.Errorf("%w: unknown offer flags %#x", ErrMalformed, flags))
	case o.Purpose > maxPurpose:
		r.fail(fmt.Errorf("%w: unknown purpose %d", ErrMalformed, purpose))
	case flags == 1:
		copy(o.Recipient[:], r.take(IDSize, "recipient"))
		if r.err == nil && o.Recipient.IsZero() {
			r.fail(fmt.Errorf("%w: zero recipient ID", ErrMalformed))
		} else if r.err == nil {
			if err := o.Recipient.Check(); err != nil {
				r.fail(fmt.Errorf("%w: recipient key: %w", ErrMalformed, err))
			}
		}
	}
	optFlags, maxRetransmits := r.u8("channel options"), r.u8("max retransmits")
	o.Options = ChannelOptions{Unordered: optFlags&1 != 0, PartialReliability: optFlags&2 != 0, MaxRetransmits: maxRetransmits}
	if r.err == nil && (optFlags&^3 != 0 || (maxRetransmits != 0 && optFlags&2 == 0)) {
		r.fail(fmt.Errorf("%w: invalid channel options", ErrMalformed))
	}
	o.Conn = r.connDesc(o.Ephemeral)
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(r.b))
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
	o.InviteID = InviteIDOf(o.Ephemeral)
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
	created := r.u32("created")
	a.Conn = r.connDesc(a.Ephemeral)
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(r.b))
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
