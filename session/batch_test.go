package session

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/internal/seal"
	"github.com/sp2p/sp2p/ratelimit"
)

// sendConcurrently sends per messages of 40 bytes from each of senders
// goroutines and checks that the peer gets every one, each sender's in
// its order.
func sendConcurrently(t *testing.T, p *pair, senders, per int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := make([]byte, 40)
			for i := range per {
				binary.BigEndian.PutUint32(msg[0:], uint32(g))
				binary.BigEndian.PutUint32(msg[4:], uint32(i))
				if err := p.offerer.Send(ctx, msg); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	next := make([]int, senders)
	for range senders * per {
		m, err := p.answerer.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		g, i := binary.BigEndian.Uint32(m[0:]), binary.BigEndian.Uint32(m[4:])
		if len(m) != 40 || int(g) >= senders || int(i) != next[g] {
			t.Fatalf("message %d of sender %d, want %d", i, g, next[g])
		}
		next[g]++
	}
	wg.Wait()
}

// Small messages sent while another Send of the session is writing are
// coalesced into batch records: every message arrives, each sender's in
// order, in fewer records than messages.
func TestConcurrentSendsCoalesce(t *testing.T) {
	t.Parallel()
	p := connect(t, mem(), mem())
	sendConcurrently(t, p, 8, 2000)
	st := p.offerer.Stats()
	if st.MessagesSent != 8*2000 || st.RecordsSent >= st.MessagesSent {
		t.Fatalf("%d messages in %d records: nothing was coalesced", st.MessagesSent, st.RecordsSent)
	}
	t.Logf("%d messages in %d records", st.MessagesSent, st.RecordsSent)
}

// A peer that did not announce batch records (an older version) is never
// sent one: concurrent sends still arrive, one record each.
func TestNoBatchesToPeerWithoutTheFeature(t *testing.T) {
	t.Parallel()
	old := mem()
	old.noFeatures = true
	p := connect(t, mem(), old)
	sendConcurrently(t, p, 8, 500)
	if st := p.offerer.Stats(); st.RecordsSent < st.MessagesSent {
		t.Fatalf("%d messages in %d records to a peer that reads no batches", st.MessagesSent, st.RecordsSent)
	}
}

// A malformed batch record (authentic: the peer sealed it) ends the
// session with ErrProtocol and delivers none of its messages.
func TestMalformedBatchEndsSession(t *testing.T) {
	t.Parallel()
	p := connect(t, mem(), mem())
	bad := seal.AppendBatch(seal.AppendBatch(nil, []byte("one")), []byte("two"))
	bad = append(bad, 0, 5, 'x') // a third message past the end
	if err := p.offerer.sendRecord(seal.TypeBatch, bad); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := p.answerer.Receive(ctx)
	if !errors.Is(err, ErrProtocol) {
		t.Fatalf("got %q, %v", m, err)
	}
}

// Messages in batch records are charged to the peer's budget one by one,
// like messages in records of their own: a flood of batches gets no more
// through than the budget's messages per second.
func TestBatchedFloodHeldToBudget(t *testing.T) {
	t.Parallel()
	limiter := ratelimit.New[identity.ID](ratelimit.Limits{MessagesPerSecond: 500, MessageBurst: 50}, nil)
	recv := mem()
	recv.Limiter = limiter
	p := connect(t, mem(), recv)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 4 {
		go func() {
			for ctx.Err() == nil {
				if p.offerer.Send(ctx, []byte("flood")) != nil {
					return
				}
			}
		}()
	}
	start := time.Now()
	got := 0
	for time.Since(start) < 1500*time.Millisecond {
		rctx, rcancel := context.WithTimeout(ctx, 100*time.Millisecond)
		if _, err := p.answerer.Receive(rctx); err == nil {
			got++
		}
		rcancel()
	}
	elapsed := time.Since(start)
	if limit := int(elapsed.Seconds()*500) + 50; got > limit {
		t.Fatalf("%d messages through in %v; the budget allows %d", got, elapsed, limit)
	}
	if st := p.offerer.Stats(); st.RecordsSent >= st.MessagesSent {
		t.Fatalf("%d messages in %d records: no batches, so nothing was tested", st.MessagesSent, st.RecordsSent)
	}
}

// After CloseWrite no Send is queued behind a writer that then fails: every
// Send returns ErrWriteClosed, and the peer sees a clean end, never data
// after the end of data.
func TestNoQueuedSendAfterCloseWrite(t *testing.T) {
	t.Parallel()
	p := connect(t, mem(), mem())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.offerer.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 2000 {
				if err := p.offerer.Send(ctx, []byte("late")); !errors.Is(err, ErrWriteClosed) {
					t.Errorf("a Send after CloseWrite: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if m, err := p.answerer.Receive(ctx); err != io.EOF {
		t.Fatalf("the peer got %q, %v; want io.EOF", m, err)
	}
}
