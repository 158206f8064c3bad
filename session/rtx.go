package session

import (
	"fmt"
	"sync"
)

// The retransmission buffer of a resumable session: a copy of every
// message (and the end of data) sent and not yet acknowledged by the
// peer, so that after a resumption the sender sends again exactly what the
// peer did not take. Messages are numbered from 0 in the order they are
// written; the peer acknowledges how many it has taken (an ack record,
// and the received count of its resume message).

// rtxEntry is one message of the stream, or its end.
type rtxEntry struct {
	msg []byte
	end bool
}

// rtxBuf is the retransmission buffer. Its methods are safe for
// concurrent use.
type rtxBuf struct {
	mu    sync.Mutex
	ents  []rtxEntry // ents[head:] are messages base, base+1, …
	head  int
	base  uint64
	bytes int
	max   int
	off   bool          // the peer does not resume: nothing is kept
	space chan struct{} // signalled when an ack frees room
	arena []byte        // where the next copies go (see copyIn)
	waste int           // arena bytes of removed messages, counted as held until the arena goes
}

// Copies of small messages are packed into arena chunks of this session's
// own (never shared with another session, never reused: a chunk is
// garbage once no entry refers to it), so that keeping a copy costs an
// allocation per chunk, not per message. Messages above rtxOwnCopy get an
// allocation of their own. What the chunks hold beyond the messages is
// bounded: the unused end of a chunk is less than rtxOwnCopy (an eighth
// of a full chunk), and the bytes of removed messages count against max
// (waste) until everything is acknowledged and the arena goes.
const (
	rtxChunkMin = 4 << 10
	rtxChunkMax = 64 << 10
	rtxOwnCopy  = 8 << 10
)

func newRtxBuf(max int) *rtxBuf {
	return &rtxBuf{max: max, space: make(chan struct{}, 1)}
}

// fits reports whether a message of n bytes may be added now: the buffer
// holds at most max bytes, or one larger message alone.
func (b *rtxBuf) fits(n int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.off || b.bytes == 0 || b.bytes+b.waste+n <= b.max
}

// add appends a copy of msg (or the end of data) as the next message.
func (b *rtxBuf) add(msg []byte, end bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.off {
		b.base++
		return
	}
	b.ents = append(b.ents, rtxEntry{msg: b.copyIn(msg), end: end})
	b.bytes += len(msg)
}

// copyIn returns a copy of msg, in the arena if it is small; b.mu is held.
func (b *rtxBuf) copyIn(msg []byte) []byte {
	if len(msg) == 0 {
		return nil
	}
	if len(msg) > rtxOwnCopy {
		c := make([]byte, len(msg))
		copy(c, msg)
		return c
	}
	if cap(b.arena)-len(b.arena) < len(msg) {
		size := min(max(2*cap(b.arena), rtxChunkMin), rtxChunkMax)
		b.arena = make([]byte, 0, size)
	}
	l := len(b.arena)
	b.arena = append(b.arena, msg...)
	return b.arena[l : l+len(msg) : l+len(msg)]
}

// remove takes back message idx, which was added but of which nothing
// was written (its Send's context ended first); the messages after it,
// queued meanwhile and not written either, move up one number.
func (b *rtxBuf) remove(idx uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.off {
		b.base--
		return
	}
	if idx < b.base || idx >= b.base+uint64(len(b.ents)-b.head) {
		return
	}
	i := b.head + int(idx-b.base)
	b.bytes -= len(b.ents[i].msg)
	if l := len(b.ents[i].msg); l > 0 && l <= rtxOwnCopy {
		b.waste += l // its bytes stay in their chunk
	}
	b.ents = append(b.ents[:i], b.ents[i+1:]...)
	b.ents[:len(b.ents)+1][len(b.ents)] = rtxEntry{} // no reference left past the end
}

// next is the number of the next message to be added.
func (b *rtxBuf) next() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.base + uint64(len(b.ents)-b.head)
}

// ack drops the messages before n: the peer has taken n messages. An n
// beyond what was sent is the peer's lie.
func (b *rtxBuf) ack(n uint64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	next := b.base + uint64(len(b.ents)-b.head)
	if n > next {
		return fmt.Errorf("%w: the peer acknowledged %d messages of %d sent", ErrProtocol, n, next)
	}
	for b.base < n {
		b.bytes -= len(b.ents[b.head].msg)
		b.ents[b.head] = rtxEntry{}
		b.head++
		b.base++
	}
	if b.head > 64 && b.head*2 > len(b.ents) {
		n := copy(b.ents, b.ents[b.head:])
		clear(b.ents[n:]) // no copies kept alive past the end
		b.ents, b.head = b.ents[:n], 0
	}
	if b.head == len(b.ents) {
		// Everything is acknowledged: an idle session keeps no chunk.
		clear(b.ents)
		b.ents, b.head, b.arena, b.waste = b.ents[:0], 0, nil, 0
	}
	select {
	case b.space <- struct{}{}:
	default:
	}
	return nil
}

// from returns the messages from n on, for sending again after a
// resumption (after ack(n), so they are all the buffer holds).
func (b *rtxBuf) from(n uint64) ([]rtxEntry, error) {
	if err := b.ack(n); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.off {
		return nil, nil
	}
	return append([]rtxEntry(nil), b.ents[b.head:]...), nil
}

// disable stops keeping messages (the peer does not resume).
func (b *rtxBuf) disable() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.base += uint64(len(b.ents) - b.head)
	b.ents, b.head, b.bytes, b.off, b.arena, b.waste = nil, 0, 0, true, nil, 0
	select {
	case b.space <- struct{}{}:
	default:
	}
}
