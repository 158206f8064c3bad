package session

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
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
	pendingSig chan struct{} // a parked reader is told its state on the new link is ready

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
	unwatch    func()       // stops the network watch
	pending    *readerState // the reader's state on the new link, until it takes it
	looping    bool         // a resume loop runs (it erases the secret if the session ended)

	localCands    []invite.Candidate      // this side's candidates in its last attempt (its resume token)
	hints         []invite.Candidate      // the peer's, from its resume token
	hintIssued    time.Time               // when that token was issued
	attemptCancel context.CancelCauseFunc // ends the attempt in progress
}

func newResumption(keys *seal.Keys, opts *Options, l link.Link, peerDesc *invite.ConnDesc, ch invite.ChannelOptions, anchor *link.Anchor, events *eventRelay) *resumption {
	rs := &resumption{
		r: keys.Resumer(), role: keys.Role, window: opts.resumeWindow(), anchor: anchor, peerDesc: *peerDesc,
		channel: ch, events: events, rtx: newRtxBuf(opts.resumeBuffer()),
		ackWake: make(chan struct{}, 1), stopSig: make(chan struct{}, 1), pendingSig: make(chan struct{}, 1),
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
	if rs == nil || rs.off.Load() || s.closing.Load() {
		// Closing: a new link would take neither the close record nor
		// the peer's answer to it.
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
		rs.moving, rs.since, rs.resumed, rs.looping = true, time.Now(), make(chan struct{}), true
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
	rs.mu.Lock()
	if !rs.looping { // else the resume loop erases it when it stops
		rs.r.Erase()
	}
	rs.mu.Unlock()
}

// resumeLoop makes new links until one carries a resumption or the
// window ends.
func (s *Session) resumeLoop() {
	defer s.wg.Done()
	rs := s.res
	defer func() {
		rs.mu.Lock()
		rs.looping = false
		if rs.ended {
			rs.r.Erase()
		}
		rs.mu.Unlock()
	}()
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
	rs.mu.Lock()
	last, hints := rs.lastRemote, slices.Clone(rs.hints)
	rs.mu.Unlock()
	// The peer's resume token first, then where it was last seen, then
	// its token's candidates; each address once, at most 16.
	var cands []invite.Candidate
	add := func(c invite.Candidate) {
		if len(cands) < invite.MaxCandidates && !slices.ContainsFunc(cands, func(o invite.Candidate) bool { return o.Addr == c.Addr && o.TCP == c.TCP }) {
			cands = append(cands, c)
		}
	}
	for _, c := range hints {
		add(c)
	}
	if last.IsValid() {
		add(invite.Candidate{Type: invite.PeerReflexive, Addr: last})
	}
	for _, c := range rs.peerDesc.Candidates {
		add(c)
	}
	d.Candidates = cands
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
	var local *invite.ConnDesc
	if rs.role == seal.Offerer {
		if local, err = l.Offer(ctx); err == nil {
			err = l.Apply(remote)
		}
	} else {
		local, err = l.Answer(ctx, remote)
	}
	if err != nil {
		l.Close()
		return nil, nil, err
	}
	rs.mu.Lock()
	rs.localCands = slices.Clone(local.Candidates)
	rs.mu.Unlock()
	actx, cancel := rs.attemptContext(ctx, wait)
	defer cancel()
	ch, err := l.Open(actx)
	if err != nil {
		l.Close()
		return nil, nil, err
	}
	return l, ch, nil
}

// pathAddrGone reports whether the local address of the path in use is
// no longer this machine's (or the path is not known): a change of the
// machine's addresses that leaves it (a VPN coming up, a new IPv6
// temporary address) does not move the session.
func (s *Session) pathAddrGone() bool {
	p, ok := s.Path()
	if !ok || !p.Local.IsValid() {
		return true
	}
	local := p.Local.Addr().Unmap()
	if local.IsLoopback() {
		return false
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return true
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == local {
				return false
			}
		}
	}
	return true
}
