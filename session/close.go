package session

import (
	"time"

	"github.com/sp2p/sp2p/internal/seal"
)

// Close ends the session: it tells the peer (who sees a clean end, not a
// lost peer) and releases the connection. A Send blocked meanwhile (the
// peer reads slowly) is cut short and returns ErrClosed; the close record
// follows what it wrote, if the peer makes room within a second. Close
// then waits for the peer's answer (up to 10 s in a resumable session, 1 s
// otherwise; SECURITY.md gives every bound) and for the session's
// goroutines to finish.
func (s *Session) Close() error {
	if s.Err() == nil && s.res != nil && s.res.isStopped() {
		// Moving: there is no link to tell the peer on (it gives up at
		// the end of its resume window).
		s.closing.Store(true)
		s.shutdown(ErrClosed)
	}
	if s.Err() == nil {
		s.closing.Store(true)
		if s.wmu.TryLock() {
			s.sendCloseLocked()
			s.wmu.Unlock()
			// The peer answers a close record by closing its end; wait
			// for that so the record, and what was sent before it, is
			// not lost with the connection.
			s.lingerForPeer()
		} else if s.abortSend() {
			// A Send was blocked (the peer reads slowly): it is cut
			// short, and the close record follows what it wrote, so the
			// peer still sees a clean end.
			s.sendCloseLocked()
			s.wmu.Unlock()
			s.lingerForPeer()
		} else {
			// The Send did not give way; closing the transport releases it.
			s.log.Debug("closing during a blocked send")
		}
		s.shutdown(ErrClosed)
	}
	s.wg.Wait()
	return nil
}

// closeLinger bounds how long Close waits for the peer's answer to its
// close record in a resumable session: through loss, the close record
// and the last messages before it may need a few of SCTP's
// retransmissions (its timeout is 1 to 3 s), and closing the link before
// they arrive loses them (pion aborts the association), after which a
// resumable peer waits out its resume window. A session that does not
// resume waits at most closeWait, as before resumption.
const (
	closeLinger = 10 * time.Second
	closeWait   = time.Second
)

// lingerForPeer waits for the peer to close its end after the close
// record (the reader sees the end): at most closeLinger in a resumable
// session, closeWait otherwise. Meanwhile Send and CloseWrite fail with
// ErrClosed and the session does not move.
func (s *Session) lingerForPeer() {
	wait := closeWait
	if s.resumable() {
		wait = closeLinger
	}
	select {
	case <-s.readerDone:
	case <-s.Done():
	case <-time.After(wait):
	}
}

// abortSend makes a blocked Send give up its write (it returns ErrClosed)
// and takes the write lock, waiting at most a second; it reports whether
// it has the lock.
func (s *Session) abortSend() bool {
	wd, ok := s.transport().(interface{ setWriteDeadline(time.Time) error })
	if !ok {
		return false
	}
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		wd.setWriteDeadline(time.Unix(1, 0))
		if s.wmu.TryLock() {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

func (s *Session) sendCloseLocked() {
	if wd, ok := s.transport().(interface{ setWriteDeadline(time.Time) error }); ok {
		wd.setWriteDeadline(time.Now().Add(time.Second))
	}
	s.sendRecordLocked(seal.TypeClose, nil)
}
