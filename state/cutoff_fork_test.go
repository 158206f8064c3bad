package state

import (
	"testing"
)

// TestCreatorForkWithCutoffs: the creator's log forks (two devices with
// one identity), and the two branches cut a removed member off at
// different places. Members that took different branches end with the
// same state once they have synced: the cutoffs past the creator's fork
// point stop counting everywhere, whichever branch a member took first.
func TestCreatorForkWithCutoffs(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 4) // 0 creator, 1 and 2 members, 3 the one removed
	creatorA, r1, r2, x := c.reps[0], c.reps[1], c.reps[2], c.reps[3]
	creatorB, err := New(Config{Room: testRoom, Self: c.ids[0], Members: c.mem, Now: c.clock.Now, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	c.tick()
	if _, err := creatorA.Set("k", []byte("v")); err != nil { // a common prefix for both branches
		t.Fatal(err)
	}
	connect(creatorA, creatorB, Budget{}).pump(t, nil, 0)
	c.tick()
	if _, err := x.Chat("one"); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*Replica{creatorA, creatorB, r1, r2} {
		connect(x, r, Budget{}).pump(t, nil, 0)
	}
	c.tick()
	if _, err := x.Chat("two"); err != nil { // only branch B's device and r2 see it
		t.Fatal(err)
	}
	connect(x, creatorB, Budget{}).pump(t, nil, 0)
	connect(x, r2, Budget{}).pump(t, nil, 0)
	c.mem.remove(c.ids[3].ID())
	c.tick()
	if _, err := creatorA.Cutoff(c.ids[3].ID()); err != nil { // at seq 1
		t.Fatal(err)
	}
	if _, err := creatorB.Cutoff(c.ids[3].ID()); err != nil { // at seq 2
		t.Fatal(err)
	}
	connect(creatorA, r1, Budget{}).pump(t, nil, 0)
	connect(creatorB, r2, Budget{}).pump(t, nil, 0)
	for range 3 {
		connect(r1, r2, Budget{}).pump(t, nil, 0)
	}
	if len(r1.Evidence()) != 1 || len(r2.Evidence()) != 1 {
		t.Fatalf("the creator's fork is not proven on both: %d / %d", len(r1.Evidence()), len(r2.Evidence()))
	}
	if a, b := r1.View().Digest(), r2.View().Digest(); a != b {
		t.Fatalf("the two members disagree: %d and %d chat messages", len(r1.View().History), len(r2.View().History))
	}
}
