package session

import (
	"bytes"
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
// every message of its sessions: do not call Receive on them. Each peer
// has a send queue of its own (WithSendQueueBytes), so a slow peer holds
// up only its own messages.
type Group struct {
	limiter *ratelimit.Limiter[identity.ID]
	events  chan Event // unbuffered: the queue is in q
	q       *eventQueue

	sendQueueBytes int

	mu       sync.Mutex
	sessions map[identity.ID]*member
	wg       sync.WaitGroup
	closed   bool
}

// member is one peer of a group: its session and its send queue.
type member struct {
	s   *Session
	out *outQueue
}

// GroupOption changes a Group's settings.
type GroupOption func(*Group)

// DefaultGroupQueueBytes is how many bytes of messages a Group queues for
// its reader by default, across all its sessions.
const DefaultGroupQueueBytes = 16 << 20

// groupQueueEvents bounds the number of queued events.
const groupQueueEvents = 256

// WithQueueBytes bounds the messages that wait in the group's event queue
// to n bytes in all (default DefaultGroupQueueBytes). When the queue is
// full, the group stops taking messages from its sessions, their queues
// fill (Options.MaxQueuedBytes each) and their peers' sends block. A single
// message larger than n waits until the queue is empty.
func WithQueueBytes(n int) GroupOption {
	return func(g *Group) {
		if n > 0 {
			g.q.maxBytes = n
		}
	}
}

// NewGroup returns a group whose sessions share limits (zero fields take
// the defaults). Events are queued up to a bound in bytes and in count;
// when nobody reads them, the group stops reading from its sessions and
// their peers are slowed down.
func NewGroup(limits ratelimit.Limits, opts ...GroupOption) *Group {
	g := &Group{
		limiter:  newLimiter(limits),
		events:   make(chan Event),
		q:        newEventQueue(DefaultGroupQueueBytes, groupQueueEvents),
		sessions: map[identity.ID]*member{},

		sendQueueBytes: DefaultGroupSendQueueBytes,
	}
	for _, o := range opts {
		o(g)
	}
	go g.q.run(g.events)
	return g
}

// eventQueue is a FIFO of events bounded in bytes (of messages) and in
// count, drained into an unbuffered channel by run. Producers block in
// push while it is full.
type eventQueue struct {
	maxBytes, maxEvents int

	mu      sync.Mutex
	cond    *sync.Cond
	items   []Event
	bytes   int // of the messages in items and the one being handed over
	closed  bool
	done    chan struct{} // closed by close
	stopped chan struct{} // closed when run returns
}

func newEventQueue(maxBytes, maxEvents int) *eventQueue {
	q := &eventQueue{maxBytes: maxBytes, maxEvents: maxEvents, done: make(chan struct{}), stopped: make(chan struct{})}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// push queues ev, waiting while the queue is full; it drops ev once the
// queue is closed.
func (q *eventQueue) push(ev Event) {
	n := len(ev.Message)
	q.mu.Lock()
	defer q.mu.Unlock()
	// A full queue waits; an empty one takes any event, even one larger
	// than the byte bound. Empty events count against the event bound.
	for !q.closed && len(q.items) > 0 && (q.bytes+n > q.maxBytes || len(q.items) >= q.maxEvents) {
		q.cond.Wait()
	}
	if q.closed {
		return
	}
	q.items = append(q.items, ev)
	q.bytes += n
	q.cond.Broadcast()
}

// close drops what is queued, makes push drop events from now on and ends
// run, which closes the output channel.
func (q *eventQueue) close() {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.done)
	}
	q.items = nil
	q.cond.Broadcast()
	q.mu.Unlock()
	<-q.stopped
}

// run hands events to out, one at a time and in order, until close; then
// it closes out. Events still queued are dropped.
func (q *eventQueue) run(out chan<- Event) {
	defer close(q.stopped)
	defer close(out)
	for {
		q.mu.Lock()
		for !q.closed && len(q.items) == 0 {
			q.cond.Wait()
		}
		if q.closed {
			q.mu.Unlock()
			return
		}
		ev := q.items[0]
		q.items[0] = Event{}
		q.items = q.items[1:]
		q.mu.Unlock()
		// The bytes stay counted until the reader has the event.
		select {
		case out <- ev:
		case <-q.done:
		}
		q.mu.Lock()
		q.bytes -= len(ev.Message)
		q.cond.Broadcast()
		q.mu.Unlock()
	}
}

// Options returns base with the group's shared limiter: use it for the
// Invite or Accept of a session that will join the group.
func (g *Group) Options(base Options) Options {
	base.Limiter = g.limiter
	return base
}

// Events returns the group's events. It is closed by Close; events not yet
// read then are dropped.
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
	m := &member{s: s, out: newOutQueue(g.sendQueueBytes)}
	g.sessions[s.Peer()] = m
	g.wg.Add(2)
	go g.receive(s)
	go func() {
		defer g.wg.Done()
		m.out.run(s)
	}()
	return nil
}

// receive reports the session's events until it ends. The events channel
// is closed only after every receive has returned.
func (g *Group) receive(s *Session) {
	defer g.wg.Done()
	g.q.push(Event{Kind: Connected, Peer: s.Peer()})
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
			g.q.push(Event{Kind: Disconnected, Peer: s.Peer(), Err: err})
			return
		}
		g.q.push(Event{Kind: Message, Peer: s.Peer(), Message: m})
	}
}

func (g *Group) get(peer identity.ID) (*member, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	m, ok := g.sessions[peer]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownPeer, peer)
	}
	return m, nil
}

func (g *Group) members() []*member {
	g.mu.Lock()
	defer g.mu.Unlock()
	list := make([]*member, 0, len(g.sessions))
	for _, m := range g.sessions {
		list = append(list, m)
	}
	return list
}

// Send sends a message to one peer, after the messages already queued
// for it, and returns when the peer's session has sent it.
func (g *Group) Send(ctx context.Context, peer identity.ID, msg []byte) error {
	m, err := g.get(peer)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	if err := m.out.push(ctx, outItem{msg: msg, ctx: ctx, done: done}); err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		// Sent or dropped by the queue later, as the context says.
		return ctx.Err()
	}
}

// Broadcast queues a message for every peer and returns once every queue
// has taken it (it copies msg). Peers with room in their queue take it at
// once; for a peer whose queue is full (it takes messages more slowly
// than they come), Broadcast waits as long as ctx allows, after every
// other peer has the message. It returns the errors of the peers whose
// queue did not take it, joined; a peer whose session fails later is
// reported by a Disconnected event.
func (g *Group) Broadcast(ctx context.Context, msg []byte) error {
	it := outItem{msg: bytes.Clone(msg)}
	if it.msg == nil {
		it.msg = []byte{}
	}
	var errs []error
	var full []*member
	for _, m := range g.members() {
		switch err := m.out.tryPush(it); {
		case errors.Is(err, errQueueFull):
			full = append(full, m)
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", m.s.Peer(), err))
		}
	}
	for _, m := range full {
		if err := m.out.push(ctx, it); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", m.s.Peer(), err))
		}
	}
	return errors.Join(errs...)
}

// Disconnect closes one peer's session; a Disconnected event follows.
func (g *Group) Disconnect(peer identity.ID) error {
	m, err := g.get(peer)
	if err != nil {
		return err
	}
	return m.s.Close()
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
	for id, m := range g.sessions {
		out = append(out, PeerInfo{ID: id, Stats: m.s.Stats()})
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
	list := make([]*member, 0, len(g.sessions))
	for _, m := range g.sessions {
		list = append(list, m)
	}
	g.mu.Unlock()
	g.q.close() // receivers no longer block on a full queue
	// At once: each Close may wait for its peer's answer (up to
	// closeLinger).
	var closing sync.WaitGroup
	for _, m := range list {
		m.out.fail(ErrClosed)
		closing.Go(func() { m.s.Close() })
	}
	closing.Wait()
	g.wg.Wait()
	return nil
}
