package session

import (
	"context"
	"crypto/ecdh"
	crand "crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sp2p/sp2p/internal/seal"
	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/link"
)

// Resumption (SECURITY.md, "Resumption"). When a resumable session's link
// fails, or the network changes, the session moves: sends wait, and both
// sides make a new link. Neither can tell the other its new description
// (the old link is gone), so each predicts the other's: the ICE
// credentials of the next link generation, derived from the session's
// resume secret; the certificate, which the link anchor keeps for the
// session; the peer's last known candidates, where the anchor's sockets
// keep answering. On the new link each side sends a resume message (a
// fresh X25519 key, a strictly increasing counter, how many of the peer's
// messages it has taken; tagged under the resume secret) and a key
// confirmation under the new keys; then each sends again what the other
// did not take, from its retransmission buffer.

// Timing of resumption.
const (
	// attemptTimeout is how long one link attempt waits to open before
	// the next one is made (pion gives up on a candidate pair after a few
	// unanswered checks; a new link checks again).
	attemptTimeout = 10 * time.Second
	// softWait is how long a move keeps the old link while the new one
	// opens (make-before-break). pion's shared sockets route a peer
	// address's packets to the link that last wrote to it, so a new link
	// to a peer whose address did not change opens only once the old one
	// is closed: after softWait it is.
	softWait = 3 * time.Second
	// resumeHandshakeTimeout bounds the resume messages and key
	// confirmations on a new link.
	resumeHandshakeTimeout = 10 * time.Second
	// ackEvery and ackBytes: the receiver acknowledges after this many
	// messages or bytes, and at the heartbeat's checks.
	ackEvery = 64
	ackBytes = 256 << 10
)

// Features, the ninth byte of a ping (with featureBatch).
const featureResume = 0x02

// resumption is a resumable session's state; nil in a session that does
// not resume.
type resumption struct {
	r        *seal.Resumer
	role     seal.Role
	window   time.Duration
	anchor   *link.Anchor
	peerDesc invite.ConnDesc
	channel  invite.ChannelOptions
	events   *eventRelay
	rtx      *rtxBuf

	off         atomic.Bool  // the peer does not resume
	peerResumes atomic.Bool  // the peer announced it resumes: acks may be sent
	settled     atomic.Bool  // a record arrived on the link in use after its confirmation
	refused     atomic.Int64 // resume messages refused

	recvd      atomic.Uint64 // messages taken from the peer (changed under mu)
	sinceAck   atomic.Int64  // bytes taken since the last ack was due
	nAck       atomic.Int64  // messages taken since the last ack was due
	ackSent    uint64        // the last ack sent; under the session's wmu
	ackPending atomic.Bool   // an ack is due: the next writer sends it
	ackWake    chan struct{} // the reader asks for an ack
	stopSig    chan struct{} // a Send waiting for room is told the link stopped
	parked     chan struct{} // the reader stopped reading the old link

	mu         sync.Mutex
	ended      bool
	moving     bool
	stopped    bool // the old link is closed: Sends wait
	since      time.Time
	resumed    chan struct{} // closed when the move ends (or the session)
	cancel     context.CancelFunc
	gen        uint64 // bumped when the reader must stop taking from the old link
	sentCtr    uint64
	peerCtr    uint64
	committed  uint64 // generation of the link in use (0: the handshake's)
	lastRemote netip.AddrPort
	cur        link.Link
	attempts   int
	unwatch    func() // stops the network watch
}

func newResumption(keys *seal.Keys, opts *Options, l link.Link, peerDesc *invite.ConnDesc, ch invite.ChannelOptions, anchor *link.Anchor, events *eventRelay) *resumption {
	rs := &resumption{
		r: keys.Resumer(), role: keys.Role, window: opts.resumeWindow(), anchor: anchor, peerDesc: *peerDesc,
		channel: ch, events: events, rtx: newRtxBuf(opts.resumeBuffer()),
		ackWake: make(chan struct{}, 1), stopSig: make(chan struct{}, 1), parked: make(chan struct{}, 1),
		resumed: make(chan struct{}), cur: l,
	}
	close(rs.resumed)
	rs.peerDesc.Candidates = slices.Clone(peerDesc.Candidates)
	return rs
}

// Resumption is what Options.OnResumed is told.
type Resumption struct {
	// After is the time from the start of the move (the link failed or
	// the network changed) to the session running on the new link.
	After time.Duration
	// Path is the new link's path, if the link knows it.
	Path link.PathStats
	// Resent is how many messages were sent again because the peer had
	// not taken them.
	Resent int
}

// resumable reports whether the session resumes when its link fails.
func (s *Session) resumable() bool { return s.res != nil && !s.res.off.Load() }

// armKnock asks the anchor to tell the session when the peer already
// knocks at this side's next link.
func (s *Session) armKnock() {
	rs := s.res
	rs.mu.Lock()
	next := rs.committed + 1
	rs.mu.Unlock()
	ufrag, _ := rs.r.ICECredentials(rs.role, next)
	rs.anchor.SetKnock(ufrag, func() { s.move(false, errors.New("the peer is resuming")) })
}

// notePath remembers the remote address of the path in use, where a
// resumption looks for the peer first.
func (s *Session) notePath() {
	if p, ok := s.Path(); ok && p.Remote.IsValid() {
		s.res.mu.Lock()
		s.res.lastRemote = p.Remote
		s.res.mu.Unlock()
	}
}

// move starts resuming, or, with hard, also stops the link in use (it
// failed: the reader and writers stop using it and wait).
func (s *Session) move(hard bool, why error) {
	rs := s.res
	if rs == nil || rs.off.Load() {
		return
	}
	var remote netip.AddrPort
	if p, ok := s.Path(); ok {
		remote = p.Remote
	}
	rs.mu.Lock()
	if rs.ended {
		rs.mu.Unlock()
		return
	}
	start := !rs.moving
	if start {
		rs.moving, rs.since, rs.resumed = true, time.Now(), make(chan struct{})
		if remote.IsValid() {
			rs.lastRemote = remote
		}
		s.wg.Add(1)
	}
	closeOld := hard && !rs.stopped
	if closeOld {
		rs.stopped = true
	}
	rs.mu.Unlock()
	if closeOld {
		select {
		case rs.stopSig <- struct{}{}:
		default:
		}
		s.transport().close()
	}
	if start {
		s.log.Info("network changed, resuming", "peer", s.peer.String(), "reason", why.Error())
		rs.events.session(link.Moving)
		go s.resumeLoop()
	}
}

// recovered is the link's own recovery: a move that has not stopped the
// link yet is called off.
func (s *Session) recovered() {
	rs := s.res
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.moving && !rs.stopped && rs.cancel != nil {
		rs.cancel()
	}
}

// waitMoved waits until the session is not stopped by a move.
func (s *Session) waitMoved(ctx context.Context) error {
	rs := s.res
	for {
		rs.mu.Lock()
		stopped, ch := rs.stopped && !rs.ended, rs.resumed
		rs.mu.Unlock()
		if !stopped {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return s.Err()
		}
	}
}

// isStopped reports whether a move stopped the link in use.
func (rs *resumption) isStopped() bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.stopped
}

// errStopped: a Send waiting for room gives way to a move.
var errStopped = errors.New("session: the link stopped")

// waitRtxSpace waits (wmu held) until a message of n bytes fits the
// retransmission buffer, sending this side's acks meanwhile (the peer may
// be waiting for them in the same way).
func (s *Session) waitRtxSpace(ctx context.Context, n int) error {
	rs := s.res
	for !rs.rtx.fits(n) {
		s.sendAckLocked()
		if rs.isStopped() {
			return errStopped
		}
		select {
		case <-rs.rtx.space:
		case <-rs.ackWake:
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
// resumption and reports whether to go on reading (false: the session
// ended).
func (s *Session) park() bool {
	rs := s.res
	rs.mu.Lock()
	ch := rs.resumed
	rs.mu.Unlock()
	select {
	case rs.parked <- struct{}{}:
	default:
	}
	select {
	case <-ch:
		return s.Err() == nil
	case <-s.done:
		return false
	}
}

// endResume ends resumption with the session: waiters wake, the attempt
// stops, the anchor and the link in use are released.
func (s *Session) endResume() {
	rs := s.res
	if rs == nil {
		return
	}
	rs.mu.Lock()
	rs.ended = true
	if rs.moving {
		rs.moving = false
		close(rs.resumed)
	}
	if rs.cancel != nil {
		rs.cancel()
	}
	cur, unwatch := rs.cur, rs.unwatch
	rs.unwatch = nil
	rs.mu.Unlock()
	if unwatch != nil {
		unwatch()
	}
	if cur != nil {
		cur.Close()
	}
	rs.anchor.Close()
	rs.r.Erase()
}

// resumeLoop makes new links until one carries a resumption or the
// window ends.
func (s *Session) resumeLoop() {
	defer s.wg.Done()
	rs := s.res
	rs.mu.Lock()
	deadline := rs.since.Add(rs.window)
	ctx, cancel := context.WithDeadline(s.ctx, deadline)
	rs.cancel = cancel
	rs.mu.Unlock()
	defer cancel()
	for i := 0; ; i++ {
		gen := rs.attemptGen(i)
		wait := attemptTimeout
		if !rs.isStopped() {
			wait = softWait
		}
		l, ch, err := s.attempt(ctx, gen, wait)
		if err != nil && ctx.Err() == nil && !rs.isStopped() {
			// Make-before-break did not work: break, then make.
			s.move(true, fmt.Errorf("no new link within %v beside the old one", softWait))
		}
		if err == nil {
			if err = s.resumeOn(ctx, l, ch, gen); err == nil {
				return
			}
			l.Close()
			if s.Err() != nil {
				return
			}
		}
		s.log.Debug("resume attempt failed", "peer", s.peer.String(), "generation", gen, "reason", err.Error())
		if ctx.Err() != nil {
			rs.mu.Lock()
			soft := rs.moving && !rs.stopped && time.Now().Before(deadline) && s.ctx.Err() == nil
			if soft { // the old link recovered: the move is called off
				rs.moving, rs.cancel = false, nil
				close(rs.resumed)
			}
			rs.mu.Unlock()
			if !soft {
				s.shutdown(fmt.Errorf("%w (could not resume on a new link within %v)", ErrPeerLost, rs.window))
			}
			return
		}
		select {
		case <-time.After(time.Duration(250+mrand.IntN(500)) * time.Millisecond):
		case <-ctx.Done():
		}
	}
}

// attemptGen is the link generation of attempt i: the next one, or, when
// the peer was not seen on the link in use since its confirmation (it may
// not have taken this side's), that one and the next in turn.
func (rs *resumption) attemptGen(i int) uint64 {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.committed > 0 && !rs.settled.Load() && i%2 == 0 {
		return rs.committed
	}
	return rs.committed + 1
}

// predict is the peer's description for a link of generation gen, as
// this side knows it.
func (rs *resumption) predict(gen uint64) *invite.ConnDesc {
	peer := 1 - rs.role
	d := rs.peerDesc
	d.ICEUfrag, d.ICEPwd = rs.r.ICECredentials(peer, gen)
	d.Candidates = slices.Clone(rs.peerDesc.Candidates)
	rs.mu.Lock()
	last := rs.lastRemote
	rs.mu.Unlock()
	if last.IsValid() && !slices.ContainsFunc(d.Candidates, func(c invite.Candidate) bool { return c.Addr == last }) {
		c := invite.Candidate{Type: invite.PeerReflexive, Addr: last}
		if len(d.Candidates) >= invite.MaxCandidates {
			d.Candidates = d.Candidates[:invite.MaxCandidates-1]
		}
		d.Candidates = append([]invite.Candidate{c}, d.Candidates...)
	}
	return &d
}

// attempt makes a link of generation gen to the predicted peer and waits
// for it to open.
func (s *Session) attempt(ctx context.Context, gen uint64, wait time.Duration) (link.Link, link.Channel, error) {
	rs := s.res
	ufrag, pwd := rs.r.ICECredentials(rs.role, gen)
	l, err := s.opts.makeLink(link.Config{Channel: rs.channel, ConnectTimeout: attemptTimeout, ICEUfrag: ufrag, ICEPwd: pwd, Anchor: rs.anchor}, rs.events)
	if err != nil {
		return nil, nil, err
	}
	remote := rs.predict(gen)
	if rs.role == seal.Offerer {
		if _, err = l.Offer(ctx); err == nil {
			err = l.Apply(remote)
		}
	} else {
		_, err = l.Answer(ctx, remote)
	}
	if err != nil {
		l.Close()
		return nil, nil, err
	}
	actx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	ch, err := l.Open(actx)
	if err != nil {
		l.Close()
		return nil, nil, err
	}
	return l, ch, nil
}

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

	var tr transport = chanTransport{ch}
	if s.opts.wrapTransport != nil {
		tr = s.opts.wrapTransport(tr)
	}
	eph, err := ecdh.X25519().GenerateKey(crand.Reader)
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
		return err
	}
	// The reader must have stopped before its state is replaced.
	select {
	case <-rs.parked:
	case <-s.done:
		return s.Err()
	}
	s.wmu.Lock()
	s.setTransport(tr)
	s.sealer = sealer
	s.opener, s.reasm, s.stalled = opener, seal.NewReassembler(s.opts.Seal), 0
	s.lastRecv.Store(time.Now().UnixNano())
	rs.mu.Lock()
	old := rs.cur
	rs.cur, rs.committed, rs.attempts = l, gen, rs.attempts+1
	rs.settled.Store(false)
	rs.mu.Unlock()
	ents, err := rs.rtx.from(m.received)
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
	rs.moving, rs.stopped, rs.cancel = false, false, nil
	close(rs.resumed)
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
