package state

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// The sync frames (SECURITY.md, "Replicated room state"). A frame is a
// type byte and a body; every count and length is checked against its
// limit before anything is read for it, and a frame with bytes after its
// last field is refused.
const (
	// MaxFrame bounds a sync frame, so that the room can carry one inside
	// its own frames.
	MaxFrame = 192 << 10
	// MaxBatchOps bounds the ops of one OPS frame.
	MaxBatchOps = 1024

	frameHello    = 1
	frameOps      = 2
	frameAck      = 3
	frameEvidence = 4

	entrySize = 32 + 8 + hashSize
)

type frame struct {
	typ   byte
	room  [32]byte
	hello []Entry
	batch uint32
	ops   []*Op
	evA   *Op
	evB   *Op
}

func encodeHello(room [32]byte, vec []Entry) []byte {
	b := make([]byte, 0, 1+32+2+len(vec)*entrySize)
	b = append(b, frameHello)
	b = append(b, room[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(vec)))
	for _, e := range vec {
		b = append(b, e.Author[:]...)
		b = binary.BigEndian.AppendUint64(b, e.Seq)
		b = append(b, e.Head[:]...)
	}
	return b
}

func encodeAck(batch uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte{frameAck}, batch)
}

// opsFrame builds an OPS frame.
type opsFrame struct {
	b     []byte
	count int
}

func newOpsFrame(batch uint32) *opsFrame {
	b := binary.BigEndian.AppendUint32([]byte{frameOps}, batch)
	return &opsFrame{b: append(b, 0, 0)}
}

func (f *opsFrame) fits(op *Op, limit int) bool {
	return f.count < MaxBatchOps && len(f.b)+4+op.Size() <= limit
}

func (f *opsFrame) add(op *Op) {
	f.b = binary.BigEndian.AppendUint32(f.b, uint32(op.Size()))
	f.b = op.AppendEncode(f.b)
	f.count++
}

func (f *opsFrame) bytes() []byte {
	binary.BigEndian.PutUint16(f.b[5:], uint16(f.count))
	return f.b
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// decodeFrame decodes one sync frame with its limits.
func decodeFrame(b []byte) (*frame, error) {
	if len(b) == 0 {
		return nil, malformed("empty sync frame")
	}
	if len(b) > MaxFrame {
		return nil, malformed("sync frame of %d bytes, at most %d", len(b), MaxFrame)
	}
	f := &frame{typ: b[0]}
	p := b[1:]
	switch f.typ {
	case frameHello:
		if len(p) < 34 {
			return nil, malformed("HELLO of %d bytes", len(b))
		}
		copy(f.room[:], p)
		n := int(binary.BigEndian.Uint16(p[32:]))
		p = p[34:]
		if n > MaxAuthors {
			return nil, malformed("HELLO with %d entries, at most %d", n, MaxAuthors)
		}
		if len(p) != n*entrySize {
			return nil, malformed("HELLO with %d entries has %d bytes of them, want %d", n, len(p), n*entrySize)
		}
		f.hello = make([]Entry, n)
		for i := range f.hello {
			e := &f.hello[i]
			copy(e.Author[:], p)
			e.Seq = binary.BigEndian.Uint64(p[32:])
			copy(e.Head[:], p[40:])
			p = p[entrySize:]
			if e.Seq == 0 {
				return nil, malformed("HELLO entry with sequence number 0")
			}
			if i > 0 && bytes.Compare(f.hello[i-1].Author[:], e.Author[:]) >= 0 {
				return nil, malformed("HELLO entries not in strictly ascending author order")
			}
		}
	case frameOps:
		if len(p) < 6 {
			return nil, malformed("OPS of %d bytes", len(b))
		}
		f.batch = binary.BigEndian.Uint32(p)
		n := int(binary.BigEndian.Uint16(p[4:]))
		p = p[6:]
		if n == 0 || n > MaxBatchOps {
			return nil, malformed("OPS with %d ops, 1 to %d", n, MaxBatchOps)
		}
		f.ops = make([]*Op, 0, min(n, len(p)/(minOp+4)+1))
		for range n {
			if len(p) < 4 {
				return nil, malformed("OPS truncated")
			}
			l := binary.BigEndian.Uint32(p)
			if l > MaxOp || int(l) > len(p)-4 {
				return nil, malformed("OPS op of %d bytes with %d left", l, len(p)-4)
			}
			op, err := DecodeOp(p[4 : 4+l])
			if err != nil {
				return nil, err
			}
			f.ops = append(f.ops, op)
			p = p[4+l:]
		}
		if len(p) != 0 {
			return nil, malformed("%d bytes after the last op", len(p))
		}
	case frameAck:
		if len(p) != 4 {
			return nil, malformed("ACK of %d bytes, want 5", len(b))
		}
		f.batch = binary.BigEndian.Uint32(p)
	case frameEvidence:
		a, bb, err := decodeEvidence(p)
		if err != nil {
			return nil, err
		}
		f.evA, f.evB = a, bb
	default:
		return nil, malformed("unknown sync frame type %d", f.typ)
	}
	return f, nil
}
