package room

// Joining a room: a member's invitation, its admission of the newcomer,
// and the newcomer's side.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/session"
)

// InviteOptions configure a room invitation.
type InviteOptions struct {
	// To, when set, is the only identity that may answer.
	To identity.ID
	// Lifetime of the invitation; 0 means 5 minutes.
	Lifetime time.Duration
}

// Invitation is a member's invitation into the room: an ordinary session
// offer. The room's ID and the newcomer's admission travel in-band once the
// session is open.
type Invitation struct {
	r        *Room
	inv      *session.Invitation
	mu       sync.Mutex
	admitted bool
	safety   string
}

// Invite makes an invitation into the room. Hand Token to the newcomer,
// read its answer with ReadAnswer, then call Admit.
func (r *Room) Invite(ctx context.Context, o InviteOptions) (*Invitation, error) {
	so := r.sessionOptions()
	so.Recipient, so.Expect, so.Lifetime = o.To, o.To, o.Lifetime
	inv, err := session.Invite(ctx, r.self, so)
	if err != nil {
		return nil, err
	}
	return &Invitation{r: r, inv: inv}, nil
}

// Token returns the offer's text form.
func (i *Invitation) Token() string { return i.inv.Token() }

// Offer returns the signed offer.
func (i *Invitation) Offer() *invite.Offer { return i.inv.Offer() }

// ReadAnswer parses and checks the newcomer's answer (see
// session.Invitation.ReadAnswer), and refuses an identity the creator
// removed (ErrRemoved).
func (i *Invitation) ReadAnswer(text string) (*invite.Answer, error) {
	a, err := i.inv.ReadAnswer(text)
	if err != nil {
		return nil, err
	}
	i.r.mu.Lock()
	removed := i.r.members.isRemoved(a.Answerer)
	i.r.mu.Unlock()
	if removed {
		return nil, ErrRemoved
	}
	return a, nil
}

// Admit connects to the newcomer that sent a, signs its admission, sends
// it the room (its ID, name, creator and membership records) and tells the
// room. The newcomer's Joining.Wait then returns its Room.
func (i *Invitation) Admit(ctx context.Context, a *invite.Answer) error {
	s, err := i.inv.Connect(ctx, a)
	if err != nil {
		return err
	}
	i.mu.Lock()
	i.admitted = true
	i.safety = s.SafetyCode()
	i.mu.Unlock()
	r := i.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		s.Close()
		return ErrClosed
	}
	if r.members.isRemoved(s.Peer()) {
		s.Close()
		return ErrRemoved
	}
	if !r.members.isMember(s.Peer()) {
		rec := newRecord(recordAdmit, r.rid, r.self, s.Peer(), r.opts.Now())
		if err := r.takeRecords([]record{rec}, nil); err != nil {
			s.Close()
			return err
		}
	}
	n := r.addNeighbour(s, r.self.ID(), pathOf(i.inv.Offer(), a), false)
	if n == nil {
		return ErrClosed
	}
	n.admitted = true
	// The admission binds the session to the room: gossip may follow the
	// welcome at once, so that the newcomer misses nothing published
	// after it joined. Its only neighbour is this one, so it is taken
	// into the mesh even at High (the next heartbeats spare it).
	n.hello = true
	n.mesh = r.meshCount() <= r.opts.Mesh.High
	r.send(n, welcomeFrame(&r.desc, r.members.records()), false)
	return nil
}

// SafetyCode returns the code both sides of the admission's session can
// read to each other (as Joining.SafetyCode on the newcomer's side); it
// is empty until Admit has connected.
func (i *Invitation) SafetyCode() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.safety
}

// Close abandons the invitation; after Admit it does nothing (the session
// belongs to the room).
func (i *Invitation) Close() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.admitted {
		return nil
	}
	return i.inv.Close()
}

// Joining is a newcomer's side of a room invitation: the answer is made,
// and the room opens once the inviter admits it.
type Joining struct {
	mu    sync.Mutex
	done  bool
	self  *identity.Identity
	offer *invite.Offer
	acc   *session.Acceptance
	opts  Options
}

// Join accepts a room invitation (see session.Accept for the checks of
// the offer): hand Token back to the inviter, then call Wait.
func Join(ctx context.Context, id *identity.Identity, offer *invite.Offer, opts Options) (*Joining, error) {
	opts = opts.withDefaults()
	acc, err := session.Accept(ctx, id, offer, roomSession(opts))
	if err != nil {
		return nil, err
	}
	return &Joining{self: id, offer: offer, acc: acc, opts: opts}, nil
}

// Token returns the answer's text form, for the inviter.
func (j *Joining) Token() string { return j.acc.Token() }

// Answer returns the signed answer.
func (j *Joining) Answer() *invite.Answer { return j.acc.Answer() }

// SafetyCode returns the code both sides can read to each other.
func (j *Joining) SafetyCode() string { return j.acc.SafetyCode() }

// Close abandons the join; after Wait returned a room it does nothing.
func (j *Joining) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.done {
		return nil
	}
	return j.acc.Close()
}

// Wait waits for the session to open and for the room to arrive on it:
// the room's description and membership records, which must admit this
// identity (ErrNotAdmitted) through a chain back to the creator.
func (j *Joining) Wait(ctx context.Context) (*Room, error) {
	s, err := j.acc.Wait(ctx)
	if err != nil {
		return nil, err
	}
	b, err := s.Receive(ctx)
	if err != nil {
		s.Close()
		return nil, err
	}
	f, err := decodeFrame(b)
	if err == nil && f.typ != frameWelcome {
		err = fmt.Errorf("%w: the first frame is not the room", ErrProtocol)
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	d := f.desc
	m := newMembership(d.id(), d.creator, j.opts.MaxSkew)
	now := j.opts.Now()
	for _, rec := range f.records {
		if _, err := m.add(rec, now); err != nil && !errors.Is(err, ErrRoomFull) {
			s.Close()
			return nil, fmt.Errorf("%w: the inviter sent an invalid record: %w", ErrProtocol, err)
		}
	}
	if !m.isMember(j.self.ID()) {
		s.Close()
		return nil, ErrNotAdmitted
	}
	if !m.isMember(s.Peer()) {
		s.Close()
		return nil, fmt.Errorf("%w: the inviter", ErrNotMember)
	}
	j.mu.Lock()
	j.done = true
	j.mu.Unlock()
	r := newRoom(j.self, d, m, j.opts)
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.addNeighbour(s, j.offer.Inviter, pathOf(j.offer, j.acc.Answer()), true)
	if n != nil {
		n.hello = true // the welcome was its hello
		n.mesh = true
	}
	return r, nil
}
