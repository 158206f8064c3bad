package session

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/sp2p/sp2p/internal/seal"
)

// Send sends one message (at most the record layer's MaxMessageSize,
// 16 MiB by default). It blocks while the peer is not reading fast enough.
// If ctx ends before the first record is written, Send returns ctx.Err();
// a message cut off half-way ends the session (ErrSendAborted), because the
// peer could never complete it. While another Send of the session is
// writing, a message of at most 16 KiB is copied into the session's send
// queue and Send returns at once: the writing Send sends it next, in
// order, coalesced with the others queued meanwhile into batch records,
// before it returns; if that write fails the session ends
// (ErrSendAborted). A Send that finds nobody writing writes at once if the
// link takes the message without waiting; if the link is busy (pion still
// holds the previous write), such a small message is queued the same way
// and Send returns, and a writer of the session's sends the queue as soon
// as the link takes it. So a Send that returned nil has handed its message
// to the link or to the queue; Close sends what is queued before it ends
// the session (and says, with ErrSendAborted, if the peer did not take
// it in time).
//
// A resumable session whose link failed (Options.ResumeWindow) is moving
// to a new link: Send waits for it (as long as ctx allows) and a message
// it had begun to write is sent again on the new link, whole; it returns
// nil for such a message once it is in the retransmission buffer.
func (s *Session) Send(ctx context.Context, msg []byte) error {
	for {
		if s.res != nil {
			if err := s.waitMoved(ctx); err != nil {
				return err
			}
		}
		if s.enqueue(msg) { // another Send is writing: it sends this one next
			return nil
		}
		err, again := s.sendOne(ctx, msg)
		if !again {
			return err
		}
	}
}

// sendOne is one try of Send; again: a move stopped the link before the
// message was taken, wait and try again.
func (s *Session) sendOne(ctx context.Context, msg []byte) (err error, again bool) {
	for {
		if err := s.wmu.LockContext(ctx); err != nil {
			return err, false
		}
		if s.sendq.hasPending() {
			// Messages queued behind a busy link go first: the queue
			// writer has not had the lock yet. Let it, and wait (as long
			// as ctx allows) until it has written them.
			s.wmu.Unlock()
			if err := s.sendq.waitQueue(ctx); err != nil {
				return err, false
			}
			continue
		}
		if err := s.Err(); err != nil {
			s.wmu.Unlock()
			return err, false
		}
		if s.writeEnded {
			s.wmu.Unlock()
			return ErrWriteClosed, false
		}
		if s.closing.Load() {
			// Close has sent, or is sending, its close record: what
			// followed it would never be read.
			s.wmu.Unlock()
			return ErrClosed, false
		}
		if err := ctx.Err(); err != nil {
			s.wmu.Unlock()
			return err, false
		}
		idx := uint64(0)
		if s.resumable() {
			if s.res.isStopped() {
				s.wmu.Unlock()
				return nil, true
			}
			if limit := s.maxMessage(); len(msg) > limit {
				s.wmu.Unlock()
				return fmt.Errorf("%w: %d bytes, limit %d", seal.ErrMessageTooLarge, len(msg), limit), false
			}
			if !s.res.rtx.fits(len(msg)) {
				// Wait for the peer's acks without the lock, so that
				// this side's own acks (the heartbeat's), a Close and
				// a move can go meanwhile.
				s.wmu.Unlock()
				if err := s.waitRtxRoom(ctx, len(msg)); err != nil {
					return err, errors.Is(err, errStopped)
				}
				continue
			}
			idx = s.res.rtx.next()
			s.res.rtx.add(msg, false)
		}
		// Only now may other Sends queue behind this one: writeEnded
		// cannot change while wmu is held, so nothing queued goes after
		// an end.
		s.startWriting()
		if tw := s.deferrable(msg); tw != nil {
			if done, err := s.tryLocked(ctx, tw, msg); done {
				s.wmu.Unlock()
				return err, false
			}
		}
		err = s.sendLocked(ctx, msg, idx)
		if ferr := s.flushQueued(ctx); err == nil {
			err = ferr
		}
		s.wmu.Unlock()
		return err, false
	}
}

// maxMessage is the record layer's message size limit.
func (s *Session) maxMessage() int {
	if s.opts.Seal.MaxMessageSize > 0 {
		return s.opts.Seal.MaxMessageSize
	}
	return seal.DefaultMaxMessageSize
}

// sendGuard keeps the context's end from cutting a message of a
// resumable session once its first record is written.
type sendGuard struct {
	mu    sync.Mutex
	begun bool
}

// sendLocked sends msg, message number idx of a resumable session
// (called with wmu held, after Send's checks).
func (s *Session) sendLocked(ctx context.Context, msg []byte, idx uint64) error {
	wd, hasDeadline := s.transport().(interface{ setWriteDeadline(time.Time) error })
	// In a resumable session a message once begun is the session's to
	// deliver: the context bounds only the wait for its first record.
	resumable := s.resumable()
	// A context that can end is honoured mid-write (and only then is a
	// guard allocated).
	var g *sendGuard
	if hasDeadline && ctx.Done() != nil {
		g = &sendGuard{}
		if d, ok := ctx.Deadline(); ok {
			wd.setWriteDeadline(d)
		}
		stop := context.AfterFunc(ctx, func() {
			g.mu.Lock()
			if !g.begun {
				wd.setWriteDeadline(time.Unix(1, 0))
			}
			g.mu.Unlock()
		})
		defer func() {
			stop()
			// stop does not wait for a call of the function that has
			// begun: once begun is set it sets no deadline, so none is
			// left behind for the next Send.
			g.mu.Lock()
			g.begun = true
			g.mu.Unlock()
			wd.setWriteDeadline(time.Time{})
		}()
	}
	written := 0
	bp := recordBufs.Get().(*[]byte)
	defer recordBufs.Put(bp)
	if s.res != nil && s.res.ackPending.Load() {
		s.sendAckLocked()
	}
	buf, err := s.sealer.SealMessage((*bp)[:0], msg, MaxRecord, func(rec []byte) error {
		if err := s.transport().writeMessage(rec); err != nil {
			return err
		}
		if written == 0 && resumable && g != nil {
			g.mu.Lock()
			g.begun = true
			wd.setWriteDeadline(time.Time{})
			g.mu.Unlock()
		}
		if s.res != nil && s.res.ackPending.Load() {
			s.sendAckLocked()
		}
		written++
		s.recsSent.Add(1)
		return nil
	})
	*bp = buf[:0]
	if err != nil {
		if errors.Is(err, seal.ErrMessageTooLarge) {
			return err
		}
		if written == 0 && (ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) && !s.closing.Load()) {
			// The context ended before anything was written (the write
			// deadline, which is the context's, may fire a moment before
			// the context says so).
			if resumable {
				s.res.rtx.remove(idx)
			}
			if ctx.Err() == nil {
				return context.DeadlineExceeded
			}
			return ctx.Err()
		}
		if e := s.Err(); e != nil {
			return e
		}
		if s.closing.Load() {
			// Close cut the write short; it ends the session itself.
			return ErrClosed
		}
		if resumable {
			// The link failed or a move stopped it: the message is in
			// the retransmission buffer and goes again, whole, on the
			// next link.
			s.move(true, fmt.Errorf("writing: %w", err))
			return nil
		}
		s.shutdown(fmt.Errorf("%w: %v", ErrSendAborted, ctxErr(ctx, err)))
		return s.Err()
	}
	s.msgsSent.Add(1)
	s.bytesSent.Add(uint64(len(msg)))
	return nil
}
