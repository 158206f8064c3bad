package session

import (
	"context"
	"fmt"
	"time"

	"github.com/sp2p/sp2p/internal/seal"
)

// Close ends the session: it tells the peer (who sees a clean end, not a
// lost peer) and releases the connection. Messages that Sends queued and
// reported sent go first: Close waits for them as long as it waits for the
// peer's answer below, then cuts them short and returns an error wrapping
// ErrSendAborted that says how many were not sent. A Send blocked
// meanwhile (the peer reads slowly) is cut short and returns ErrClosed;
// the close record follows what it wrote, if the peer makes room within a
// second. Close then waits for the peer's answer (up to 10 s in a
// resumable session, 1 s otherwise; SECURITY.md gives every bound) and for
// the session's goroutines to finish.
func (s *Session) Close() error {
	// First of all: no queue writer starts once Close may wait for the
	// session's goroutines.
	s.markClosing()
	if s.Err() == nil && s.res != nil && s.res.isStopped() {
		// Moving: there is no link to tell the peer on (it gives up at
		// the end of its resume window). What is queued is dropped, and
		// counted.
		s.shutdown(ErrClosed)
	}
	if s.Err() == nil {
		if s.wmu.TryLock() || s.lockForQueued() {
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
	s.sendq.mu.Lock()
	dropped := s.sendq.dropped
	s.sendq.mu.Unlock()
	if dropped > 0 {
		what := fmt.Sprintf("%d messages", dropped)
		if dropped == 1 {
			what = "1 message"
		}
		return fmt.Errorf("%w: %s reported sent before Close did not go out (the peer did not read in time)", ErrSendAborted, what)
	}
	return nil
}

// lockForQueued waits for the messages that Sends queued and reported
// sent to be written, and takes the write lock: at most as long as Close
// waits for the peer (a peer that reads slowly holds them up). It
// reports whether it has the lock; false: nothing is queued, or the
// writes did not finish in time (the caller cuts them short).
func (s *Session) lockForQueued() bool {
	if s.sendq.unsentCount() == 0 {
		return false
	}
	deadline := time.Now().Add(s.closeBound())
	for time.Now().Before(deadline) && s.Err() == nil {
		if s.wmu.TryLock() {
			return true
		}
		if s.sendq.unsentCount() == 0 {
			// Written: what holds the lock now is a Send of the usual
			// kind, which Close cuts short.
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return false
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
	select {
	case <-s.readerDone:
	case <-s.Done():
	case <-time.After(s.closeBound()):
	}
}

// closeBound is closeLinger in a resumable session, closeWait otherwise.
func (s *Session) closeBound() time.Duration {
	if s.resumable() {
		return closeLinger
	}
	return closeWait
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
	wd, ok := s.transport().(interface{ setWriteDeadline(time.Time) error })
	// What Sends queued goes before the close record (the queue writer
	// may not have had the lock yet), given as long as Close waits for
	// the peer; a write that is cut short drops the rest, and Close says
	// so.
	if s.sendq.hasPending() {
		if ok {
			wd.setWriteDeadline(time.Now().Add(s.closeBound()))
		}
		s.flushQueued(context.Background())
	}
	if ok {
		wd.setWriteDeadline(time.Now().Add(time.Second))
	}
	s.sendRecordLocked(seal.TypeClose, nil)
}
