package ratelimit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sp2p/sp2p/internal/testclock"
)

func newClock() *testclock.Clock { return testclock.New() }

func TestMessageBudget(t *testing.T) {
	t.Parallel()
	clk := newClock()
	l := New[string](Limits{MessagesPerSecond: 100, MessageBurst: 10}, clk.Now)
	for i := range 10 {
		if d, err := l.Reserve("a", 1); err != nil || d != 0 {
			t.Fatalf("message %d inside the burst: wait %v, %v", i, d, err)
		}
	}
	// The 11th must wait one token's time (10 ms at 100/s), the 12th 20 ms.
	if d, _ := l.Reserve("a", 1); d != 10*time.Millisecond {
		t.Fatalf("11th message: wait %v, want 10ms", d)
	}
	if d, _ := l.Reserve("a", 1); d != 20*time.Millisecond {
		t.Fatalf("12th message: wait %v, want 20ms", d)
	}
	// Another peer is not affected.
	if d, _ := l.Reserve("b", 1); d != 0 {
		t.Fatalf("other peer waits %v", d)
	}
	// After a second the budget is back.
	clk.Advance(time.Second)
	if d, _ := l.Reserve("a", 1); d != 0 {
		t.Fatalf("after refill: wait %v", d)
	}
}

func TestByteBudget(t *testing.T) {
	t.Parallel()
	clk := newClock()
	l := New[string](Limits{BytesPerSecond: 1000, ByteBurst: 2000}, clk.Now)
	if d, err := l.Reserve("a", 2000); err != nil || d != 0 {
		t.Fatalf("burst: %v %v", d, err)
	}
	if d, _ := l.Reserve("a", 500); d != 500*time.Millisecond {
		t.Fatalf("over the byte budget: wait %v, want 500ms", d)
	}
	if _, err := l.Reserve("a", 2001); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("message over the burst: %v", err)
	}
}

func TestViolationsAndPenalty(t *testing.T) {
	t.Parallel()
	clk := newClock()
	l := New[string](Limits{MaxViolations: 3, Penalty: time.Minute}, clk.Now)
	if first, second := l.Violation("m"), l.Violation("m"); first || second {
		t.Fatal("penalised before MaxViolations")
	}
	if l.Violations("m") != 2 {
		t.Fatalf("violations %d", l.Violations("m"))
	}
	if !l.Violation("m") {
		t.Fatal("not penalised at MaxViolations")
	}
	if err := l.Admit("m"); !errors.Is(err, ErrPenalized) {
		t.Fatalf("Admit during penalty: %v", err)
	}
	if _, err := l.Reserve("m", 1); !errors.Is(err, ErrPenalized) {
		t.Fatalf("Reserve during penalty: %v", err)
	}
	if err := l.Admit("ok"); err != nil {
		t.Fatalf("other peer: %v", err)
	}
	clk.Advance(time.Minute)
	if err := l.Admit("m"); err != nil {
		t.Fatalf("after the penalty: %v", err)
	}
}

func TestBoundedMemory(t *testing.T) {
	t.Parallel()
	clk := newClock()
	l := New[int](Limits{MaxPeers: 100, IdleTimeout: time.Minute, MaxViolations: 1, Penalty: time.Hour}, clk.Now)
	l.Violation(-1) // a penalised peer
	for i := range 10_000 {
		if err := l.Admit(i); err != nil {
			t.Fatalf("peer %d: %v", i, err)
		}
		if l.Len() > 100 {
			t.Fatalf("%d peers tracked, cap 100", l.Len())
		}
	}
	// The penalty survived the churn.
	if err := l.Admit(-1); !errors.Is(err, ErrPenalized) {
		t.Fatalf("penalty evicted by churn: %v", err)
	}
	// Idle peers are forgotten; the penalty is not.
	clk.Advance(2 * time.Minute)
	l.Admit(1_000_000)
	if n := l.Len(); n != 1 {
		t.Fatalf("%d peers after the idle timeout, want 1", n)
	}
	if err := l.Admit(-1); !errors.Is(err, ErrPenalized) {
		t.Fatalf("penalty forgotten with the idle budget: %v", err)
	}
	// Penalised peers do not take the budget slots: with every slot's
	// peer penalised, a new peer is still admitted.
	full := New[int](Limits{MaxPeers: 2, MaxViolations: 1}, clk.Now)
	full.Violation(1)
	full.Violation(2)
	if err := full.Admit(3); err != nil {
		t.Fatalf("admit with all slots' peers penalised: %v", err)
	}
	if err := full.Admit(1); !errors.Is(err, ErrPenalized) {
		t.Fatalf("penalised peer admitted: %v", err)
	}
}

// A penalty given through one Limiter holds in every Limiter that shares
// the record, whatever their own budgets, and the record stays bounded.
func TestSharedPenalties(t *testing.T) {
	t.Parallel()
	clk := newClock()
	p := NewPenalties[string](3, clk.Now)
	a := NewShared(Limits{MaxViolations: 2, Penalty: time.Minute}, clk.Now, p)
	b := NewShared(Limits{MessagesPerSecond: 5}, clk.Now, p)
	if err := b.Admit("m"); err != nil {
		t.Fatal(err)
	}
	a.Violation("m")
	if !a.Violation("m") {
		t.Fatal("no penalty at MaxViolations")
	}
	if err := b.Admit("m"); !errors.Is(err, ErrPenalized) {
		t.Fatalf("other limiter admits the penalised peer: %v", err)
	}
	if _, err := b.Reserve("m", 1); !errors.Is(err, ErrPenalized) {
		t.Fatalf("other limiter reserves for the penalised peer: %v", err)
	}
	if err := New[string](Limits{}, clk.Now).Admit("m"); err != nil {
		t.Fatalf("a limiter with its own record refuses: %v", err)
	}
	// Bounded: the fourth penalty pushes out the one that ends soonest.
	p.Penalize("x", 2*time.Minute)
	p.Penalize("y", 3*time.Minute)
	p.Penalize("z", 4*time.Minute)
	if p.Len() != 3 {
		t.Fatalf("%d penalties, cap 3", p.Len())
	}
	if _, ok := p.Until("m"); ok {
		t.Fatal("the soonest-ending penalty was kept over a longer one")
	}
	if _, ok := p.Until("z"); !ok {
		t.Fatal("the newest penalty was dropped")
	}
	clk.Advance(2 * time.Minute)
	if _, ok := p.Until("x"); ok {
		t.Fatal("a penalty outlived its end (the end itself is not inside the penalty)")
	}
	if err := b.Admit("y"); !errors.Is(err, ErrPenalized) {
		t.Fatalf("y: %v", err)
	}
}

func TestWaitBackpressure(t *testing.T) {
	t.Parallel()
	l := New[string](Limits{MessagesPerSecond: 200, MessageBurst: 1}, nil)
	start := time.Now()
	for range 5 {
		if err := l.Wait(context.Background(), "a", 1); err != nil {
			t.Fatal(err)
		}
	}
	// 4 waits of 5 ms each; only a lower bound is meaningful.
	if el := time.Since(start); el < 15*time.Millisecond {
		t.Fatalf("5 messages at 200/s with burst 1 took %v", el)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	slow := New[string](Limits{MessagesPerSecond: 0.001, MessageBurst: 1}, nil)
	slow.Wait(ctx, "a", 1)
	if err := slow.Wait(ctx, "a", 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with a cancelled context: %v", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	l := New[int](Limits{MaxPeers: 50}, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				k := (g*2000 + i) % 80
				l.Admit(k)
				l.Reserve(k, 100)
				if i%7 == 0 {
					l.Violation(k)
				}
			}
		}()
	}
	wg.Wait()
	if l.Len() > 50 {
		t.Fatalf("%d peers tracked, cap 50", l.Len())
	}
}

func BenchmarkReserve(b *testing.B) {
	l := New[[32]byte](Limits{}, nil)
	var k [32]byte
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Reserve(k, 1200); err != nil {
			b.Fatal(err)
		}
	}
}
