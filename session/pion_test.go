//go:build !js

package session

// Tests of what only the native pion link shows.

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// 64 sessions open at once in one process, all passing traffic.
func TestSixtyFourSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 128 endpoints")
	}
	t.Parallel() // slow under -race: with the other slow real-network tests
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const n, msgs = 64, 200
	var pairs []*loopbackPair
	defer func() {
		for _, p := range pairs {
			p.close()
		}
	}()
	for range n {
		p, err := newLoopbackPair(ctx)
		if err != nil {
			t.Fatalf("after %d sessions: %v", len(pairs), err)
		}
		pairs = append(pairs, p)
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for _, p := range pairs {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range msgs {
				if err := p.a.Send(ctx, bytes.Repeat([]byte{byte(i)}, 1000)); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := range msgs {
				m, err := p.b.Receive(ctx)
				if err != nil || len(m) != 1000 || m[0] != byte(i) {
					errs <- fmt.Errorf("message %d: %v", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("%d sessions, %d messages each: %v", n, msgs, time.Since(start).Round(time.Millisecond))
}

// A peer that opens many in-band data channels gets each one closed at
// once; the session is unaffected.
func TestExtraDataChannelsClosed(t *testing.T) {
	checkGoroutines(t)
	p := connect(t, loopback(), loopback())
	pc := p.offerer.transport().(chanTransport).c.(*dcTransport).pc
	opened := 0
	for i := range 200 {
		if _, err := pc.CreateDataChannel("extra"+fmtInt(i), nil); err != nil {
			t.Fatal(err)
		}
		opened++
	}
	victim := p.answerer.transport().(chanTransport).c.(*dcTransport).peer
	deadline := time.Now().Add(10 * time.Second)
	for victim.extraChannels.Load() < int64(opened) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := victim.extraChannels.Load(); got != int64(opened) {
		t.Fatalf("%d of %d extra channels seen and closed", got, opened)
	}
	ctx := context.Background()
	if err := p.offerer.Send(ctx, []byte("ok")); err != nil {
		t.Fatal(err)
	}
	if m, err := p.answerer.Receive(ctx); err != nil || string(m) != "ok" {
		t.Fatalf("%q %v", m, err)
	}
}
