package room

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sp2p/sp2p/identity"
)

// TestDirect: a direct frame reaches the neighbour's handler of its
// channel with the sender's ID, and nobody else; a frame on a channel the
// neighbour does not use counts as invalid against the sender; a
// neighbour that sends past its byte budget is charged rate-limit
// violations and its frames are dropped; SendDirect refuses a member that
// is not a neighbour and a frame over MaxDirect.
func TestDirect(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tn := newTestNet(t, 11)
	var mu sync.Mutex
	got := map[identity.ID][]string{}
	handler := func(self string) DirectHandler {
		return func(from identity.ID, data []byte) {
			mu.Lock()
			got[from] = append(got[from], self+":"+string(data))
			mu.Unlock()
		}
	}
	opts := tn.options()
	opts.Budget = Budget{BytesPerSecond: 1000, ByteBurst: 1} // raised to a whole frame for DIRECT
	a, err := Create(newID(t), "direct", withDirect(opts, handler("a")))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := joinWith(ctx, a, newID(t), withDirect(opts, handler("b")))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c, err := joinWith(ctx, a, newID(t), opts) // uses no direct channel
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := settle(ctx, []*Room{a, b}, 1); err != nil {
		t.Fatal(err)
	}

	if err := a.SendDirect(ctx, b.Self(), 7, []byte("hello b")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "b's handler", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got[a.Self()]) == 1
	})
	mu.Lock()
	if g := got[a.Self()]; g[0] != "b:hello b" {
		t.Fatalf("delivered %q", g)
	}
	mu.Unlock()

	// c has no handler for channel 7: invalid, counted against a.
	if err := a.SendDirect(ctx, c.Self(), 7, []byte("x")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "c to count the frame as invalid", func() bool {
		for _, n := range c.Neighbours() {
			if n.ID == a.Self() && n.Invalid > 0 {
				return true
			}
		}
		return false
	})

	// Over the budget (a burst of one whole frame, then 1000 B/s): the
	// first frame of the largest size is delivered, the next two not. An
	// honest SendDirect paces itself (it would wait here); b is made to
	// send as a flooder does, past its own pace.
	big := make([]byte, MaxDirect)
	sctx, scancel := context.WithTimeout(ctx, 100*time.Millisecond)
	if err := b.SendDirect(sctx, a.Self(), 7, big); err != nil {
		t.Fatal(err)
	}
	if err := b.SendDirect(sctx, a.Self(), 7, big); err == nil {
		t.Fatal("a second whole frame at once went out past the sender's own pace")
	}
	scancel()
	for range 2 {
		b.mu.Lock()
		b.send(b.neigh[a.Self()], directFrame(7, big), false)
		b.mu.Unlock()
	}
	eventually(t, 5*time.Second, "a to charge b's excess", func() bool {
		for _, n := range a.Neighbours() {
			if n.ID == b.Self() && n.RateViolations >= 2 {
				return true
			}
		}
		return false
	})
	mu.Lock()
	if n := len(got[b.Self()]); n != 1 {
		t.Errorf("a's handler got %d of b's frames, want only the first (the rest over budget)", n)
	}
	mu.Unlock()

	stranger := newID(t)
	if err := a.SendDirect(ctx, stranger.ID(), 7, nil); !errors.Is(err, ErrNotNeighbour) {
		t.Errorf("to a stranger: %v", err)
	}
	if err := a.SendDirect(ctx, b.Self(), 7, make([]byte, MaxDirect+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over MaxDirect: %v", err)
	}
}

func withDirect(o Options, h DirectHandler) Options {
	o.Direct = map[byte]DirectHandler{7: h}
	return o
}

// TestDirectPaced: a sender that uses SendDirect stays within its
// neighbour's budget by itself: three frames of the largest size against a
// budget of a whole frame's burst and 1 MiB/s all arrive, with no
// rate-limit violation counted.
func TestDirectPaced(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tn := newTestNet(t, 12)
	var mu sync.Mutex
	n := 0
	opts := tn.options()
	opts.Budget = Budget{BytesPerSecond: 1 << 20, ByteBurst: 1}
	a, err := Create(newID(t), "paced", withDirect(opts, func(identity.ID, []byte) { mu.Lock(); n++; mu.Unlock() }))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := joinWith(ctx, a, newID(t), withDirect(opts, func(identity.ID, []byte) {}))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := settle(ctx, []*Room{a, b}, 1); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, MaxDirect)
	for range 3 {
		if err := b.SendDirect(ctx, a.Self(), 7, big); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "all three frames", func() bool { mu.Lock(); defer mu.Unlock(); return n == 3 })
	for _, nb := range a.Neighbours() {
		if nb.ID == b.Self() && nb.RateViolations != 0 {
			t.Fatalf("%d rate-limit violations counted against a paced sender", nb.RateViolations)
		}
	}
}
