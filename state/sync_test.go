package state

import (
	"testing"
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
