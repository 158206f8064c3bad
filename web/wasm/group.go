//go:build js && wasm

package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall/js"
	"unicode/utf8"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/ratelimit"
	"github.com/sp2p/sp2p/session"
)

// maxPeerBacklog bounds the bytes of broadcasts waiting for one peer of a
// group: a peer that falls this far behind misses the broadcasts that do
// not fit (their Promise rejects with a "limit" error naming it), and the
// others are not held up.
const maxPeerBacklog = 16 << 20

// jsGroup is a Group handle: a session.Group for membership, shared limits
// and events, and a sender per peer, because session.Group.Broadcast sends
// to one peer after another and a slow peer would hold up the rest.
type jsGroup struct {
	b *bridge
	g *session.Group

	mu      sync.Mutex
	members map[identity.ID]*member
	closed  bool
}

// member is one peer's session and its queue of broadcasts, sent in order
// by its own goroutine.
type member struct {
	x       *jsSession
	mu      sync.Mutex
	queue   []outgoing
	backlog int
	wake    chan struct{}
	done    chan struct{}
}

type outgoing struct {
	msg    []byte
	result chan<- error
}

func (b *bridge) groupNew(a []js.Value) (any, error) {
	g := &jsGroup{b: b, g: session.NewGroup(ratelimit.Limits{}), members: map[identity.ID]*member{}}
	h := b.h.add(g)
	onMessage := arg(a, 0) // (peer, data, text), sp2p.js's own
	go g.events(onMessage)
	return h, nil
}

func (g *jsGroup) events(onMessage js.Value) {
	for ev := range g.g.Events() {
		switch ev.Kind {
		case session.Message:
			var text any
			if utf8.Valid(ev.Message) {
				text = string(ev.Message)
			}
			if onMessage.Type() == js.TypeFunction {
				onMessage.Invoke(ev.Peer.String(), bytesTo(ev.Message), text)
			}
		case session.Disconnected:
			g.mu.Lock()
			m := g.members[ev.Peer]
			delete(g.members, ev.Peer)
			g.mu.Unlock()
			if m != nil {
				close(m.done)
				m.x.ended(ev.Err)
			}
		}
	}
}

func (b *bridge) groupAdd(a []js.Value) (any, error) {
	g, err := getHandle[*jsGroup](&b.h, arg(a, 0))
	if err != nil {
		return nil, err
	}
	x, err := getHandle[*jsSession](&b.h, arg(a, 1))
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil, session.ErrClosed
	}
	if _, dup := g.members[x.peer()]; dup {
		g.mu.Unlock()
		return nil, invalid("this peer is in the group already", session.ErrDuplicatePeer)
	}
	g.mu.Unlock()
	if err := x.takeOver("group"); err != nil {
		return nil, err
	}
	m := &member{x: x, wake: make(chan struct{}, 1), done: make(chan struct{})}
	g.mu.Lock()
	g.members[x.peer()] = m
	g.mu.Unlock()
	if err := g.g.Add(x.s); err != nil {
		g.mu.Lock()
		delete(g.members, x.peer())
		g.mu.Unlock()
		x.giveBack()
		return nil, err
	}
	go m.send()
	return nil, nil
}

func (m *member) send() {
	for {
		m.mu.Lock()
		if len(m.queue) == 0 {
			m.mu.Unlock()
			select {
			case <-m.wake:
				continue
			case <-m.done:
				m.fail(session.ErrClosed)
				return
			}
		}
		o := m.queue[0]
		m.queue = m.queue[1:]
		m.mu.Unlock()
		err := m.x.s.Send(context.Background(), o.msg)
		m.mu.Lock()
		m.backlog -= len(o.msg)
		m.mu.Unlock()
		o.result <- err
	}
}

// fail answers every queued broadcast with err.
func (m *member) fail(err error) {
	m.mu.Lock()
	q := m.queue
	m.queue, m.backlog = nil, 0
	m.mu.Unlock()
	for _, o := range q {
		o.result <- err
	}
}

func (m *member) enqueue(msg []byte, result chan<- error) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.backlog+len(msg) > maxPeerBacklog && m.backlog > 0 {
		return false
	}
	m.queue = append(m.queue, outgoing{msg, result})
	m.backlog += len(msg)
	select {
	case m.wake <- struct{}{}:
	default:
	}
	return true
}

// groupBroadcast(h, data) sends to every peer at once, each in order of
// its own broadcasts, and resolves when every peer has its copy (or
// rejects with the errors of the peers that did not get it).
func (b *bridge) groupBroadcast(a []js.Value) (any, error) {
	g, err := getHandle[*jsGroup](&b.h, arg(a, 0))
	if err != nil {
		return nil, err
	}
	msg, err := message(arg(a, 1))
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	members := make(map[identity.ID]*member, len(g.members))
	for id, m := range g.members {
		members[id] = m
	}
	g.mu.Unlock()
	results := make(chan error, len(members))
	var errs []error
	n := 0
	for id, m := range members {
		if !m.enqueue(msg, results) {
			errs = append(errs, fmt.Errorf("%s: %w: %d bytes of broadcasts are waiting for this peer", id, errBacklog, m.backlog))
			continue
		}
		n++
	}
	for range n {
		if err := <-results; err != nil {
			errs = append(errs, err)
		}
	}
	return nil, errors.Join(errs...)
}

// errBacklog is a peer too far behind to take a broadcast.
var errBacklog = errors.New("sp2p: the peer is too far behind")

func (b *bridge) groupPeers(a []js.Value) (any, error) {
	g, err := getHandle[*jsGroup](&b.h, arg(a, 0))
	if err != nil {
		return nil, err
	}
	var out []any
	for _, p := range g.g.Peers() {
		out = append(out, peerInfo(p.ID))
	}
	return out, nil
}

func (b *bridge) groupClose(a []js.Value) (any, error) {
	g, err := getHandle[*jsGroup](&b.h, arg(a, 0))
	if err != nil {
		return nil, nil
	}
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	err = g.g.Close()
	b.h.drop(arg(a, 0).Int())
	// Close drops the events not yet read: every member that is left ends
	// here, cleanly.
	g.mu.Lock()
	left := g.members
	g.members = map[identity.ID]*member{}
	g.mu.Unlock()
	for _, m := range left {
		close(m.done)
		m.x.ended(nil)
	}
	return nil, err
}
