package discovery

import (
	"encoding/binary"
	"fmt"
)

// The wire format (SECURITY.md, "LAN discovery and short codes", has it
// byte by byte). Every packet starts with the 4 bytes "sp2l", the version
// 0x01 and a type; every type has a fixed layout and every length is
// checked while decoding.
const (
	magic   = "sp2l"
	version = 0x01
	hdrSize = 6

	NonceSize     = 16 // beacon nonces, probe randoms, exchange ids
	TagSize       = 16 // beacon tags
	MACSize       = 32 // fetch proofs, acknowledgements, key confirmations
	SealNonceSize = 24 // XChaCha20-Poly1305
	sealOverhead  = 16

	// MaxToken is the largest token carried (invite.MaxTokenSize).
	MaxToken = 1024
	// MaxCPaceMessage is the largest CPace message accepted.
	MaxCPaceMessage = 192
	// RequestSize is the size of every request that a host answers
	// with something larger than a beacon (FETCH, INIT, CONFIRM): the
	// reply is never larger than the request (no amplification).
	RequestSize = 1200
	// ProbeSize is the size of a probe, at least as large as the beacons
	// a host sends in reply to one.
	ProbeSize = 128
	// MaxKeys is the most keys one host announces: a round of beacons
	// (MaxKeys·42 bytes) stays smaller than the probe that can cause it.
	MaxKeys = 3
	// MaxPacket is the largest packet of any type.
	MaxPacket = RequestSize

	beaconSize = hdrSize + 4 + NonceSize + TagSize // 42
	ackSize    = hdrSize + NonceSize + MACSize     // 54
)

// Packet types.
const (
	typeBeacon  = 0x01
	typeProbe   = 0x02
	typeFetch   = 0x03
	typeOffer   = 0x04
	typeAnswer  = 0x05
	typeAck     = 0x06
	typeInit    = 0x07
	typeResp    = 0x08
	typeConfirm = 0x09
)

// packet is one decoded packet; which fields are set depends on typ.
type packet struct {
	typ   byte
	epoch uint32          // beacon
	nonce [NonceSize]byte // beacon: its nonce; probe: random; fetch, init: the beacon's nonce
	tag   [TagSize]byte   // beacon
	xid   [NonceSize]byte // every exchange packet: the seeker's exchange id
	mac   [MACSize]byte   // fetch, ack, resp, confirm
	msg   []byte          // init, resp: the CPace message
	sn    [SealNonceSize]byte
	ct    []byte // offer, answer: ciphertext and tag
}

func header(typ byte) []byte {
	b := make([]byte, hdrSize, MaxPacket)
	copy(b, magic)
	b[4], b[5] = version, typ
	return b
}

// pad extends b with zero bytes to n.
func pad(b []byte, n int) []byte { return append(b, make([]byte, n-len(b))...) }

func (p *packet) encode() []byte {
	b := header(p.typ)
	switch p.typ {
	case typeBeacon:
		b = binary.BigEndian.AppendUint32(b, p.epoch)
		b = append(append(b, p.nonce[:]...), p.tag[:]...)
	case typeProbe:
		b = pad(append(b, p.nonce[:]...), ProbeSize)
	case typeFetch:
		b = pad(append(append(append(b, p.nonce[:]...), p.xid[:]...), p.mac[:]...), RequestSize)
	case typeOffer, typeAnswer:
		b = append(append(append(b, p.xid[:]...), p.sn[:]...), p.ct...)
	case typeAck:
		b = append(append(b, p.xid[:]...), p.mac[:]...)
	case typeInit:
		b = append(append(b, p.nonce[:]...), p.xid[:]...)
		b = binary.BigEndian.AppendUint16(b, uint16(len(p.msg)))
		b = pad(append(b, p.msg...), RequestSize)
	case typeResp:
		b = append(b, p.xid[:]...)
		b = binary.BigEndian.AppendUint16(b, uint16(len(p.msg)))
		b = append(append(b, p.msg...), p.mac[:]...)
	case typeConfirm:
		b = pad(append(append(b, p.xid[:]...), p.mac[:]...), RequestSize)
	default:
		panic("discovery: encoding an unknown packet type")
	}
	return b
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// zero reports whether every byte of b is zero.
func zero(b []byte) bool {
	var or byte
	for _, c := range b {
		or |= c
	}
	return or == 0
}

// decode reads one packet, checking every length and the zero padding.
// A decoded packet re-encodes to the same bytes.
func decode(b []byte) (*packet, error) {
	if len(b) > MaxPacket {
		return nil, malformed("%d bytes, at most %d", len(b), MaxPacket)
	}
	if len(b) < hdrSize || string(b[:4]) != magic {
		return nil, malformed("not an sp2p discovery packet")
	}
	if b[4] != version {
		return nil, malformed("version %d, want %d", b[4], version)
	}
	p := &packet{typ: b[5]}
	body := b[hdrSize:]
	exact := func(n int) error {
		if len(b) != n {
			return malformed("type %d: %d bytes, want %d", p.typ, len(b), n)
		}
		return nil
	}
	switch p.typ {
	case typeBeacon:
		if err := exact(beaconSize); err != nil {
			return nil, err
		}
		p.epoch = binary.BigEndian.Uint32(body)
		copy(p.nonce[:], body[4:])
		copy(p.tag[:], body[4+NonceSize:])
	case typeProbe:
		if err := exact(ProbeSize); err != nil {
			return nil, err
		}
		copy(p.nonce[:], body)
		if !zero(body[NonceSize:]) {
			return nil, malformed("probe: padding not zero")
		}
	case typeFetch:
		if err := exact(RequestSize); err != nil {
			return nil, err
		}
		copy(p.nonce[:], body)
		copy(p.xid[:], body[NonceSize:])
		copy(p.mac[:], body[2*NonceSize:])
		if !zero(body[2*NonceSize+MACSize:]) {
			return nil, malformed("fetch: padding not zero")
		}
	case typeOffer, typeAnswer:
		min, max := hdrSize+NonceSize+SealNonceSize+sealOverhead+1, hdrSize+NonceSize+SealNonceSize+sealOverhead+MaxToken
		if len(b) < min || len(b) > max {
			return nil, malformed("type %d: %d bytes, want %d to %d", p.typ, len(b), min, max)
		}
		copy(p.xid[:], body)
		copy(p.sn[:], body[NonceSize:])
		p.ct = append([]byte(nil), body[NonceSize+SealNonceSize:]...)
	case typeAck:
		if err := exact(ackSize); err != nil {
			return nil, err
		}
		copy(p.xid[:], body)
		copy(p.mac[:], body[NonceSize:])
	case typeInit:
		if err := exact(RequestSize); err != nil {
			return nil, err
		}
		copy(p.nonce[:], body)
		copy(p.xid[:], body[NonceSize:])
		n := int(binary.BigEndian.Uint16(body[2*NonceSize:]))
		if n < 1 || n > MaxCPaceMessage {
			return nil, malformed("init: CPace message of %d bytes, want 1 to %d", n, MaxCPaceMessage)
		}
		rest := body[2*NonceSize+2:]
		p.msg = append([]byte(nil), rest[:n]...)
		if !zero(rest[n:]) {
			return nil, malformed("init: padding not zero")
		}
	case typeResp:
		if len(body) < NonceSize+2 {
			return nil, malformed("resp: %d bytes, too short", len(b))
		}
		copy(p.xid[:], body)
		n := int(binary.BigEndian.Uint16(body[NonceSize:]))
		if n < 1 || n > MaxCPaceMessage {
			return nil, malformed("resp: CPace message of %d bytes, want 1 to %d", n, MaxCPaceMessage)
		}
		if err := exact(hdrSize + NonceSize + 2 + n + MACSize); err != nil {
			return nil, err
		}
		rest := body[NonceSize+2:]
		p.msg = append([]byte(nil), rest[:n]...)
		copy(p.mac[:], rest[n:])
	case typeConfirm:
		if err := exact(RequestSize); err != nil {
			return nil, err
		}
		copy(p.xid[:], body)
		copy(p.mac[:], body[NonceSize:])
		if !zero(body[NonceSize+MACSize:]) {
			return nil, malformed("confirm: padding not zero")
		}
	default:
		return nil, malformed("unknown type %d", p.typ)
	}
	return p, nil
}
