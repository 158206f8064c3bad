package session

// The resume handshake on a new link, and moving the session onto it.

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/sp2p/sp2p/internal/seal"
	"github.com/sp2p/sp2p/link"
)

// resumeOn runs the resume handshake on a new channel and, when it
// succeeds, moves the session onto it.
func (s *Session) resumeOn(ctx context.Context, l link.Link, ch link.Channel, gen uint64) error {
	rs := s.res
	// From here the old link is given up: the reader takes nothing more
	// from it, so the count in the resume message is final.
	rs.mu.Lock()
	if rs.ended {
		rs.mu.Unlock()
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		// The move was called off (the old link recovered) as the new
		// link opened: keep the old one. recovered cancels under rs.mu,
		// so this check and the cancel cannot cross.
		rs.mu.Unlock()
		return err
	}
	rs.gen++
	wasStopped := rs.stopped
	rs.stopped = true
	recvd := rs.recvd.Load()
	rs.sentCtr++
	ctr := rs.sentCtr
	rs.mu.Unlock()
	if !wasStopped {
		select {
		case rs.stopSig <- struct{}{}:
		default:
		}
		s.transport().close()
	}
	hctx, cancel := context.WithTimeout(ctx, resumeHandshakeTimeout)
	defer cancel()
	stop := context.AfterFunc(hctx, func() { ch.Close() })
	defer stop()
	_ = hctx

	var tr transport = chanTransport{ch}
	if s.opts.wrapTransport != nil {
		tr = s.opts.wrapTransport(tr)
	}
	eph, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	mine := (&resumeMsg{role: rs.role, counter: ctr, pub: [32]byte(eph.PublicKey().Bytes()), received: recvd}).encode(rs.r)
	if err := tr.writeMessage(mine); err != nil {
		return fmt.Errorf("sending the resume message: %w", err)
	}
	m, theirs, err := s.readResume(tr)
	if err != nil {
		return err
	}
	if m.received > rs.rtx.next() {
		err := fmt.Errorf("%w: the peer says it took %d messages of %d sent", ErrProtocol, m.received, rs.rtx.next())
		s.shutdown(err)
		return err
	}
	pub, err := ecdh.X25519().NewPublicKey(m.pub[:])
	if err != nil {
		return fmt.Errorf("%w: the peer's key: %v", ErrResume, err)
	}
	shared, err := eph.ECDH(pub)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrResume, err)
	}
	h := sha256.New()
	if rs.role == seal.Offerer {
		h.Write(mine)
		h.Write(theirs)
	} else {
		h.Write(theirs)
		h.Write(mine)
	}
	keys, err := rs.r.Derive(shared, [32]byte(h.Sum(nil)))
	clear(shared)
	if err != nil {
		return err
	}
	sealer, opener := seal.New(keys, s.opts.Seal)
	keys.Erase()
	if err := confirmOn(tr, sealer, opener, s.sessionID); err != nil {
		sealer.Erase()
		opener.Erase()
		return err
	}
	stop() // from here the new link is the session's: no handshake timeout
	// The writers move to the new link now; the reader takes its new
	// state (transport, opener) itself when it next reads, after what
	// it is delivering: a resumption never waits for the application.
	s.wmu.Lock()
	rs.mu.Lock()
	if rs.ended { // the session ended meanwhile (endResume closed rs.cur and rs.resumed)
		rs.mu.Unlock()
		s.wmu.Unlock()
		sealer.Erase()
		opener.Erase()
		return ErrClosed // resumeLoop closes l
	}
	old := rs.cur
	rs.cur, rs.committed, rs.attempts = l, gen, rs.attempts+1
	rs.settled.Store(false)
	if p := rs.pending; p != nil { // never taken: the reader did not read meanwhile
		p.opener.Erase()
	}
	rs.pending = &readerState{tr: tr, opener: opener}
	// The reader takes the new link now, before what follows is resent:
	// the peer resends too, and if neither read until its own resend was
	// written, two resends larger than the link's buffers would wait for
	// each other for ever. (Under rs.mu, so that an install that takes
	// pending also takes this signal.)
	select {
	case rs.pendingSig <- struct{}{}:
	default:
	}
	rs.mu.Unlock()
	oldSealer := s.sealer
	s.setTransport(tr)
	s.sealer = sealer
	oldSealer.Erase()
	s.lastRecv.Store(time.Now().UnixNano())
	// What is queued for the queue writer is in the retransmission
	// buffer: it goes again from there, once (a message queued from here
	// on is not in ents, and the queue writer sends it after them).
	s.sendq.mu.Lock()
	s.sendq.dropQueuedLocked()
	ents, err := rs.rtx.from(m.received)
	s.sendq.mu.Unlock()
	if err == nil {
		err = s.resend(ents)
	}
	if err == nil {
		// A first record on the new link tells the peer this side
		// took its confirmation (it settles the link generation); it
		// is a ping with the features, in case the first one was lost
		// with the old link.
		err = s.sendRecordLocked(seal.TypePing, s.featuresPing())
	}
	s.wmu.Unlock()
	if old != nil {
		old.Close()
	}
	rs.mu.Lock()
	since := rs.since
	if rs.moving { // endResume closed it if the session ended meanwhile
		rs.moving, rs.stopped, rs.cancel = false, false, nil
		close(rs.resumed)
	}
	rs.mu.Unlock()
	s.armKnock()
	info := Resumption{After: time.Since(since), Resent: len(ents)}
	info.Path, _ = s.Path()
	s.notePath()
	s.log.Info("resumed", "peer", s.peer.String(), "after", info.After.Round(time.Millisecond), "resent", len(ents), "path", info.Path.Remote.String())
	rs.events.session(link.Resumed)
	if s.opts.OnResumed != nil {
		s.opts.OnResumed(info)
	}
	if err != nil {
		s.move(true, err)
	}
	return nil
}

// maxRefusals is how many refused resume messages a new link may bring
// before the attempt is given up.
const maxRefusals = 16

// readResume reads the peer's resume message on a new link. A message
// that is refused (malformed, not the peer's, altered, or with a counter
// not above the last one taken: a replay) is counted and skipped, and the
// next one read: whoever sent it cannot make the resumption fail, only
// wait for the real one.
func (s *Session) readResume(tr transport) (*resumeMsg, []byte, error) {
	rs := s.res
	buf := make([]byte, MaxRecord)
	for range maxRefusals {
		n, err := tr.readMessage(buf)
		if err != nil {
			return nil, nil, fmt.Errorf("reading the resume message: %w", err)
		}
		m, err := decodeResume(buf[:n], rs.r, 1-rs.role)
		if err == nil {
			rs.mu.Lock()
			if m.counter <= rs.peerCtr {
				err = fmt.Errorf("%w: counter %d, not above the last one taken (%d): a replay", ErrResume, m.counter, rs.peerCtr)
			} else {
				rs.peerCtr = m.counter
			}
			rs.mu.Unlock()
		}
		if err != nil {
			rs.refused.Add(1)
			s.log.Warn("resume message refused", "peer", s.peer.String(), "reason", err.Error())
			continue
		}
		return m, append([]byte(nil), buf[:n]...), nil
	}
	return nil, nil, fmt.Errorf("%w: %d refused in a row", ErrResume, maxRefusals)
}

// resend sends the messages the peer did not take (wmu held).
func (s *Session) resend(ents []rtxEntry) error {
	bp := recordBufs.Get().(*[]byte)
	defer recordBufs.Put(bp)
	for _, e := range ents {
		if e.end {
			if err := s.sendRecordLocked(seal.TypeEnd, nil); err != nil {
				return err
			}
			continue
		}
		buf, err := s.sealer.SealMessage((*bp)[:0], e.msg, MaxRecord, func(rec []byte) error {
			if err := s.transport().writeMessage(rec); err != nil {
				return err
			}
			s.recsSent.Add(1)
			return nil
		})
		*bp = buf[:0]
		if err != nil {
			return err
		}
	}
	return nil
}

// confirmOn exchanges key confirmations on a new link: each side's first
// record under the new keys carries the session id.
func confirmOn(tr transport, sealer *seal.Sealer, opener *seal.Opener, sid [seal.SessionIDSize]byte) error {
	rec, err := sealer.Seal(nil, seal.TypeConfirm, sid[:])
	if err != nil {
		return err
	}
	if err := tr.writeMessage(rec); err != nil {
		return fmt.Errorf("%w: sending: %v", ErrKeyConfirmation, err)
	}
	buf := make([]byte, MaxRecord)
	n, err := tr.readMessage(buf)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrKeyConfirmation, err)
	}
	typ, pt, err := opener.Open(nil, buf[:n])
	if err != nil || typ != seal.TypeConfirm || subtle.ConstantTimeCompare(pt, sid[:]) != 1 {
		return ErrKeyConfirmation
	}
	return nil
}

// eventRelay passes a link's network events to the application and to
// the session on it.
type eventRelay struct {
	user func(link.Event)
	s    atomic.Pointer[Session]
}

func (r *eventRelay) link(e link.Event) {
	if s := r.s.Load(); s != nil && s.res != nil {
		// An interruption alone starts nothing: ICE and SCTP ride out
		// a short outage on the same link. A failed link, the
		// heartbeat, a network change or the peer's knock do.
		if e == link.Recovered {
			s.recovered()
		}
	}
	if r.user != nil {
		r.user(e)
	}
}

func (r *eventRelay) session(e link.Event) {
	if r.user != nil {
		r.user(e)
	}
}
