package seal

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Fragment payload format (SECURITY.md, "Fragments"): a message larger than
// one record travels as TypeFragment records whose payload is
//
//	offset size
//	0      4    message id (chosen by the sender, incrementing)
//	4      4    total message length
//	8      4    chunk size: the length of every fragment but the last
//	12     4    fragment index
//	16     ...  message bytes [index*chunk, min((index+1)*chunk, total))
const (
	FragmentHeaderSize = 16
	// MinFragmentChunk is the smallest chunk size a receiver accepts, so
	// that a message cannot be split into millions of tiny pieces.
	MinFragmentChunk = 1024
	// MinRecordForMessages is the smallest maxRecord SealMessage accepts.
	MinRecordForMessages = Overhead + FragmentHeaderSize + MinFragmentChunk
)

// Errors of fragmentation and reassembly.
var (
	ErrMessageTooLarge  = errors.New("seal: message larger than MaxMessageSize")
	ErrTooManyPending   = errors.New("seal: too many messages in reassembly at once (MaxPendingMessages)")
	ErrReassemblyMemory = errors.New("seal: reassembly memory limit (MaxReassemblyBytes) reached")
	ErrBadFragment      = errors.New("seal: invalid fragment")
)

// SealMessage seals msg as one TypeData record if it fits in maxRecord
// bytes, else as TypeFragment records of at most maxRecord bytes, and calls
// emit with each record in order. emit must not keep the record after it
// returns. buf is scratch space; the possibly grown buf is returned for
// reuse. maxRecord is capped at MaxRecordSize and must be at least
// MinRecordForMessages.
func (s *Sealer) SealMessage(buf, msg []byte, maxRecord int, emit func(record []byte) error) ([]byte, error) {
	if maxRecord < MinRecordForMessages {
		panic(fmt.Sprintf("seal: maxRecord %d is below %d", maxRecord, MinRecordForMessages))
	}
	maxRecord = min(maxRecord, MaxRecordSize)
	if len(msg) > s.cfg.MaxMessageSize {
		return buf, fmt.Errorf("%w: %d bytes, limit %d", ErrMessageTooLarge, len(msg), s.cfg.MaxMessageSize)
	}
	if cap(buf) < maxRecord {
		buf = make([]byte, 0, maxRecord)
	}
	if len(msg) <= maxRecord-Overhead {
		rec, err := s.Seal(buf[:0], TypeData, msg)
		if err != nil {
			return buf, err
		}
		return buf, emit(rec)
	}
	chunk := maxRecord - Overhead - FragmentHeaderSize
	id := s.msgID
	s.msgID++
	for index, off := 0, 0; off < len(msg); index, off = index+1, off+chunk {
		part := msg[off:min(off+chunk, len(msg))]
		rec, nonce, err := s.prepare(buf[:0], TypeFragment)
		if err != nil {
			return buf, err
		}
		// Lay out the payload after the nonce and seal it in place.
		pt := rec[len(rec) : len(rec)+FragmentHeaderSize+len(part)]
		binary.BigEndian.PutUint32(pt[0:], id)
		binary.BigEndian.PutUint32(pt[4:], uint32(len(msg)))
		binary.BigEndian.PutUint32(pt[8:], uint32(chunk))
		binary.BigEndian.PutUint32(pt[12:], uint32(index))
		copy(pt[FragmentHeaderSize:], part)
		rec = s.state.aead.Seal(rec, nonce, pt, rec[:HeaderSize])
		s.seq++
		s.epochRecords++
		if err := emit(rec); err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// Reassembler puts fragmented messages back together, within the limits of
// its Config (MaxMessageSize, MaxPendingMessages, MaxReassemblyBytes). The
// zero value uses the default limits. It is not safe for concurrent use. Any error means the peer broke the protocol:
// the session should end.
type Reassembler struct {
	cfg     Config
	pending map[uint32]*partial
	bytes   int
}

type partial struct {
	buf       []byte
	chunk     uint32
	got       []uint64 // bitmap of received fragment indices
	remaining int
}

// NewReassembler returns a Reassembler with cfg's limits (zero fields take
// the defaults).
func NewReassembler(cfg Config) *Reassembler {
	return &Reassembler{cfg: cfg.withDefaults(), pending: map[uint32]*partial{}}
}

// Add takes the payload of a TypeFragment record. It returns the whole
// message when this fragment completes it, or nil.
func (r *Reassembler) Add(fragment []byte) ([]byte, error) {
	if r.pending == nil { // the zero value: default limits
		r.cfg = r.cfg.withDefaults()
		r.pending = map[uint32]*partial{}
	}
	if len(fragment) < FragmentHeaderSize {
		return nil, fmt.Errorf("%w: %d bytes is shorter than the fragment header", ErrBadFragment, len(fragment))
	}
	id := binary.BigEndian.Uint32(fragment[0:])
	total := binary.BigEndian.Uint32(fragment[4:])
	chunk := binary.BigEndian.Uint32(fragment[8:])
	index := binary.BigEndian.Uint32(fragment[12:])
	data := fragment[FragmentHeaderSize:]
	switch {
	case chunk < MinFragmentChunk || chunk > MaxPayload-FragmentHeaderSize:
		return nil, fmt.Errorf("%w: chunk size %d outside [%d, %d]", ErrBadFragment, chunk, MinFragmentChunk, MaxPayload-FragmentHeaderSize)
	case uint64(total) > uint64(r.cfg.MaxMessageSize):
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMessageTooLarge, total, r.cfg.MaxMessageSize)
	case total <= chunk:
		return nil, fmt.Errorf("%w: a %d-byte message fits one record and must not be fragmented", ErrBadFragment, total)
	}
	count := (total + chunk - 1) / chunk
	if index >= count {
		return nil, fmt.Errorf("%w: index %d, message has %d fragments", ErrBadFragment, index, count)
	}
	want := chunk
	if index == count-1 {
		want = total - (count-1)*chunk
	}
	if uint32(len(data)) != want {
		return nil, fmt.Errorf("%w: fragment %d has %d bytes, want %d", ErrBadFragment, index, len(data), want)
	}
	p := r.pending[id]
	if p == nil {
		if len(r.pending) >= r.cfg.MaxPendingMessages {
			return nil, fmt.Errorf("%w: %d", ErrTooManyPending, r.cfg.MaxPendingMessages)
		}
		if r.bytes+int(total) > r.cfg.MaxReassemblyBytes {
			return nil, fmt.Errorf("%w: %d + %d bytes, limit %d", ErrReassemblyMemory, r.bytes, total, r.cfg.MaxReassemblyBytes)
		}
		p = &partial{buf: make([]byte, total), chunk: chunk, got: make([]uint64, (count+63)/64), remaining: int(count)}
		r.pending[id] = p
		r.bytes += int(total)
	} else if uint32(len(p.buf)) != total || p.chunk != chunk {
		return nil, fmt.Errorf("%w: fragment %d of message %d changes its length or chunk size", ErrBadFragment, index, id)
	}
	if p.got[index/64]&(1<<(index%64)) != 0 {
		return nil, fmt.Errorf("%w: duplicate fragment %d of message %d", ErrBadFragment, index, id)
	}
	p.got[index/64] |= 1 << (index % 64)
	copy(p.buf[index*chunk:], data)
	p.remaining--
	if p.remaining > 0 {
		return nil, nil
	}
	delete(r.pending, id)
	r.bytes -= len(p.buf)
	return p.buf, nil
}

// Pending returns how many messages are in reassembly and their total size.
func (r *Reassembler) Pending() (messages, bytes int) { return len(r.pending), r.bytes }
