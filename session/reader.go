package session

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sp2p/sp2p/internal/seal"
	"github.com/sp2p/sp2p/ratelimit"
)

// The receiving half of a session: reading records, the peer's budget,
// opening, dispatch by type, and the queue of messages for Receive.

// readLoop reads records, applies the peer's budget, opens them and
// dispatches them by type.
func (s *Session) readLoop() {
	defer s.wg.Done()
	defer close(s.readerDone)
	defer func() {
		// Closing incoming ends Receive: io.EOF after a clean end, the
		// session's error otherwise. Every path out of the loop has ended
		// the session already; the shutdown here only makes sure of it.
		s.shutdown(ErrClosed)
		close(s.incoming)
	}()
	var gen uint64
	if s.res != nil {
		gen = s.res.readGen()
	}
	for {
		if s.res != nil {
			gen = s.install(gen) // a resumption's new link, if one came
		}
		rec, pooled, err := s.readRecord()
		if err != nil && s.resumable() && !s.closing.Load() && s.Err() == nil &&
			!errors.Is(err, io.ErrShortBuffer) && !errors.Is(err, ErrReceiveOverflow) {
			// The link failed (or a move closed it): wait for the
			// session to resume on a new one.
			s.move(true, fmt.Errorf("reading: %w", err))
			if s.park() {
				continue
			}
			return
		}
		if err != nil {
			if s.closing.Load() {
				s.shutdown(ErrClosed)
			} else if errors.Is(err, io.ErrShortBuffer) {
				s.shutdown(fmt.Errorf("%w: a message larger than a record", ErrProtocol))
			} else if errors.Is(err, ErrReceiveOverflow) {
				s.shutdown(err)
			} else {
				s.shutdown(ErrTransportEnd)
			}
			return
		}
		ok := s.handleRecord(rec, gen)
		release(pooled)
		if !ok {
			if s.readerParked && s.Err() == nil {
				// A move stopped the link: what it still brings is
				// dropped, and the peer sends it again.
				s.readerParked = false
				if s.park() {
					continue
				}
			}
			return
		}
	}
}

// smallRecvBuffer is what a session reads records into when its transport
// keeps a message that does not fit (keepsShortReads): small records
// (messages of up to about 2 KB, pings, pongs) fit, and a larger one is
// read again into a record-sized buffer from a pool shared by all
// sessions, given back as soon as the record is handled. So an idle
// session holds 2 KiB for reading instead of 64 KiB.
const smallRecvBuffer = 2 << 10

// recvBufferSize is the size of a session's own read buffer on tr.
func recvBufferSize(tr transport) int {
	if k, ok := tr.(interface{ keepsShortReads() bool }); ok && k.keepsShortReads() {
		return smallRecvBuffer
	}
	return MaxRecord
}

// readRecord reads one record: into the session's buffer, or, when it is
// small and the record does not fit, into a pooled record-sized buffer
// (pooled, which release gives back; nil otherwise).
func (s *Session) readRecord() (rec []byte, pooled *[]byte, err error) {
	n, err := s.readTr.readMessage(s.rbuf)
	if err == nil {
		return s.rbuf[:n], nil, nil
	}
	if len(s.rbuf) >= MaxRecord || !errors.Is(err, io.ErrShortBuffer) {
		return nil, nil, err
	}
	bp := recordBufs.Get().(*[]byte)
	big := (*bp)[:MaxRecord]
	if n, err = s.readTr.readMessage(big); err != nil {
		recordBufs.Put(bp)
		return nil, nil, err
	}
	return big[:n], bp, nil
}

// release gives back a buffer readRecord took from the pool.
func release(pooled *[]byte) {
	if pooled != nil {
		recordBufs.Put(pooled)
	}
}

// handleRecord applies the peer's budget to one record, opens it (in
// place) and dispatches it; false ends the read loop.
func (s *Session) handleRecord(rec []byte, gen uint64) bool {
	n := len(rec)
	s.delivering.Store(true)
	waitStart := s.sealNow()
	err := s.limiter.Wait(s.ctx, s.peer, n)
	s.noteStall(waitStart)
	s.delivering.Store(false)
	if err != nil {
		switch {
		case errors.Is(err, ratelimit.ErrPenalized):
			s.shutdown(ErrPenalized)
		case s.ctx.Err() != nil: // the session is ending; its reason is set
		default:
			s.shutdown(fmt.Errorf("%w: %w", ErrLimiter, err))
		}
		return false
	}
	// Open in place: the plaintext overwrites the ciphertext in the
	// read buffer (an exact overlap, which the AEAD allows).
	inPlace := rec[min(n, seal.HeaderSize+seal.NonceSize):][:0]
	typ, pt, err := s.opener.Open(inPlace, rec)
	if err != nil {
		st := s.opener.Stats()
		s.rejected.Store(&st)
		s.log.Debug("record rejected", "peer", s.peer.String(), "reason", err.Error())
		switch {
		case errors.Is(err, seal.ErrReplay):
			// A duplicate (an authentic record seen before): dropping
			// it loses nothing, and it proves nothing against the
			// peer.
			return true
		case errors.Is(err, seal.ErrStale), errors.Is(err, seal.ErrFuture):
			// Authentic but out of its time: not proof of malice
			// (clocks, a link that held it back), but dropping it
			// would lose what the peer sent.
			s.shutdown(fmt.Errorf("%w: %w", ErrRecordTime, err))
			return false
		}
		// Malformed, reflected, wrong epoch or not authentic: only the
		// peer (or a forger) sends those.
		if s.limiter.Violation(s.peer) {
			s.shutdown(ErrPenalized)
			return false
		}
		return true
	}
	s.lastRecv.Store(time.Now().UnixNano())
	s.recsRecv.Add(1)
	if s.res != nil && !s.res.settled.Load() {
		s.res.settled.Store(true)
	}
	return s.dispatch(typ, pt, gen)
}

// dispatch handles one authenticated record; false ends the read loop.
func (s *Session) dispatch(typ seal.Type, pt []byte, gen uint64) bool {
	switch typ {
	case seal.TypeData, seal.TypeFragment:
		if s.peerEnded.Load() {
			s.shutdown(fmt.Errorf("%w: data after the end of data", ErrProtocol))
			return false
		}
		msg := pt
		if typ == seal.TypeFragment {
			m, err := s.reasm.Add(pt)
			if err != nil {
				s.shutdown(fmt.Errorf("%w: %w", ErrProtocol, err))
				return false
			}
			if m == nil {
				return true
			}
			msg = m
		} else {
			msg = append([]byte{}, pt...) // non-nil, even when empty
		}
		if !s.take(gen, len(msg)) {
			s.readerParked = true
			return false
		}
		return s.deliver(msg)
	case seal.TypeBatch:
		if s.peerEnded.Load() {
			s.shutdown(fmt.Errorf("%w: data after the end of data", ErrProtocol))
			return false
		}
		return s.deliverBatch(pt, gen)
	case seal.TypePing:
		// 8 bytes, or 9 with the peer's features (a ping of any other
		// length is ignored, as a later version may extend it).
		if len(pt) == 8 || len(pt) == 9 {
			if !s.gotFeatures {
				// The first ping has the features byte, or the peer has
				// none.
				s.gotFeatures = true
				var f byte
				if len(pt) == 9 {
					f = pt[8]
				}
				s.peerFeatures(f)
			}
			select {
			case s.pongDue <- binary.BigEndian.Uint64(pt):
			default: // a pong is already due
			}
		}
		return true
	case seal.TypePong:
		if len(pt) == 8 {
			sent := int64(binary.BigEndian.Uint64(pt))
			if rtt := time.Since(s.started) - time.Duration(sent); rtt >= 0 {
				s.rtt.Store(int64(rtt))
			}
		}
		return true
	case seal.TypeEnd:
		if !s.take(gen, 0) {
			s.readerParked = true
			return false
		}
		s.peerEnd()
		return true
	case seal.TypeAck:
		if s.res == nil || len(pt) != 8 {
			s.shutdown(fmt.Errorf("%w: an ack record this session did not ask for, or of %d bytes", ErrProtocol, len(pt)))
			return false
		}
		if s.res.off.Load() {
			return true // this side said it does not resume
		}
		if err := s.res.rtx.ack(binary.BigEndian.Uint64(pt)); err != nil {
			s.shutdown(err)
			return false
		}
		return true
	case seal.TypeClose:
		err := closeError(pt)
		if !errors.Is(err, ErrProtocol) {
			s.peerEnd()
		}
		s.shutdown(err)
		return false
	default: // a second Confirm
		s.shutdown(fmt.Errorf("%w: unexpected %v record", ErrProtocol, typ))
		return false
	}
}

// deliver queues one received message (its own copy) for Receive,
// waiting for room; false ends the read loop.
func (s *Session) deliver(msg []byte) bool {
	s.msgsRecv.Add(1)
	s.bytesRecv.Add(uint64(len(msg)))
	s.delivering.Store(true)
	defer s.delivering.Store(false)
	waitStart := s.sealNow()
	defer s.noteStall(waitStart)
	if !s.waitQueueSpace(len(msg)) {
		return false
	}
	select {
	case s.incoming <- msg:
		return true
	case <-s.done:
		return false
	}
}

// chargeMessage charges one more message (no bytes: its record's were
// charged) to the peer's budget, waiting as handleRecord does; false ends
// the read loop.
func (s *Session) chargeMessage() bool {
	s.delivering.Store(true)
	waitStart := s.sealNow()
	err := s.limiter.Wait(s.ctx, s.peer, 0)
	s.noteStall(waitStart)
	s.delivering.Store(false)
	if err != nil {
		switch {
		case errors.Is(err, ratelimit.ErrPenalized):
			s.shutdown(ErrPenalized)
		case s.ctx.Err() != nil:
		default:
			s.shutdown(fmt.Errorf("%w: %w", ErrLimiter, err))
		}
		return false
	}
	return true
}

// sealNow is the record layer's clock.
func (s *Session) sealNow() time.Time {
	if s.opts.Seal.Now != nil {
		return s.opts.Seal.Now()
	}
	return time.Now()
}

// noteStall adds the time since start, during which the reader was
// blocked and read nothing, to what the record layer allows beyond its
// maximum record age: records the peer sealed meanwhile waited in the
// link because of this side's backpressure. Only the reader calls it.
func (s *Session) noteStall(start time.Time) {
	if d := s.sealNow().Sub(start); d > time.Millisecond {
		s.stalled += d
		s.opener.SetAgeAllowance(s.stalled)
	}
}

// waitQueueSpace waits until a message of n bytes fits the queue of
// received messages (MaxQueuedBytes; a larger message waits for an empty
// queue) and counts it in. While it waits the reader reads nothing, so the
// peer's writes block: backpressure by bytes, not only by message count.
// Only the reader calls it.
func (s *Session) waitQueueSpace(n int) bool {
	for {
		q := s.queued.Load()
		if q == 0 || q+int64(n) <= s.maxQueued {
			s.queued.Add(int64(n))
			return true
		}
		select {
		case <-s.queueSpace:
		case <-s.done:
			return false
		}
	}
}
