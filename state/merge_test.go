package state

import (
	"bytes"
	"slices"
	"testing"
	"time"
)

// TestMergeLWW: concurrent sets of one key resolve to the greatest
// (HLC, author, hash) on every replica, a tie of clocks included; a later
// delete removes the key.
func TestMergeLWW(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	var ops []*Op
	for i, r := range c.reps {
		op, err := r.Set("k", []byte{byte('a' + i)}) // the same clock: a tie
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, op)
	}
	c.syncAll(t)
	c.syncAll(t)
	c.requireConverged(t)
	win := ops[0]
	for _, op := range ops[1:] {
		if less(win, op) {
			win = op
		}
	}
	if ops[0].HLC != ops[1].HLC {
		t.Fatal("the test wants a tie of clocks")
	}
	if e := c.reps[0].View().Map["k"]; e.Op != win.Hash() || !bytes.Equal(e.Value, win.Value) || e.Author != win.Author {
		t.Fatalf("winner %x, want %x (the greatest author on a tie)", e.Value, win.Value)
	}
	c.tick()
	if _, err := c.reps[1].Delete("k"); err != nil {
		t.Fatal(err)
	}
	c.syncAll(t)
	c.requireConverged(t)
	if _, ok := c.reps[2].View().Get("k"); ok {
		t.Fatal("a later delete did not remove the key")
	}
	c.tick()
	if _, err := c.reps[2].Set("k", []byte("back")); err != nil {
		t.Fatal(err)
	}
	c.syncAll(t)
	if v, _ := c.reps[0].View().Get("k"); string(v) != "back" {
		t.Fatalf("after delete then set: %q", v)
	}
}

// TestMergeAddWins: a removal removes only the adds it observed; a
// concurrent add survives it. A removal of an absent element is refused.
func TestMergeAddWins(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	a, b := c.reps[0], c.reps[1]
	if _, err := a.Add("x"); err != nil {
		t.Fatal(err)
	}
	c.syncAll(t)
	c.tick()
	if _, err := b.Remove("x"); err != nil { // observed a's first add
		t.Fatal(err)
	}
	if _, err := a.Add("x"); err != nil { // concurrent with the removal
		t.Fatal(err)
	}
	c.syncAll(t)
	c.requireConverged(t)
	if got := a.View().Set; !slices.Equal(got, []string{"x"}) {
		t.Fatalf("set %q: the concurrent add should win", got)
	}
	c.tick()
	if _, err := b.Remove("x"); err != nil { // now observes both adds
		t.Fatal(err)
	}
	c.syncAll(t)
	c.requireConverged(t)
	if got := a.View().Set; len(got) != 0 {
		t.Fatalf("set %q after a removal that observed every add", got)
	}
	if _, err := a.Remove("x"); err == nil {
		t.Fatal("removing an absent element succeeded")
	}
}

// TestMergeCounterAppChat: counters sum every author's increments; app
// payloads and chat messages come in (HLC, author, hash) order; the
// history keeps its retention.
func TestMergeCounterAppChat(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	a, b := c.reps[0], c.reps[1]
	for i := range 10 {
		c.tick()
		if _, err := a.Count("n", 3); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Count("n", -1); err != nil {
			t.Fatal(err)
		}
		if _, err := a.App("yjs", []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Chat("m" + string(rune('0'+i))); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Chat("n" + string(rune('0'+i))); err != nil {
			t.Fatal(err)
		}
	}
	c.syncAll(t)
	c.requireConverged(t)
	v := a.View()
	if v.Counters["n"] != 20 {
		t.Fatalf("counter %d, want 10*3 - 10*1 = 20", v.Counters["n"])
	}
	for i, m := range v.App {
		if m.Channel != "yjs" || m.Body[0] != byte(i) {
			t.Fatalf("app payload %d out of order: %v", i, m.Body)
		}
	}
	if len(v.History) != 20 {
		t.Fatalf("%d messages, want 20", len(v.History))
	}
	for i := 1; i < len(v.History); i++ {
		p, q := v.History[i-1], v.History[i]
		if p.HLC > q.HLC || p.HLC == q.HLC && bytes.Compare(p.Author[:], q.Author[:]) >= 0 {
			t.Fatalf("history out of (HLC, author) order at %d", i)
		}
	}
	// Retention: the newest 5, or those of the last 3 ms.
	r, err := New(Config{Room: testRoom, Self: c.ids[0], Members: c.mem, Now: c.clock.Now, History: Retention{Messages: 5}})
	if err != nil {
		t.Fatal(err)
	}
	connect(a, r, Budget{}).pump(t, nil, 0)
	if h := r.View().History; len(h) != 5 || h[4].Op != v.History[19].Op {
		t.Fatalf("retention of 5 messages shows %d", len(h))
	}
	r.cfg.History = Retention{Age: 3 * time.Millisecond}
	r.version++
	if h := r.View().History; len(h) != 8 { // ms 7, 8, 9, 10: two each
		t.Fatalf("retention of 3 ms shows %d messages, want 8", len(h))
	}
}

// TestOutOfOrderAndOnOp: ops delivered in reverse order wait for their
// predecessors and are all taken; OnOp sees every op taken, in chain
// order, and may call back into the replica.
func TestOutOfOrderAndOnOp(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	var ops []*Op
	for range 30 {
		c.tick()
		op, err := c.reps[0].Chat("x")
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, op)
	}
	var seen []uint64
	var r *Replica
	r, _ = New(Config{Room: testRoom, Self: c.ids[1], Members: c.mem, Now: c.clock.Now, Logger: quiet,
		OnOp: func(op *Op) {
			seen = append(seen, op.Seq)
			_ = r.View() // no deadlock: called without the lock
		}})
	for i := len(ops) - 1; i >= 0; i-- {
		if _, errs := r.Take([]*Op{ops[i]}); errs != nil {
			t.Fatal(errs)
		}
	}
	if r.Ops() != 30 || len(seen) != 30 {
		t.Fatalf("%d ops held, %d seen by OnOp", r.Ops(), len(seen))
	}
	for i, s := range seen {
		if s != uint64(i+1) {
			t.Fatalf("OnOp saw seq %d at %d", s, i)
		}
	}
}
