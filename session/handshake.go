package session

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sp2p/sp2p/link"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/internal/seal"
	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/ratelimit"
)

// ErrKeyConfirmation is returned when the peer's first record is not a
// valid key confirmation: the two sides did not derive the same keys.
var ErrKeyConfirmation = errors.New("session: key confirmation failed")

// confirmTimeout bounds the wait for the peer's key confirmation once the
// channel is open.
const confirmTimeout = 15 * time.Second

// Invitation is the inviter's side of a handshake: an offer waiting for
// its answer. Call Close if it is abandoned; Close may be called while
// Connect or Refuse runs (it makes them fail).
type Invitation struct {
	id      *identity.Identity
	opts    Options
	pc      link.Link
	ephMu   sync.Mutex
	eph     *ecdh.PrivateKey // nil once used or closed
	offer   *invite.Offer
	pending invite.Pending
	limiter *ratelimit.Limiter[identity.ID]
	links   linkShare
}

// linkShare is what the links of one session share: the anchor (nil
// when the session does not resume) and the relay of network events.
type linkShare struct {
	anchor *link.Anchor
	events *eventRelay
}

func newLinkShare(opts *Options) linkShare {
	ls := linkShare{events: &eventRelay{user: opts.OnNetwork}}
	// The browser's link cannot keep a certificate or sockets for the
	// session (an anchor), so a session there does not resume (unless a
	// link of the test's own, which can, is given).
	if opts.resumeWindow() > 0 && (nativeAnchors || opts.Link != nil) {
		ls.anchor = &link.Anchor{}
	}
	return ls
}

// close releases the anchor of a handshake that made no session.
func (ls linkShare) close() {
	if ls.anchor != nil {
		ls.anchor.Close()
	}
}

// Invite creates a PeerConnection, gathers its candidates and returns the
// signed invitation. ctx bounds the gathering.
func Invite(ctx context.Context, id *identity.Identity, opts Options) (*Invitation, error) {
	lifetime := opts.Lifetime
	if lifetime == 0 {
		lifetime = invite.DefaultLifetime
	}
	eph, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	// The link's ICE credentials are derived from the ephemeral key: the
	// token does not carry them.
	ephPub := [invite.EphemeralSize]byte(eph.PublicKey().Bytes())
	ufrag, pwd := invite.ICECredentials(ephPub)
	links := newLinkShare(&opts)
	pc, err := opts.makeLink(link.Config{Channel: opts.Channel, ConnectTimeout: 30 * time.Second, ICEUfrag: ufrag, ICEPwd: pwd, Anchor: links.anchor}, links.events)
	if err != nil {
		links.close()
		return nil, err
	}
	pc = closeBoth{pc, links}
	desc, err := pc.Offer(ctx)
	if err != nil {
		pc.Close()
		return nil, err
	}
	offer, err := invite.NewOffer(id, invite.OfferParams{
		Ephemeral: ephPub, Conn: *desc, Options: opts.Channel, Purpose: opts.Purpose,
		Lifetime: lifetime, Recipient: opts.Recipient, Now: opts.now(),
	})
	if err != nil {
		pc.Close()
		return nil, err
	}
	inv := &Invitation{id: id, opts: opts, pc: pc, eph: eph, offer: offer, limiter: opts.Limiter, links: links}
	inv.pending.Now = opts.Now
	if err := inv.pending.Add(offer); err != nil {
		pc.Close()
		return nil, err
	}
	if inv.limiter == nil {
		inv.limiter = newLimiter(ratelimit.Limits{})
	}
	opts.logger().Debug("invitation created", "candidates", len(desc.Candidates), "expires", offer.Expires())
	return inv, nil
}

// Offer returns the signed offer.
func (inv *Invitation) Offer() *invite.Offer { return inv.offer }

// Purpose returns what the invitation is for (Options.Purpose).
func (inv *Invitation) Purpose() invite.Purpose { return inv.offer.Purpose }

// Token returns the offer's text form, to hand to the invitee.
func (inv *Invitation) Token() string { return inv.offer.Text() }

// ReadAnswer parses and checks an answer token: its signature, that it
// answers this invitation (once: a second or replayed answer is refused),
// that the invitation has not expired, and that the answerer is the
// recipient or expected peer if one was set. It returns the answer so the
// caller can show who answered before connecting.
func (inv *Invitation) ReadAnswer(text string) (*invite.Answer, error) {
	a, err := invite.ParseAnswer(text)
	if err != nil {
		return nil, err
	}
	expect := inv.opts.Expect
	if expect.IsZero() {
		expect = inv.opts.Recipient
	}
	if _, err := inv.pending.Accept(a, invite.AcceptOptions{Expect: expect}); err != nil {
		return nil, err
	}
	return a, nil
}

// Connect completes the handshake with an answer from ReadAnswer: it
// applies the answer, derives the keys, waits for the connection and the
// key confirmation in both directions, and returns the open session.
func (inv *Invitation) Connect(ctx context.Context, a *invite.Answer) (*Session, error) {
	if subtle.ConstantTimeCompare(a.OfferHash[:], hashOf(inv.offer)) != 1 {
		return nil, fmt.Errorf("%w: the answer is for another invitation", invite.ErrUnknownOffer)
	}
	if err := inv.limiter.Admit(a.Answerer); err != nil {
		inv.Close()
		return nil, err
	}
	eph := inv.takeEph()
	if eph == nil {
		return nil, fmt.Errorf("%w: the invitation was already used or closed", ErrClosed)
	}
	keys, err := deriveKeys(eph, a.Ephemeral[:], invite.Transcript(inv.offer, a), seal.Offerer)
	if err != nil {
		inv.Close()
		return nil, err
	}
	if err := inv.pc.Apply(&a.Conn); err != nil {
		inv.Close()
		return nil, err
	}
	s, err := establish(ctx, inv.pc, keys, a.Answerer, inv.offer.Purpose, &inv.opts, inv.limiter, &a.Conn, inv.offer.Options, inv.links)
	if (errors.Is(err, ErrConnectFailed) || errors.Is(err, context.DeadlineExceeded)) && !errors.Is(err, link.ErrHandshakeFailed) {
		err = explainFailure(err, inv.offer.Conn.Candidates, a.Conn.Candidates)
	}
	return s, err
}

// takeEph returns the ephemeral key and forgets it (Go cannot erase
// crypto/ecdh keys; this drops the only reference), or nil once it has
// been used or the invitation closed.
func (inv *Invitation) takeEph() *ecdh.PrivateKey {
	inv.ephMu.Lock()
	defer inv.ephMu.Unlock()
	eph := inv.eph
	inv.eph = nil
	return eph
}

// Close abandons the invitation.
func (inv *Invitation) Close() error {
	inv.takeEph()
	return inv.pc.Close()
}

func hashOf(o *invite.Offer) []byte {
	h := o.Hash()
	return h[:]
}

// Acceptance is the invitee's side of a handshake: the answer has been
// made, and the session opens once the inviter applies it.
type Acceptance struct {
	opts    Options
	pc      link.Link
	offer   *invite.Offer
	answer  *invite.Answer
	keys    *seal.Keys
	limiter *ratelimit.Limiter[identity.ID]
	links   linkShare
}

// Accept verifies an offer (signature, expiry, recipient, and
// opts.Expect), makes the answer and starts connecting. The answer token
// must reach the inviter before the invitation expires; Wait returns the
// session once it does.
func Accept(ctx context.Context, id *identity.Identity, offer *invite.Offer, opts Options) (*Acceptance, error) {
	if err := offer.Verify(invite.VerifyOptions{Now: opts.now(), Self: id.ID(), Expect: opts.Expect}); err != nil {
		return nil, err
	}
	limiter := opts.Limiter
	if limiter == nil {
		limiter = newLimiter(ratelimit.Limits{})
	}
	if err := limiter.Admit(offer.Inviter); err != nil {
		return nil, err
	}
	// Keep ICE alive for the rest of the invitation's life, and a little
	// more: the inviter may paste the answer at the last moment.
	wait := max(offer.Expires().Sub(opts.now())+30*time.Second, 30*time.Second)
	eph, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	ephPub := [invite.EphemeralSize]byte(eph.PublicKey().Bytes())
	ufrag, pwd := invite.ICECredentials(ephPub)
	links := newLinkShare(&opts)
	pc, err := opts.makeLink(link.Config{Channel: offer.Options, ConnectTimeout: wait, ICEUfrag: ufrag, ICEPwd: pwd, Anchor: links.anchor}, links.events)
	if err != nil {
		links.close()
		return nil, err
	}
	pc = closeBoth{pc, links}
	desc, err := pc.Answer(ctx, &offer.Conn)
	if err != nil {
		pc.Close()
		return nil, err
	}
	answer, err := invite.NewAnswer(id, offer, invite.AnswerParams{Ephemeral: ephPub, Conn: *desc, Now: opts.now()})
	if err != nil {
		pc.Close()
		return nil, err
	}
	keys, err := deriveKeys(eph, offer.Ephemeral[:], invite.Transcript(offer, answer), seal.Answerer)
	if err != nil {
		pc.Close()
		return nil, err
	}
	return &Acceptance{opts: opts, pc: pc, offer: offer, answer: answer, keys: keys, limiter: limiter, links: links}, nil
}

// Answer returns the signed answer.
func (a *Acceptance) Answer() *invite.Answer { return a.answer }

// Offer returns the offer this acceptance answers.
func (a *Acceptance) Offer() *invite.Offer { return a.offer }

// Purpose returns what the inviter made the invitation for (signed in
// the offer).
func (a *Acceptance) Purpose() invite.Purpose { return a.offer.Purpose }

// Token returns the answer's text form, to hand back to the inviter.
func (a *Acceptance) Token() string { return a.answer.Text() }

// SafetyCode returns the code both sides can read to each other.
func (a *Acceptance) SafetyCode() string { return a.keys.SafetyCode }

// Wait waits until the inviter has applied the answer and the session is
// open (key confirmation in both directions). If the inviter never comes,
// it fails when the invitation expires (ErrConnectFailed) or ctx ends; if
// the inviter refuses the answer ([Invitation.Refuse]), it returns
// ErrRefused or ErrPeerGaveUp as soon as the refusal arrives.
func (a *Acceptance) Wait(ctx context.Context) (*Session, error) {
	deadline := a.offer.Expires().Add(30 * time.Second)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	s, err := establish(ctx, a.pc, a.keys, a.offer.Inviter, a.offer.Purpose, &a.opts, a.limiter, &a.offer.Conn, a.offer.Options, a.links)
	if errors.Is(err, context.DeadlineExceeded) && !time.Now().Before(deadline) {
		return nil, explainFailure(fmt.Errorf("%w: the inviter did not connect before the invitation expired (was the answer delivered?)", ErrConnectFailed),
			a.answer.Conn.Candidates, a.offer.Conn.Candidates)
	}
	if errors.Is(err, ErrConnectFailed) && !errors.Is(err, link.ErrHandshakeFailed) {
		err = explainFailure(err, a.answer.Conn.Candidates, a.offer.Conn.Candidates)
	}
	return s, err
}

// Close abandons the acceptance.
func (a *Acceptance) Close() error {
	a.keys.Erase()
	return a.pc.Close()
}

// deriveKeys runs X25519 (crypto/ecdh rejects low-order points) and the key
// schedule.
func deriveKeys(priv *ecdh.PrivateKey, peerPub []byte, transcript [invite.HashSize]byte, role seal.Role) (*seal.Keys, error) {
	pub, err := ecdh.X25519().NewPublicKey(peerPub)
	if err != nil {
		return nil, fmt.Errorf("session: peer's ephemeral key: %w", err)
	}
	shared, err := priv.ECDH(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", seal.ErrZeroSecret, err)
	}
	defer clear(shared)
	return seal.DeriveKeys(shared, transcript, role)
}

// abortLinger bounds how long a handshake whose caller gave up goes on,
// to tell the peer.
const abortLinger = 2 * time.Second

// establish waits for the channel, exchanges key confirmations and starts
// the session.
// peerDesc and channel are the peer's description and the channel's
// options, which a resumable session (links.anchor set) keeps for the
// links it may move to.
func establish(ctx context.Context, pc link.Link, keys *seal.Keys, peer identity.ID, purpose invite.Purpose, opts *Options, limiter *ratelimit.Limiter[identity.ID],
	peerDesc *invite.ConnDesc, channel invite.ChannelOptions, links linkShare) (*Session, error) {
	ch, err := pc.Open(ctx)
	if err != nil && errors.Is(err, context.Canceled) {
		// The caller gave up (Ctrl-C) while the connection was opening:
		// give it a moment more, so that the peer is told
		// (ErrPeerGaveUp) instead of waiting for a connection that will
		// not come.
		lctx, cancel := context.WithTimeout(context.Background(), abortLinger)
		if ch, oerr := pc.Open(lctx); oerr == nil {
			sendRefusal(ch, keys, opts, GaveUp)
		}
		cancel()
	}
	if err != nil {
		pc.Close()
		keys.Erase()
		return nil, err
	}
	var tr transport = chanTransport{ch}
	if opts.wrapTransport != nil {
		tr = opts.wrapTransport(tr)
	}
	s := newSession(tr, keys, peer, opts, limiter)
	s.purpose = purpose
	if links.anchor != nil {
		// The session closes the anchor (and the link) when it ends.
		s.res = newResumption(keys, opts, pc.(closeBoth).Link, peerDesc, channel, links.anchor, links.events)
	}
	keys.Erase()
	if err := s.confirm(ctx); err != nil {
		s.shutdown(err)
		return nil, err
	}
	links.events.s.Store(s)
	if s.res != nil {
		s.armKnock()
	}
	s.start()
	return s, nil
}

// closeBoth is a handshake's link, which also releases the session's
// anchor when it is closed (a handshake that made no session).
type closeBoth struct {
	link.Link
	links linkShare
}

func (c closeBoth) Close() error {
	err := c.Link.Close()
	c.links.close()
	return err
}
