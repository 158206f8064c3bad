package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/ratelimit"
)

// EventKind says what happened in a Group.
type EventKind int

// Event kinds.
const (
	Connected EventKind = iota + 1
	Message
	Disconnected
)

func (k EventKind) String() string {
	switch k {
	case Connected:
		return "connected"
	case Message:
		return "message"
	case Disconnected:
		return "disconnected"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is something that happened to a peer of a Group.
type Event struct {
	Kind    EventKind
	Peer    identity.ID
	Message []byte // for Message
	Err     error  // for Disconnected: nil after a clean end
}

// ErrUnknownPeer is returned for a peer that is not in the group.
var ErrUnknownPeer = errors.New("session: no such peer in the group")

// ErrDuplicatePeer is returned when a peer is added twice.
var ErrDuplicatePeer = errors.New("session: peer already in the group")

// Group manages sessions with several peers: send to one, broadcast to
// all, disconnect one, list them, and one channel of events. Its sessions
// share one rate limiter, so one abusive peer is held to its own budget
// and penalties follow an identity across sessions. The group receives
// every message of its sessions: do not call Receive on them.
type Group struct {
	limiter *ratelimit.Limiter[identity.ID]
	events  chan Event

	mu       sync.Mutex
	sessions map[identity.ID]*Session
	wg       sync.WaitGroup
	closed   bool
}

// NewGroup returns a group whose sessions share limits (zero fields take
// the defaults). Events are buffered; when nobody reads them, the group
// stops reading from its sessions and their peers are slowed down.
func NewGroup(limits ratelimit.Limits) *Group {
	return &Group{
		limiter:  ratelimit.New[identity.ID](limits, nil),
		events:   make(chan Event, 256),
		sessions: map[identity.ID]*Session{},
	}
}

// Options returns base with the group's shared limiter: use it for the
// Invite or Accept of a session that will join the group.
func (g *Group) Options(base Options) Options {
	base.Limiter = g.limiter
	return base
}

// Events returns the group's events. It is closed by Close.
func (g *Group) Events() <-chan Event { return g.events }

// Add puts an open session into the group.
func (g *Group) Add(s *Session) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return ErrClosed
	}
	if _, ok := g.sessions[s.Peer()]; ok {
		return fmt.Errorf("%w: %s", ErrDuplicatePeer, s.Peer())
	}
	g.sessions[s.Peer()] = s
	g.wg.Add(1)
	go g.receive(s)
	return nil
}

// receive reports the session's events until it ends. The events channel
// is closed only after every receive has returned.
func (g *Group) receive(s *Session) {
	defer g.wg.Done()
	g.events <- Event{Kind: Connected, Peer: s.Peer()}
	for {
		m, err := s.Receive(context.Background())
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			g.mu.Lock()
			delete(g.sessions, s.Peer())
			g.mu.Unlock()
			s.Close()
			g.events <- Event{Kind: Disconnected, Peer: s.Peer(), Err: err}
			return
		}
		g.events <- Event{Kind: Message, Peer: s.Peer(), Message: m}
	}
}

func (g *Group) get(peer identity.ID) (*Session, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s, ok := g.sessions[peer]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownPeer, peer)
	}
	return s, nil
}

// Send sends a message to one peer.
func (g *Group) Send(ctx context.Context, peer identity.ID, msg []byte) error {
	s, err := g.get(peer)
	if err != nil {
		return err
	}
	return s.Send(ctx, msg)
}

// Broadcast sends a message to every peer, and returns the errors of those
// it could not reach, joined.
func (g *Group) Broadcast(ctx context.Context, msg []byte) error {
	g.mu.Lock()
	list := make([]*Session, 0, len(g.sessions))
	for _, s := range g.sessions {
		list = append(list, s)
	}
	g.mu.Unlock()
	var errs []error
	for _, s := range list {
		if err := s.Send(ctx, msg); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.Peer(), err))
		}
	}
	return errors.Join(errs...)
}

// Disconnect closes one peer's session; a Disconnected event follows.
func (g *Group) Disconnect(peer identity.ID) error {
	s, err := g.get(peer)
	if err != nil {
		return err
	}
	return s.Close()
}

// PeerInfo describes one peer of a group.
type PeerInfo struct {
	ID    identity.ID
	Stats Stats
}

// Peers lists the group's peers with their session stats.
func (g *Group) Peers() []PeerInfo {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]PeerInfo, 0, len(g.sessions))
	for id, s := range g.sessions {
		out = append(out, PeerInfo{ID: id, Stats: s.Stats()})
	}
	return out
}

// Close closes every session and then the events channel. Events not yet
// read are dropped.
func (g *Group) Close() error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil
	}
	g.closed = true
	list := make([]*Session, 0, len(g.sessions))
	for _, s := range g.sessions {
		list = append(list, s)
	}
	g.mu.Unlock()
	done := make(chan struct{})
	go func() {
		for range g.events { // keep receivers from blocking while closing
		}
		close(done)
	}()
	for _, s := range list {
		s.Close()
	}
	g.wg.Wait()
	close(g.events)
	<-done
	return nil
}
