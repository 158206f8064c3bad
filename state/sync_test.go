package state

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestSyncTwo: two replicas with their own ops end up with the same view,
// and a second sync (a reconnection) sends no op again.
func TestSyncTwo(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	a, b := c.reps[0], c.reps[1]
	for i := range 50 {
		c.tick()
		if _, err := a.Set("k"+string(rune('a'+i%5)), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Chat("hello"); err != nil {
			t.Fatal(err)
		}
	}
	l := connect(a, b, Budget{})
	l.pump(t, nil, 0)
	c.requireConverged(t)
	if a.Ops() != 100 || b.Ops() != 100 {
		t.Fatalf("ops held: %d and %d, want 100", a.Ops(), b.Ops())
	}
	if sa := l.a.Stats(); sa.OpsOut != 50 || sa.OpsTaken != 50 {
		t.Fatalf("first sync: a sent %d ops and took %d, want 50 each", sa.OpsOut, sa.OpsTaken)
	}
	again := connect(a, b, Budget{})
	again.pump(t, nil, 0)
	if sa, sb := again.a.Stats(), again.b.Stats(); sa.OpsOut+sb.OpsOut != 0 || again.framesOnWire != 2 {
		t.Fatalf("second sync sent %d+%d ops in %d frames; want only the two state vectors", sa.OpsOut, sb.OpsOut, again.framesOnWire)
	}
	// Live updates flow on the open link.
	c.tick()
	if _, err := a.Set("live", []byte("yes")); err != nil {
		t.Fatal(err)
	}
	l.pump(t, nil, 0)
	if v, ok := b.View().Get("live"); !ok || string(v) != "yes" {
		t.Fatal("a live update did not arrive")
	}
}

// mesh is a set of open links between replicas; step moves every frame
// one hop, and settle runs until no frame is left.
type mesh struct{ links []*link }

func (m *mesh) settle(t *testing.T) {
	t.Helper()
	for range 10000 {
		moved := false
		for _, l := range m.links {
			l.toA = append(l.toA, l.b.Poll()...)
			l.toB = append(l.toB, l.a.Poll()...)
			toA, toB := l.toA, l.toB
			l.toA, l.toB = nil, nil
			for _, f := range toB {
				l.deliver(t, l.b, f, &l.toA, nil, 0)
				moved = true
			}
			for _, f := range toA {
				l.deliver(t, l.a, f, &l.toB, nil, 0)
				moved = true
			}
		}
		if !moved {
			return
		}
	}
	t.Fatal("the mesh does not settle")
}

// TestPartitionHeal: five members on a line (0–1–2–3–4) pass live updates
// hop by hop; then the link 1–2 is cut, both sides edit the map and chat,
// and after the link comes back (new peers, as after a reconnection)
// every member shows the same map and history, with both sides' edits.
func TestPartitionHeal(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 5)
	m := &mesh{}
	for i := range 4 {
		m.links = append(m.links, connect(c.reps[i], c.reps[i+1], Budget{}))
	}
	m.settle(t)
	c.tick()
	if _, err := c.reps[0].Set("greeting", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	m.settle(t)
	if v, _ := c.reps[4].View().Get("greeting"); string(v) != "hello" {
		t.Fatal("a live update did not travel four hops")
	}
	m.links = append(m.links[:1:1], m.links[2:]...) // 1–2 is cut
	for i := range 10 {
		c.tick()
		left, right := c.reps[i%2], c.reps[2+i%3]
		if _, err := left.Set("topic", []byte("left")); err != nil {
			t.Fatal(err)
		}
		if _, err := right.Set("topic", []byte("right")); err != nil {
			t.Fatal(err)
		}
		left.Chat("from the left")
		right.Chat("from the right")
		right.Count("n", 1)
	}
	m.settle(t)
	if c.reps[0].View().Digest() == c.reps[4].View().Digest() {
		t.Fatal("the partition did not separate anything")
	}
	m.links = append(m.links, connect(c.reps[1], c.reps[2], Budget{}))
	m.settle(t)
	c.requireConverged(t)
	v := c.reps[3].View()
	if len(v.History) != 20 || v.Counters["n"] != 10 {
		t.Fatalf("after healing: %d messages, counter %d", len(v.History), v.Counters["n"])
	}
}

// TestConcurrentUse: writers on both replicas, views being read, and the
// frames carried by two goroutines at once (as a room's session readers
// and writers do); at the end both show the same view. Run with -race.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	a, b := c.reps[0], c.reps[1]
	pa, pb := a.NewPeer(b.cfg.Self.ID(), Budget{Window: 2}), b.NewPeer(a.cfg.Self.ID(), Budget{Window: 2})
	toA, toB := make(chan []byte, 1<<16), make(chan []byte, 1<<16)
	for _, f := range pa.Start() {
		toB <- f
	}
	for _, f := range pb.Start() {
		toA <- f
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	carry := func(p *Peer, in, out chan []byte) {
		defer wg.Done()
		for {
			select {
			case f := <-in:
				fs, err := p.Receive(f)
				if err != nil {
					t.Error(err)
				}
				for _, o := range fs {
					out <- o
				}
			case <-stop:
				return
			default:
				for _, o := range p.Poll() {
					out <- o
				}
				runtime.Gosched()
			}
		}
	}
	wg.Add(2)
	go carry(pa, toA, toB)
	go carry(pb, toB, toA)
	var writers sync.WaitGroup
	for w := range 4 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			r := c.reps[w%2]
			for i := range 50 {
				if _, err := r.Set(fmt.Sprintf("k%d", i%7), []byte{byte(w)}); err != nil {
					t.Error(err)
				}
				r.Chat("concurrent")
				_ = r.View().Digest()
			}
		}()
	}
	writers.Wait()
	deadline := time.Now().Add(2 * time.Minute) // a hang guard, not a speed check
	for !pa.Synced() || !pb.Synced() || a.Ops() != b.Ops() {
		if time.Now().After(deadline) {
			close(stop)
			wg.Wait()
			t.Fatal("the replicas never caught up")
		}
		runtime.Gosched()
	}
	close(stop)
	wg.Wait()
	if a.Ops() != 400 || a.View().Digest() != b.View().Digest() {
		t.Fatalf("%d and %d ops; views equal %v", a.Ops(), b.Ops(), a.View().Digest() == b.View().Digest())
	}
}
