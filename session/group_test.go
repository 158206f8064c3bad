package session

import (
	"context"
	"errors"
	"strings"
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

// A peer that stops reading holds up only itself: Broadcast keeps giving
// every message to the other peer, and its errors name only the stuck one.
func TestGroupSlowPeerDoesNotHoldUpOthers(t *testing.T) {
	checkGoroutines(t)
	g := NewGroup(ratelimit.Limits{}, WithSendQueueBytes(256<<10))
	defer g.Close()
	// The group's side answers; the peers are the offerers. The slow
	// peer's session queues at most 256 KiB and never reads.
	fast := connect(t, mem(), g.Options(mem()))
	slowOpts := mem()
	slowOpts.MaxQueuedBytes = 256 << 10
	slow := connect(t, slowOpts, g.Options(mem()))
	for _, p := range []*pair{fast, slow} {
		if err := g.Add(p.answerer); err != nil {
			t.Fatal(err)
		}
	}
	// 3.2 MiB: more than the slow peer's queues and link hold (about 1.8).
	const n, size = 100, 32 << 10
	got := make(chan int, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		i := 0
		for ; i < n; i++ {
			m, err := fast.offerer.Receive(ctx)
			if err != nil || len(m) != size || m[0] != byte(i) {
				t.Errorf("fast peer, message %d: %d bytes, %v", i, len(m), err)
				break
			}
		}
		got <- i
	}()
	var slowErrs int
	msg := make([]byte, size)
	for i := range n {
		msg[0] = byte(i)
		// Each broadcast may wait 50 ms for room: the fast peer's queue
		// empties in far less, the slow one's never.
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		err := g.Broadcast(ctx, msg)
		cancel()
		if err != nil {
			if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), slow.alice.ID().String()) ||
				strings.Contains(err.Error(), fast.alice.ID().String()) {
				t.Fatalf("broadcast %d: %v", i, err)
			}
			slowErrs++
		}
	}
	select {
	case i := <-got:
		if i != n {
			t.Fatalf("the fast peer got %d of %d messages", i, n)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the fast peer did not get every message while the slow one was stuck")
	}
	if slowErrs == 0 {
		t.Fatal("the slow peer took 3.2 MiB without reading: the test does not test anything")
	}
	// The slow peer, once it reads, gets what its queue took, in order.
	m, err := slow.offerer.Receive(context.Background())
	if err != nil || m[0] != 0 {
		t.Fatalf("slow peer's first message: %v", err)
	}
}
