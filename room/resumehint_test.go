package room

import (
	"context"
	"testing"
	"time"
)

// Two members whose session moves after both changed networks cannot
// find each other; a third member, neighbour of both, carries each one's
// resume token to the other, and their session resumes.
func TestResumeHintThroughNeighbour(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tn := newTestNet(t, 31)
	a := tn.create("hints")
	b := tn.join(ctx, a)
	c := tn.join(ctx, a)
	neighbours := func(x, y *Room) bool {
		for _, n := range x.Neighbours() {
			if n.ID == y.Self() {
				return true
			}
		}
		return false
	}
	eventually(t, 20*time.Second, "b and c neighbours", func() bool { return neighbours(b, c) && neighbours(c, b) })
	a.mu.Lock()
	ab := a.neigh[b.Self()]
	a.mu.Unlock()
	b.mu.Lock()
	ba := b.neigh[a.Self()]
	b.mu.Unlock()
	if ab == nil || ba == nil {
		t.Fatal("no session between a and b")
	}
	pa, _ := ab.s.Path()
	pb, _ := ba.s.Path()
	tn.net.SetOutage(true) // both move at once
	tn.net.Move(pa.Local)
	tn.net.Move(pb.Local)
	tn.net.SetOutage(false)
	eventually(t, 30*time.Second, "the session between a and b resumed", func() bool {
		return ab.s.Stats().Resumptions >= 1 && ba.s.Stats().Resumptions >= 1 && ab.s.Err() == nil
	})
	if err := ab.s.Err(); err != nil {
		t.Fatal(err)
	}
}
