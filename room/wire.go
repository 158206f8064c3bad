package room

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/session"
)

// The room wire format (SECURITY.md, "Rooms"). Every frame travels as one
// session message: a type byte, then the body. Integers are big-endian,
// every field has a fixed place, variable fields are length-prefixed, and
// a frame with bytes after its last field is refused. The limits below are
// checked while decoding, before anything is allocated for the field.
const (
	// MaxFrame bounds a frame in bytes.
	MaxFrame = 256 << 10
	// MaxPayload bounds a room message's payload.
	MaxPayload = 64 << 10
	// MaxNameLen bounds a room's name in bytes (UTF-8).
	MaxNameLen = 64
	// MaxRecords bounds the membership records of a room (admissions and
	// removals together) and of one frame.
	MaxRecords = 1024
	// MaxIDs bounds the message IDs of one IHAVE or IWANT.
	MaxIDs = 512
	// MaxIntroPeers bounds the identities of one introduction request or
	// reply.
	MaxIntroPeers = 16
	// MaxTokenText bounds an introduced token's text form.
	MaxTokenText = 8192
	// MaxHops bounds how far a message travels: a message that arrives
	// with this many hops is delivered but not forwarded further, and one
	// with more is invalid.
	MaxHops = 16
	// MaxBackoff bounds a PRUNE's backoff.
	MaxBackoff = time.Hour

	nonceSize  = 16
	recordSize = 1 + 32 + 32 + 32 + 8 + 64
	msgHeader  = 32 + 32 + 8 + 8 + 4 // room, origin, seq, time, length
)

// Frame types.
const (
	frameWelcome     = 1
	frameHello       = 2
	frameRecords     = 3
	framePublish     = 4
	frameIHave       = 5
	frameIWant       = 6
	frameGraft       = 7
	framePrune       = 8
	frameIntroReq    = 9
	frameIntroPeers  = 10
	frameIntroOffer  = 11
	frameIntroAnswer = 12
	frameDirect      = 13
	frameResumeHint  = 14
)

// Record kinds.
const (
	recordAdmit  = 1
	recordRemove = 2
)

// Signing contexts of rooms.
const (
	// ContextAdmit signs an admission record.
	ContextAdmit identity.Context = "sp2p v2 room admit"
	// ContextRemove signs a removal record.
	ContextRemove identity.Context = "sp2p v2 room remove"
	// ContextMessage signs a room message.
	ContextMessage identity.Context = "sp2p v2 room message"
)

// roomIDLabel starts the input of a room's ID.
const roomIDLabel = "sp2p v2 room id"

// ErrMalformed is wrapped by every decoding error of the room wire format.
var ErrMalformed = errors.New("room: malformed frame")

// ID identifies a room: SHA-256 over a label, the creator's key, a random
// nonce and the name.
type ID [32]byte

// String returns the ID in hex, shortened to 16 characters.
func (id ID) String() string { return fmt.Sprintf("%x", id[:8]) }

// MessageID identifies a room message: SHA-256 of its signed bytes.
type MessageID [32]byte

// String returns the ID in hex, shortened to 16 characters.
func (id MessageID) String() string { return fmt.Sprintf("%x", id[:8]) }

// descriptor is what a room's ID is computed from.
type descriptor struct {
	creator identity.ID
	nonce   [nonceSize]byte
	name    string
}

func (d *descriptor) id() ID {
	h := sha256.New()
	h.Write([]byte(roomIDLabel))
	h.Write([]byte{0})
	h.Write(d.creator[:])
	h.Write(d.nonce[:])
	h.Write([]byte{byte(len(d.name))})
	h.Write([]byte(d.name))
	var id ID
	h.Sum(id[:0])
	return id
}

func checkName(name string) error {
	if len(name) == 0 || len(name) > MaxNameLen {
		return fmt.Errorf("%w: a room name has 1 to %d bytes", ErrBadName, MaxNameLen)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w: not UTF-8", ErrBadName)
	}
	for _, c := range name {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("%w: control character", ErrBadName)
		}
	}
	return nil
}

// record is an admission or a removal.
type record struct {
	kind    byte
	room    ID
	signer  identity.ID
	subject identity.ID
	time    int64 // unix milliseconds
	sig     [64]byte
}

func (r *record) signed() []byte {
	b := make([]byte, 0, 32+32+32+8)
	b = append(b, r.room[:]...)
	b = append(b, r.signer[:]...)
	b = append(b, r.subject[:]...)
	return binary.BigEndian.AppendUint64(b, uint64(r.time))
}

func (r *record) context() identity.Context {
	if r.kind == recordRemove {
		return ContextRemove
	}
	return ContextAdmit
}

func (r *record) verify() error {
	return r.signer.Verify(r.context(), r.signed(), r.sig[:])
}

func (r *record) append(b []byte) []byte {
	b = append(b, r.kind)
	b = append(b, r.signed()...)
	return append(b, r.sig[:]...)
}

func newRecord(kind byte, room ID, signer *identity.Identity, subject identity.ID, now time.Time) record {
	r := record{kind: kind, room: room, signer: signer.ID(), subject: subject, time: now.UnixMilli()}
	copy(r.sig[:], signer.Sign(r.context(), r.signed()))
	return r
}

// message is a room message as signed by its origin.
type message struct {
	room    ID
	origin  identity.ID
	seq     uint64
	time    int64 // unix milliseconds
	payload []byte
	sig     [64]byte
}

func (m *message) signed() []byte {
	b := make([]byte, 0, msgHeader+len(m.payload))
	b = append(b, m.room[:]...)
	b = append(b, m.origin[:]...)
	b = binary.BigEndian.AppendUint64(b, m.seq)
	b = binary.BigEndian.AppendUint64(b, uint64(m.time))
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.payload)))
	return append(b, m.payload...)
}

// id is SHA-256 of the signed bytes (the signature excluded, so that the
// ID names the content: no second valid ID for the same message).
func (m *message) id() MessageID { return sha256.Sum256(m.signed()) }

// publishFrame is a PUBLISH frame: the message and its hop count (outside
// the signature: it changes on the way).
func publishFrame(m *message, hops byte) []byte {
	s := m.signed()
	b := make([]byte, 0, 2+len(s)+64)
	b = append(b, framePublish, hops)
	b = append(b, s...)
	return append(b, m.sig[:]...)
}

// frame is a decoded frame; which fields are set depends on typ.
type frame struct {
	typ byte

	// direct
	channel byte
	direct  []byte

	// welcome
	desc descriptor
	// welcome, records
	records []record
	// hello
	room ID
	mesh bool
	// publish
	hops byte
	msg  message
	// ihave, iwant
	ids []MessageID
	// prune
	backoff time.Duration
	// intro request and peers
	want  int
	peers []identity.ID
	// intro offer and answer
	peer  identity.ID
	needy bool // the inviter has fewer than Low mesh neighbours
	token string
}

// reader decodes with bounds checks; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, a ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
	}
}

func (r *reader) bytes(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b) < n {
		r.fail("%s cut short", what)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8(what string) byte {
	b := r.bytes(1, what)
	if b == nil {
		return 0
	}
	return b[0]
}

func (r *reader) u16(what string) int {
	b := r.bytes(2, what)
	if b == nil {
		return 0
	}
	return int(binary.BigEndian.Uint16(b))
}

func (r *reader) u32(what string) uint32 {
	b := r.bytes(4, what)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint32(b)
}

func (r *reader) u64(what string) uint64 {
	b := r.bytes(8, what)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func (r *reader) id(what string) (id identity.ID) {
	copy(id[:], r.bytes(32, what))
	return id
}

func (r *reader) record() (rec record) {
	rec.kind = r.u8("record kind")
	if r.err == nil && rec.kind != recordAdmit && rec.kind != recordRemove {
		r.fail("record kind %d", rec.kind)
	}
	copy(rec.room[:], r.bytes(32, "record room"))
	rec.signer = r.id("record signer")
	rec.subject = r.id("record subject")
	rec.time = int64(r.u64("record time"))
	copy(rec.sig[:], r.bytes(64, "record signature"))
	return rec
}

func (r *reader) records() []record {
	n := r.u16("record count")
	if n > MaxRecords {
		r.fail("%d records, at most %d", n, MaxRecords)
	}
	if r.err == nil && len(r.b) < n*recordSize {
		r.fail("records cut short")
	}
	if r.err != nil {
		return nil
	}
	recs := make([]record, n)
	for i := range recs {
		recs[i] = r.record()
	}
	return recs
}

func (r *reader) ids() []MessageID {
	n := r.u16("ID count")
	if n == 0 || n > MaxIDs {
		r.fail("%d message IDs, 1 to %d allowed", n, MaxIDs)
	}
	if r.err == nil && len(r.b) < n*32 {
		r.fail("message IDs cut short")
	}
	if r.err != nil {
		return nil
	}
	ids := make([]MessageID, n)
	for i := range ids {
		copy(ids[i][:], r.bytes(32, "message ID"))
	}
	return ids
}

func (r *reader) peers(min int) []identity.ID {
	n := int(r.u8("peer count"))
	if n < min || n > MaxIntroPeers {
		r.fail("%d peers, %d to %d allowed", n, min, MaxIntroPeers)
	}
	if r.err == nil && len(r.b) < n*32 {
		r.fail("peers cut short")
	}
	if r.err != nil {
		return nil
	}
	ps := make([]identity.ID, n)
	for i := range ps {
		ps[i] = r.id("peer")
	}
	return ps
}

// decodeFrame decodes one frame, enforcing every limit of the format.
// It checks no signature.
func decodeFrame(b []byte) (*frame, error) {
	if len(b) > MaxFrame {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrMalformed, len(b), MaxFrame)
	}
	r := &reader{b: b}
	f := &frame{typ: r.u8("frame type")}
	switch f.typ {
	case frameWelcome:
		f.desc.creator = r.id("creator")
		copy(f.desc.nonce[:], r.bytes(nonceSize, "nonce"))
		n := int(r.u8("name length"))
		name := r.bytes(n, "name")
		if r.err == nil {
			f.desc.name = string(name)
			if err := checkName(f.desc.name); err != nil {
				r.fail("%v", err)
			}
		}
		f.records = r.records()
	case frameHello:
		copy(f.room[:], r.bytes(32, "room"))
		switch r.u8("hello flags") {
		case 0:
		case 1:
			f.mesh = true
		default:
			r.fail("unknown hello flags")
		}
	case frameRecords:
		f.records = r.records()
		if r.err == nil && len(f.records) == 0 {
			r.fail("no records")
		}
	case framePublish:
		f.hops = r.u8("hops")
		if r.err == nil && f.hops > MaxHops {
			r.fail("%d hops, at most %d", f.hops, MaxHops)
		}
		m := &f.msg
		copy(m.room[:], r.bytes(32, "room"))
		m.origin = r.id("origin")
		m.seq = r.u64("sequence number")
		m.time = int64(r.u64("time"))
		n := r.u32("payload length")
		if r.err == nil && n > MaxPayload {
			r.fail("payload of %d bytes, at most %d", n, MaxPayload)
		}
		if r.err == nil {
			m.payload = r.bytes(int(n), "payload")
		}
		copy(m.sig[:], r.bytes(64, "signature"))
	case frameIHave, frameIWant:
		f.ids = r.ids()
	case frameGraft:
	case framePrune:
		s := r.u16("backoff")
		if r.err == nil && time.Duration(s)*time.Second > MaxBackoff {
			r.fail("backoff of %d s, at most %v", s, MaxBackoff)
		}
		f.backoff = time.Duration(s) * time.Second
	case frameIntroReq:
		f.want = int(r.u8("wanted peers"))
		if r.err == nil && (f.want == 0 || f.want > MaxIntroPeers) {
			r.fail("%d wanted peers, 1 to %d allowed", f.want, MaxIntroPeers)
		}
		f.peers = r.peers(0)
	case frameIntroPeers:
		f.peers = r.peers(0)
	case frameIntroOffer, frameIntroAnswer, frameResumeHint:
		f.peer = r.id("peer")
		switch fl := r.u8("flags"); {
		case fl == 0:
		case fl == 1 && (f.typ == frameIntroOffer || f.typ == frameResumeHint):
			f.needy = true // for a resume hint: delivered, not to relay
		default:
			r.fail("unknown flags %d", fl)
		}
		n := r.u16("token length")
		if r.err == nil && n > MaxTokenText {
			r.fail("token of %d bytes, at most %d", n, MaxTokenText)
		}
		if r.err == nil && f.typ == frameResumeHint && (n == 0 || n > session.MaxResumeTokenText) {
			r.fail("resume token of %d bytes, 1 to %d allowed", n, session.MaxResumeTokenText)
		}
		if r.err == nil && f.typ == frameIntroOffer && n == 0 {
			r.fail("empty offer")
		}
		tok := r.bytes(n, "token")
		for _, c := range tok {
			if c < 0x21 || c > 0x7e {
				r.fail("token is not printable ASCII")
				break
			}
		}
		f.token = string(tok)
	case frameDirect:
		f.channel = r.u8("channel")
		if r.err == nil && f.channel == 0 {
			r.fail("direct channel 0")
		}
		n := r.u32("direct length")
		if r.err == nil && n > MaxDirect {
			r.fail("direct payload of %d bytes, at most %d", n, MaxDirect)
		}
		if r.err == nil {
			f.direct = r.bytes(int(n), "direct payload")
		}
	default:
		if r.err == nil {
			r.fail("unknown frame type %d", f.typ)
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d bytes after the frame", len(r.b))
	}
	if r.err != nil {
		return nil, r.err
	}
	return f, nil
}

// Encoders. They build frames the decoder accepts; callers respect the
// limits (the counts are checked here too, as a guard).

func welcomeFrame(d *descriptor, recs []record) []byte {
	b := []byte{frameWelcome}
	b = append(b, d.creator[:]...)
	b = append(b, d.nonce[:]...)
	b = append(b, byte(len(d.name)))
	b = append(b, d.name...)
	return appendRecords(b, recs)
}

func appendRecords(b []byte, recs []record) []byte {
	if len(recs) > MaxRecords {
		recs = recs[:MaxRecords]
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(recs)))
	for i := range recs {
		b = recs[i].append(b)
	}
	return b
}

func recordsFrame(recs []record) []byte {
	return appendRecords([]byte{frameRecords}, recs)
}

func helloFrame(room ID, mesh bool) []byte {
	b := append([]byte{frameHello}, room[:]...)
	if mesh {
		return append(b, 1)
	}
	return append(b, 0)
}

func idsFrame(typ byte, ids []MessageID) []byte {
	if len(ids) > MaxIDs {
		ids = ids[:MaxIDs]
	}
	b := binary.BigEndian.AppendUint16([]byte{typ}, uint16(len(ids)))
	for _, id := range ids {
		b = append(b, id[:]...)
	}
	return b
}

func pruneFrame(backoff time.Duration) []byte {
	return binary.BigEndian.AppendUint16([]byte{framePrune}, uint16(backoff/time.Second))
}

func peersFrame(typ byte, want int, peers []identity.ID) []byte {
	if len(peers) > MaxIntroPeers {
		peers = peers[:MaxIntroPeers]
	}
	b := []byte{typ}
	if typ == frameIntroReq {
		b = append(b, byte(want))
	}
	b = append(b, byte(len(peers)))
	for _, p := range peers {
		b = append(b, p[:]...)
	}
	return b
}

func tokenFrame(typ byte, peer identity.ID, needy bool, token string) []byte {
	b := append([]byte{typ}, peer[:]...)
	if needy {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(token)))
	return append(b, token...)
}
