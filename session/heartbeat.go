package session

import (
	"encoding/binary"
	"time"

	"github.com/sp2p/sp2p/internal/seal"
)

// heartbeatLoop sends pings and pongs and notices a dead peer. It checks
// ten times per timeout, so a lost peer is reported at most a tenth of the
// timeout late, and pings an idle peer every third of it.
func (s *Session) heartbeatLoop() {
	defer s.wg.Done()
	timeout := s.opts.heartbeat()
	tick := time.NewTicker(timeout / 10)
	defer tick.Stop()
	var buf [8]byte
	var lastPing time.Time
	var ackWake chan struct{}
	if s.res != nil {
		ackWake = s.res.ackWake
	}
	for {
		select {
		case <-s.done:
			return
		case <-ackWake:
			// When a Send holds the lock, it sends the ack before its
			// next record (ackPending).
			if s.wmu.TryLock() {
				s.sendAckLocked()
				s.wmu.Unlock()
			}
		case v := <-s.pongDue:
			if s.wmu.TryLock() {
				binary.BigEndian.PutUint64(buf[:], v)
				s.sendRecordLocked(seal.TypePong, buf[:])
				s.wmu.Unlock()
			}
		case now := <-tick.C:
			if s.res != nil {
				if s.res.isStopped() {
					continue // moving: the resume window bounds it
				}
				if s.res.recvd.Load() > 0 {
					s.res.ackPending.Store(true)
				}
				if s.wmu.TryLock() {
					s.sendAckLocked()
					s.wmu.Unlock()
				}
			}
			idle := now.Sub(time.Unix(0, s.lastRecv.Load()))
			if idle > timeout && !s.delivering.Load() {
				if s.resumable() {
					s.move(true, errHeartbeat)
					continue
				}
				s.shutdown(errHeartbeat)
				return
			}
			if now.Sub(lastPing) < timeout/3 {
				continue
			}
			// A busy writer means records are flowing or the peer is
			// slow; either way a ping would only queue behind them.
			if s.wmu.TryLock() {
				lastPing = now
				binary.BigEndian.PutUint64(buf[:], uint64(time.Since(s.started)))
				s.sendRecordLocked(seal.TypePing, buf[:])
				s.wmu.Unlock()
			}
		}
	}
}

// Stats are a session's counters.
type Stats struct {
	MessagesSent, MessagesReceived uint64
	BytesSent, BytesReceived       uint64 // application bytes
	RecordsSent, RecordsReceived   uint64 // records that went out / were accepted
	Rejected                       seal.Stats
	RTT                            time.Duration // last measured round trip
	// Resumptions is how many times the session moved to a new link.
	Resumptions int
}

// Stats returns the session's counters.
func (s *Session) Stats() Stats {
	st := Stats{
		MessagesSent: s.msgsSent.Load(), MessagesReceived: s.msgsRecv.Load(),
		BytesSent: s.bytesSent.Load(), BytesReceived: s.bytesRecv.Load(),
		RecordsSent: s.recsSent.Load(), RecordsReceived: s.recsRecv.Load(),
		RTT: time.Duration(s.rtt.Load()),
	}
	if r := s.rejected.Load(); r != nil {
		st.Rejected = *r
	}
	if s.res != nil {
		s.res.mu.Lock()
		st.Resumptions = s.res.attempts
		s.res.mu.Unlock()
	}
	return st
}
