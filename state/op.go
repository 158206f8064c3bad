package state

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/sp2p/sp2p/identity"
)

// Specification constants of the operation format (SECURITY.md,
// "Replicated room state"). Sizes are in bytes; every bound is inclusive.
const (
	// ContextOp signs an operation.
	ContextOp identity.Context = "sp2p v2 state op"
	// valueLabel starts the hash of an operation's value.
	valueLabel = "sp2p v2 state value"

	// OpVersion is the only operation format version.
	OpVersion = 1
	// MaxKey bounds an operation's key.
	MaxKey = 255
	// MaxValue bounds an operation's value.
	MaxValue = 64 << 10
	// MaxTags bounds the add tags one set removal names.
	MaxTags = MaxValue / hashSize
	// MaxAckEntries bounds the entries of one acknowledgement.
	MaxAckEntries = MaxValue / ackEntrySize

	hashSize     = sha256.Size
	sigSize      = 64
	ackEntrySize = 32 + 8
	cutoffSize   = 8 + hashSize

	// opFixed is the signed header before the key: version, room, author,
	// seq, prev, hlc, kind, key length.
	opFixed = 1 + 32 + 32 + 8 + hashSize + 8 + 1 + 1
	// MaxSigned bounds an operation's signed bytes.
	MaxSigned = opFixed + MaxKey + 4 + hashSize
	// MaxOp bounds an operation's wire form: signed bytes, signature, the
	// value-present flag and the value.
	MaxOp = MaxSigned + sigSize + 1 + MaxValue
	// minOp is the shortest wire form: no key, no value.
	minOp = opFixed + 4 + hashSize + sigSize + 1
)

// Kind says what an operation does.
type Kind byte

// Operation kinds.
const (
	KindSet    Kind = 1 // map: key := value
	KindDelete Kind = 2 // map: delete key
	KindAdd    Kind = 3 // set: add element (the key)
	KindRemove Kind = 4 // set: remove the element's adds named in the value
	KindCount  Kind = 5 // counter (the key) += value, a big-endian int64
	KindApp    Kind = 6 // opaque application payload on channel (the key)
	KindChat   Kind = 7 // a chat message: value is UTF-8 text
	KindCutoff Kind = 8 // creator only: the key's author ends at seq, hash (the value)
	KindAck    Kind = 9 // what the author holds: (author, seq) entries
)

func (k Kind) String() string {
	switch k {
	case KindSet:
		return "set"
	case KindDelete:
		return "delete"
	case KindAdd:
		return "add"
	case KindRemove:
		return "remove"
	case KindCount:
		return "count"
	case KindApp:
		return "app"
	case KindChat:
		return "chat"
	case KindCutoff:
		return "cutoff"
	case KindAck:
		return "ack"
	}
	return fmt.Sprintf("kind(%d)", byte(k))
}

// ErrMalformed is wrapped by every decoding error of an operation or a
// sync frame.
var ErrMalformed = errors.New("state: malformed")

// Hash names an operation: SHA-256 of its signed bytes.
type Hash [sha256.Size]byte

// String returns the hash in hex, shortened to 16 characters.
func (h Hash) String() string { return fmt.Sprintf("%x", h[:8]) }

// Op is one signed operation of an author's log. Ops are immutable once
// made; the fields are exported for reading.
type Op struct {
	Room   [32]byte
	Author identity.ID
	Seq    uint64 // 1 for an author's first op
	Prev   Hash   // the hash of the author's op Seq-1; zero for Seq 1
	HLC    uint64 // hybrid logical clock: Unix ms << 16 | counter
	Kind   Kind
	Key    []byte
	// Value is nil when Pruned: a compacted chat message keeps its header
	// (ValueLen, ValueHash and the signature still verify) but not its text.
	Value     []byte
	ValueLen  uint32
	ValueHash Hash
	Pruned    bool
	Sig       [sigSize]byte

	hash   Hash
	signed []byte
}

// Hash returns the op's hash: SHA-256 of its signed bytes.
func (o *Op) Hash() Hash { return o.hash }

// Millis returns the physical part of the op's HLC: Unix milliseconds.
func (o *Op) Millis() int64 { return int64(o.HLC >> 16) }

func valueHash(v []byte) Hash {
	h := sha256.New()
	h.Write([]byte(valueLabel))
	h.Write([]byte{0})
	h.Write(v)
	var out Hash
	h.Sum(out[:0])
	return out
}

func (o *Op) encodeSigned() []byte {
	b := make([]byte, 0, opFixed+len(o.Key)+4+hashSize)
	b = append(b, OpVersion)
	b = append(b, o.Room[:]...)
	b = append(b, o.Author[:]...)
	b = binary.BigEndian.AppendUint64(b, o.Seq)
	b = append(b, o.Prev[:]...)
	b = binary.BigEndian.AppendUint64(b, o.HLC)
	b = append(b, byte(o.Kind), byte(len(o.Key)))
	b = append(b, o.Key...)
	b = binary.BigEndian.AppendUint32(b, o.ValueLen)
	return append(b, o.ValueHash[:]...)
}

// Encode returns the op's wire form.
func (o *Op) Encode() []byte { return o.AppendEncode(nil) }

// AppendEncode appends the op's wire form to b.
func (o *Op) AppendEncode(b []byte) []byte {
	b = append(b, o.signed...)
	b = append(b, o.Sig[:]...)
	if o.Pruned {
		return append(b, 0)
	}
	b = append(b, 1)
	return append(b, o.Value...)
}

// Size returns the length of the op's wire form.
func (o *Op) Size() int {
	n := len(o.signed) + sigSize + 1
	if !o.Pruned {
		n += len(o.Value)
	}
	return n
}

// prune returns a copy of o without its value.
func (o *Op) prune() *Op {
	p := *o
	p.Value, p.Pruned = nil, true
	return &p
}

// newOp signs a new op. The fields are checked as DecodeOp checks them:
// an op that this returns decodes.
func newOp(self *identity.Identity, room [32]byte, seq uint64, prev Hash, hlc uint64, kind Kind, key, value []byte) (*Op, error) {
	o := &Op{
		Room: room, Author: self.ID(), Seq: seq, Prev: prev, HLC: hlc, Kind: kind,
		Key: append([]byte(nil), key...), Value: append([]byte{}, value...),
		ValueLen: uint32(len(value)), ValueHash: valueHash(value),
	}
	if len(key) > MaxKey || len(value) > MaxValue {
		return nil, fmt.Errorf("%w: key of %d bytes (at most %d) or value of %d bytes (at most %d)", ErrMalformed, len(key), MaxKey, len(value), MaxValue)
	}
	if err := o.checkFields(); err != nil {
		return nil, err
	}
	o.signed = o.encodeSigned()
	o.hash = sha256.Sum256(o.signed)
	copy(o.Sig[:], self.Sign(ContextOp, o.signed))
	return o, nil
}

// DecodeOp decodes one op's wire form: exactly one op, no trailing bytes.
// Every length is checked against its limit before anything is read for
// it, the value (when present) must match the signed value hash, and the
// kind's own rules are checked. The signature is not: see [Op.Verify].
func DecodeOp(b []byte) (*Op, error) {
	if len(b) < minOp {
		return nil, fmt.Errorf("%w: op of %d bytes, at least %d", ErrMalformed, len(b), minOp)
	}
	if len(b) > MaxOp {
		return nil, fmt.Errorf("%w: op of %d bytes, at most %d", ErrMalformed, len(b), MaxOp)
	}
	if b[0] != OpVersion {
		return nil, fmt.Errorf("%w: op version %d, want %d", ErrMalformed, b[0], OpVersion)
	}
	o := &Op{}
	p := 1
	p += copy(o.Room[:], b[p:])
	p += copy(o.Author[:], b[p:])
	o.Seq = binary.BigEndian.Uint64(b[p:])
	p += 8
	p += copy(o.Prev[:], b[p:])
	o.HLC = binary.BigEndian.Uint64(b[p:])
	p += 8
	o.Kind = Kind(b[p])
	keyLen := int(b[p+1])
	p += 2
	if len(b)-p < keyLen+4+hashSize+sigSize+1 {
		return nil, fmt.Errorf("%w: op truncated in its key", ErrMalformed)
	}
	o.Key = append([]byte(nil), b[p:p+keyLen]...)
	p += keyLen
	o.ValueLen = binary.BigEndian.Uint32(b[p:])
	p += 4
	if o.ValueLen > MaxValue {
		return nil, fmt.Errorf("%w: value of %d bytes, at most %d", ErrMalformed, o.ValueLen, MaxValue)
	}
	p += copy(o.ValueHash[:], b[p:])
	o.signed = append([]byte(nil), b[:p]...)
	p += copy(o.Sig[:], b[p:])
	flag := b[p]
	p++
	switch flag {
	case 0:
		o.Pruned = true
		if len(b) != p {
			return nil, fmt.Errorf("%w: %d bytes after a pruned op", ErrMalformed, len(b)-p)
		}
	case 1:
		if len(b)-p != int(o.ValueLen) {
			return nil, fmt.Errorf("%w: value of %d bytes, the op says %d", ErrMalformed, len(b)-p, o.ValueLen)
		}
		o.Value = append([]byte{}, b[p:]...)
		if valueHash(o.Value) != o.ValueHash {
			return nil, fmt.Errorf("%w: the value does not match its hash", ErrMalformed)
		}
	default:
		return nil, fmt.Errorf("%w: value flag %d, want 0 or 1", ErrMalformed, flag)
	}
	if err := o.checkFields(); err != nil {
		return nil, err
	}
	o.hash = sha256.Sum256(o.signed)
	return o, nil
}

// checkFields checks the rules that do not need the author's log.
func (o *Op) checkFields() error {
	if o.Seq == 0 {
		return fmt.Errorf("%w: sequence number 0 (an author's first op is 1)", ErrMalformed)
	}
	if (o.Seq == 1) != (o.Prev == Hash{}) {
		return fmt.Errorf("%w: the predecessor hash is zero exactly for sequence number 1", ErrMalformed)
	}
	if o.Pruned && o.Kind != KindChat {
		return fmt.Errorf("%w: only a chat op may be pruned, not a %s op", ErrMalformed, o.Kind)
	}
	n, v := len(o.Key), o.Value
	switch o.Kind {
	case KindSet, KindDelete, KindAdd, KindCount:
		if n == 0 {
			return fmt.Errorf("%w: a %s op needs a key", ErrMalformed, o.Kind)
		}
	case KindApp:
	case KindChat, KindAck:
		if n != 0 {
			return fmt.Errorf("%w: a %s op has no key", ErrMalformed, o.Kind)
		}
	case KindRemove:
		if n == 0 {
			return fmt.Errorf("%w: a remove op needs a key", ErrMalformed)
		}
	case KindCutoff:
		if n != 32 {
			return fmt.Errorf("%w: a cutoff op's key is an identity (32 bytes), not %d bytes", ErrMalformed, n)
		}
	default:
		return fmt.Errorf("%w: unknown op kind %d", ErrMalformed, byte(o.Kind))
	}
	if o.Pruned {
		return nil
	}
	switch o.Kind {
	case KindDelete, KindAdd:
		if len(v) != 0 {
			return fmt.Errorf("%w: a %s op has no value", ErrMalformed, o.Kind)
		}
	case KindRemove:
		if len(v) == 0 || len(v)%hashSize != 0 {
			return fmt.Errorf("%w: a remove op's value is 1 to %d add tags of %d bytes, not %d bytes", ErrMalformed, MaxTags, hashSize, len(v))
		}
	case KindCount:
		if len(v) != 8 {
			return fmt.Errorf("%w: a count op's value is 8 bytes, not %d", ErrMalformed, len(v))
		}
	case KindChat:
		if len(v) == 0 || !utf8.Valid(v) {
			return fmt.Errorf("%w: a chat op's value is 1 or more bytes of UTF-8", ErrMalformed)
		}
	case KindCutoff:
		if len(v) != cutoffSize {
			return fmt.Errorf("%w: a cutoff op's value is %d bytes, not %d", ErrMalformed, cutoffSize, len(v))
		}
		if binary.BigEndian.Uint64(v) == 0 && Hash(v[8:]) != (Hash{}) {
			return fmt.Errorf("%w: a cutoff at sequence number 0 names no hash", ErrMalformed)
		}
	case KindAck:
		if len(v)%ackEntrySize != 0 {
			return fmt.Errorf("%w: an ack op's value is entries of %d bytes, not %d bytes", ErrMalformed, ackEntrySize, len(v))
		}
	}
	return nil
}

// Verify checks the op's signature by its author under [ContextOp]. It
// returns nil or an error wrapping [ErrBadSignature].
func (o *Op) Verify() error {
	if err := o.Author.Verify(ContextOp, o.signed, o.Sig[:]); err != nil {
		return ErrBadSignature
	}
	return nil
}

// cutoff returns the author, sequence number and hash a cutoff op names.
func (o *Op) cutoff() (identity.ID, uint64, Hash) {
	var a identity.ID
	copy(a[:], o.Key)
	return a, binary.BigEndian.Uint64(o.Value), Hash(o.Value[8:])
}

// delta returns a count op's increment.
func (o *Op) delta() int64 { return int64(binary.BigEndian.Uint64(o.Value)) }
