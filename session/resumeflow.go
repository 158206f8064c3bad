package session

// How a resumable session's writers and reader meet a move: waiting for
// room in the retransmission buffer, acks, the reader's generation, and
// the reader taking its new link.

import (
	"context"
	"encoding/binary"
	"errors"
	"time"

	"github.com/sp2p/sp2p/internal/seal"
)

// errStopped: a Send waiting for room gives way to a move.
var errStopped = errors.New("session: the link stopped")

// waitRtxRoom waits, without the write lock, until a message of n bytes
// may fit the retransmission buffer (the peer acknowledged something),
// the link stops (errStopped), or ctx or the session ends. It looks
// again every 50 ms besides.
func (s *Session) waitRtxRoom(ctx context.Context, n int) error {
	rs := s.res
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !rs.rtx.fits(n) {
		if rs.isStopped() {
			return errStopped
		}
		select {
		case <-rs.rtx.space:
		case <-tick.C:
		case <-rs.stopSig:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return s.Err()
		}
	}
	return nil
}

// sendAckLocked sends an ack if messages were taken since the last one
// (wmu held).
func (s *Session) sendAckLocked() {
	rs := s.res
	if rs == nil || !rs.peerResumes.Load() {
		return
	}
	rs.ackPending.Store(false)
	v := rs.recvd.Load()
	if v <= rs.ackSent {
		return
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	if s.sendRecordLocked(seal.TypeAck, b[:]) == nil {
		rs.ackSent = v
	}
}

// take counts one message taken from the peer by the reader reading the
// link of generation gen; false: a move stopped that link, and the
// message is dropped (the peer sends it again).
func (s *Session) take(gen uint64, n int) bool {
	rs := s.res
	if rs == nil {
		return true
	}
	rs.mu.Lock()
	if rs.gen != gen {
		rs.mu.Unlock()
		return false
	}
	rs.recvd.Add(1)
	rs.mu.Unlock()
	if rs.nAck.Add(1) >= ackEvery || rs.sinceAck.Add(int64(n)) >= ackBytes {
		rs.nAck.Store(0)
		rs.sinceAck.Store(0)
		rs.ackPending.Store(true)
		select {
		case rs.ackWake <- struct{}{}:
		default:
		}
	}
	return true
}

// readGen is the generation the reader reads now.
func (rs *resumption) readGen() uint64 {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.gen
}

// park is the reader stopping on a link a move stopped; it waits for the
// resumption, or for its state on the new link (which comes before the
// resumption resends), and reports whether to go on reading (false: the
// session ended). The reader then takes its new state (install).
func (s *Session) park() bool {
	rs := s.res
	rs.mu.Lock()
	ch := rs.resumed
	rs.mu.Unlock()
	select {
	case <-ch:
		return s.Err() == nil
	case <-rs.pendingSig: // the new link is ready (install takes it)
		return s.Err() == nil
	case <-s.done:
		return false
	}
}

// readerState is what a resumption hands the reader: the new link's
// transport and opener.
type readerState struct {
	tr     transport
	opener *seal.Opener
}

// install takes the reader's new state after a resumption, if there is
// one, and returns the generation to read from then on; otherwise gen,
// the one it reads (a move that has begun but not finished must not
// change it: what the old link still brings is dropped). Only the
// reader calls it.
func (s *Session) install(gen uint64) uint64 {
	rs := s.res
	rs.mu.Lock()
	p := rs.pending
	rs.pending = nil
	if p != nil {
		gen = rs.gen
		select {
		case <-rs.pendingSig: // taken now: a later park must not wake for it
		default:
		}
	}
	rs.mu.Unlock()
	if p != nil {
		s.opener.Erase()
		s.readTr, s.opener, s.reasm, s.stalled = p.tr, p.opener, seal.NewReassembler(s.opts.Seal), 0
	}
	return gen
}
