//go:build js && wasm

package main

import (
	"context"
	"sync"
	"syscall/js"
	"time"
	"unicode/utf8"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/ratelimit"
	"github.com/sp2p/sp2p/session"
)

// broadcastWait bounds how long a broadcast waits for a peer whose send
// queue is full (after every other peer has the message).
const broadcastWait = time.Minute

// jsGroup is a Group handle: a session.Group (shared limits, a send queue
// per peer, so a slow peer holds up only itself, and one stream of events)
// and the page's sessions in it, whose onClose its Disconnected events
// call.
type jsGroup struct {
	b *bridge
	g *session.Group

	mu      sync.Mutex
	members map[identity.ID]*jsSession
	closed  bool
}

func (b *bridge) groupNew(a []js.Value) (any, error) {
	g := &jsGroup{b: b, g: session.NewGroup(ratelimit.Limits{}), members: map[identity.ID]*jsSession{}}
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
				m.ended(ev.Err)
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
	g.mu.Lock()
	g.members[x.peer()] = x
	g.mu.Unlock()
	if err := g.g.Add(x.s); err != nil {
		g.mu.Lock()
		delete(g.members, x.peer())
		g.mu.Unlock()
		x.giveBack()
		return nil, err
	}
	return nil, nil
}

// groupBroadcast(h, data) queues a message for every peer and resolves
// when every peer's queue has it, or rejects with the errors of the peers
// whose queue did not take it.
func (b *bridge) groupBroadcast(a []js.Value) (any, error) {
	g, err := getHandle[*jsGroup](&b.h, arg(a, 0))
	if err != nil {
		return nil, err
	}
	msg, err := message(arg(a, 1))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), broadcastWait)
	defer cancel()
	return nil, g.g.Broadcast(ctx, msg)
}

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
	g.members = map[identity.ID]*jsSession{}
	g.mu.Unlock()
	for _, x := range left {
		x.ended(nil)
	}
	return nil, err
}
