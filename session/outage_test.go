//go:build !js

package session

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// A 7-second total outage (longer than ICE's 5 s disconnected timeout,
// shorter than the heartbeat timeout) does not end the session: it is
// reported as interrupted and recovered, and messages sent during the
// outage arrive afterwards.
func TestShortOutageRecovers(t *testing.T) {
	if testing.Short() {
		t.Skip("waits through a 7 s outage")
	}
	t.Parallel() // slow: with the other slow real-network tests (TestMain checks goroutines)
	var f netFaults
	var mu sync.Mutex
	var events []NetworkEvent
	o := loopback()
	o.faults = &f
	o.HeartbeatTimeout = 20 * time.Second
	o.OnNetwork = func(e NetworkEvent) { mu.Lock(); events = append(events, e); mu.Unlock() }
	a := loopback()
	a.HeartbeatTimeout = 20 * time.Second
	p := connect(t, o, a)
	ctx := context.Background()
	f.cut.Store(true)
	sent := make(chan error, 1)
	go func() {
		for i := range 20 {
			if err := p.offerer.Send(ctx, []byte{byte(i)}); err != nil {
				sent <- err
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		sent <- nil
	}()
	time.Sleep(7 * time.Second)
	f.cut.Store(false)
	for i := range 20 {
		rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		m, err := p.answerer.Receive(rctx)
		cancel()
		if err != nil || len(m) != 1 || m[0] != byte(i) {
			t.Fatalf("message %d after the outage: %v %v", i, m, err)
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if p.offerer.Err() != nil || p.answerer.Err() != nil {
		t.Fatalf("the session ended: %v / %v", p.offerer.Err(), p.answerer.Err())
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		got := append([]NetworkEvent(nil), events...)
		mu.Unlock()
		if len(got) >= 2 {
			if got[0] != NetworkInterrupted || got[1] != NetworkRecovered {
				t.Fatalf("events %v, want interrupted then recovered", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("events %v, want interrupted then recovered", got)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A long outage ends a session that does not resume on both sides with
// ErrPeerLost within the heartbeat timeout.
func TestLongOutageLosesPeer(t *testing.T) {
	checkGoroutines(t)
	var f netFaults
	o := loopback()
	o.faults = &f
	o.HeartbeatTimeout = 2 * time.Second
	o.ResumeWindow = -1
	a := loopback()
	a.HeartbeatTimeout = 2 * time.Second
	a.ResumeWindow = -1
	p := connect(t, o, a)
	f.cut.Store(true)
	start := time.Now()
	for _, s := range []*Session{p.offerer, p.answerer} {
		select {
		case <-s.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("a side did not notice the outage")
		}
		if !errors.Is(s.Err(), ErrPeerLost) {
			t.Fatalf("reason %v, want ErrPeerLost", s.Err())
		}
	}
	t.Logf("both sides reported a lost peer after %v", time.Since(start).Round(time.Millisecond))
}
