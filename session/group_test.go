package session

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sp2p/sp2p/ratelimit"
)

func TestGroup(t *testing.T) {
	checkGoroutines(t)
	g := NewGroup(ratelimit.Limits{})
	opts := g.Options(mem())
	p1 := connect(t, mem(), opts)
	p2 := connect(t, mem(), opts)
	if err := g.Add(p1.answerer); err != nil {
		t.Fatal(err)
	}
	if err := g.Add(p2.answerer); err != nil {
		t.Fatal(err)
	}
	if err := g.Add(p2.answerer); !errors.Is(err, ErrDuplicatePeer) {
		t.Fatalf("duplicate add: %v", err)
	}
	next := func(kind EventKind) Event {
		t.Helper()
		select {
		case e := <-g.Events():
			if e.Kind != kind {
				t.Fatalf("event %v, want %v", e.Kind, kind)
			}
			return e
		case <-time.After(5 * time.Second):
			t.Fatalf("no %v event", kind)
		}
		return Event{}
	}
	seen := map[string]bool{}
	for range 2 {
		seen[next(Connected).Peer.String()] = true
	}
	if !seen[p1.alice.ID().String()] || !seen[p2.alice.ID().String()] {
		t.Fatal("connected events name the wrong peers")
	}
	ctx := context.Background()
	if len(g.Peers()) != 2 {
		t.Fatalf("%d peers", len(g.Peers()))
	}
	if err := g.Broadcast(ctx, []byte("all")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*pair{p1, p2} {
		if m, err := p.offerer.Receive(ctx); err != nil || string(m) != "all" {
			t.Fatalf("broadcast: %q %v", m, err)
		}
	}
	if err := g.Send(ctx, p1.alice.ID(), []byte("one")); err != nil {
		t.Fatal(err)
	}
	if m, _ := p1.offerer.Receive(ctx); string(m) != "one" {
		t.Fatal("send to one")
	}
	p2.offerer.Send(ctx, []byte("from p2"))
	if e := next(Message); e.Peer != p2.alice.ID() || string(e.Message) != "from p2" {
		t.Fatalf("message event %+v", e)
	}
	if err := g.Disconnect(p1.alice.ID()); err != nil {
		t.Fatal(err)
	}
	if e := next(Disconnected); e.Peer != p1.alice.ID() {
		t.Fatalf("disconnected event %+v", e)
	}
	// The remote end of the group's session sees a clean close.
	select {
	case <-p1.offerer.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("peer did not see the disconnect")
	}
	if !errors.Is(p1.offerer.Err(), ErrPeerClosed) {
		t.Fatalf("peer's reason: %v", p1.offerer.Err())
	}
	if err := g.Send(ctx, p1.alice.ID(), nil); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("send to a disconnected peer: %v", err)
	}
	g.Close()
	if _, ok := <-g.Events(); ok {
		// Drain whatever was buffered; the channel must end.
		for range g.Events() {
		}
	}
}
