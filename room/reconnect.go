package room

import (
	"context"
	"fmt"
	"sync"

	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/session"
)

// Reconnection is a running member's side of an invitation made by
// another member of the same room (its Invite): a new session between two
// members that are both in the room already, for example across a
// partition that healed after every session across it had ended. It is
// the room's own joining, without making a new room: the inviter admits
// no one (both are members), sends the room as for a newcomer, and the
// records each side has are merged into the other's.
type Reconnection struct {
	r     *Room
	offer *invite.Offer
	acc   *session.Acceptance
	mu    sync.Mutex
	done  bool
}

// Reconnect accepts an invitation from another member of this room (see
// session.Accept for the checks of the offer): hand Token back to the
// inviter, then call Wait.
func (r *Room) Reconnect(ctx context.Context, offer *invite.Offer) (*Reconnection, error) {
	r.mu.Lock()
	closed, removed := r.closed, r.members.isRemoved(offer.Inviter)
	r.mu.Unlock()
	switch {
	case closed:
		return nil, ErrClosed
	case removed:
		return nil, fmt.Errorf("%w: the inviter", ErrRemoved)
	}
	acc, err := session.Accept(ctx, r.self, offer, r.sessionOptions())
	if err != nil {
		return nil, err
	}
	return &Reconnection{r: r, offer: offer, acc: acc}, nil
}

// Token returns the answer's text form, for the inviter.
func (c *Reconnection) Token() string { return c.acc.Token() }

// SafetyCode returns the code both sides can read to each other.
func (c *Reconnection) SafetyCode() string { return c.acc.SafetyCode() }

// Close abandons the reconnection; after Wait succeeded it does nothing.
func (c *Reconnection) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return nil
	}
	return c.acc.Close()
}

// Wait waits for the session to open and for the inviter's room to
// arrive on it. It must be this room (ErrWrongRoom), the inviter a member
// by the records of both sides (ErrNotMember); the records this member
// lacked are taken in and passed on, and the inviter becomes a neighbour.
func (c *Reconnection) Wait(ctx context.Context) error {
	s, err := c.acc.Wait(ctx)
	if err != nil {
		return err
	}
	b, err := s.Receive(ctx)
	if err != nil {
		s.Close()
		return err
	}
	f, err := decodeFrame(b)
	if err == nil && f.typ != frameWelcome {
		err = fmt.Errorf("%w: the first frame is not the room", ErrProtocol)
	}
	if err == nil && f.desc.id() != c.r.rid {
		err = ErrWrongRoom
	}
	if err != nil {
		s.Close()
		return err
	}
	r := c.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.takeRecords(f.records, nil); err != nil {
		s.Close()
		return fmt.Errorf("%w: the inviter sent an invalid record: %w", ErrProtocol, err)
	}
	switch {
	case r.closed:
		s.Close()
		return ErrClosed
	case !r.members.isMember(r.self.ID()):
		s.Close()
		return ErrRemoved
	case !r.members.isMember(s.Peer()):
		s.Close()
		return fmt.Errorf("%w: the inviter", ErrNotMember)
	}
	c.mu.Lock()
	c.done = true
	c.mu.Unlock()
	n := r.addNeighbour(s, c.offer.Inviter, pathOf(c.offer, c.acc.Answer()), true)
	if n != nil {
		n.hello = true // the welcome was its hello
	}
	return nil
}
