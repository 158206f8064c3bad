package session

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/sp2p/sp2p/internal/memlink"
)

// Queueing behind a busy link (batch.go): one goroutine sending small
// messages in a loop, over links whose send buffer fills.

// One goroutine sends faster than the link carries (after it filled the
// link's buffer while the peer was not reading yet): its messages are
// queued behind the busy link and go as batch records, and every one
// arrives once, in order, intact. The link is slow enough (a record of
// its own would take it about 5 ms) and its buffer small enough that
// even a loaded machine's race-built sender keeps it busy.
func TestOneSenderCoalescesBehindBusyLink(t *testing.T) {
	t.Parallel()
	n := memlink.New(31, memlink.Faults{BytesPerSecond: 32 << 10, SendBuffer: 16 << 10})
	p := connect(t, Options{Link: n.Maker()}, Options{Link: n.Maker()})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	waitFor(t, p.offerer.peerBatches.Load) // queueing needs the peer's features
	filled := fillQueue(t, p.offerer)
	const count, size = 1000, 200
	errs := make(chan error, 1)
	go func() {
		for range filled {
			if _, err := p.answerer.Receive(ctx); err != nil {
				errs <- err
				return
			}
		}
		errs <- drain(ctx, p.answerer, count)
	}()
	// What fillQueue left queued goes as soon as the link takes a
	// record (the link's buffer is still nearly full).
	waitFor(t, func() bool { return p.offerer.sendq.unsentCount() == 0 })
	before := p.offerer.Stats()
	if err := stream(ctx, p.offerer, count, size); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	st := p.offerer.Stats()
	msgs, recs := st.MessagesSent-before.MessagesSent, st.RecordsSent-before.RecordsSent
	if msgs != count || recs > msgs/10 {
		t.Fatalf("%d messages in %d records from one sender: not coalesced behind the busy link", msgs, recs)
	}
	t.Logf("%d messages in %d records", msgs, recs)
}

// readGate holds a session's reads from its link while it is shut, so
// that the link's buffer fills (the session's own reader would otherwise
// take records into its queue).
type readGate struct {
	mu   sync.Mutex
	shut bool
	c    *sync.Cond
}

func newReadGate() *readGate {
	g := &readGate{}
	g.c = sync.NewCond(&g.mu)
	return g
}

func (g *readGate) set(shut bool) {
	g.mu.Lock()
	g.shut = shut
	g.mu.Unlock()
	g.c.Broadcast()
}

// gatedReads is a transport whose reads wait at the gate (its other
// methods are the channel's: write deadlines, tries).
type gatedReads struct {
	chanTransport
	g *readGate
}

func (r gatedReads) readMessage(p []byte) (int, error) {
	r.g.mu.Lock()
	for r.g.shut {
		r.g.c.Wait()
	}
	r.g.mu.Unlock()
	return r.chanTransport.readMessage(p)
}

// gatedPair connects a pair over n whose answerer reads through a gate,
// shut once connected (and opened when the test ends).
func gatedPair(t *testing.T, o Options) (*pair, *readGate) {
	t.Helper()
	g := newReadGate()
	a := o
	a.wrapTransport = func(tr transport) transport { return gatedReads{tr.(chanTransport), g} }
	p := connect(t, o, a)
	g.set(true)
	// Queueing needs the peer's features (its first ping).
	waitFor(t, p.offerer.peerBatches.Load)
	t.Cleanup(func() { g.set(false) })
	return p, g
}

// fillQueue sends 100-byte messages from one goroutine until one is
// queued behind the busy link (reported sent, not yet written; the peer
// must not be reading) and returns how many it sent.
func fillQueue(t *testing.T, s *Session) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	msg := make([]byte, 100)
	for i := 1; i <= 100000; i++ {
		if err := s.Send(ctx, msg); err != nil {
			t.Fatalf("message %d: %v (nothing was queued behind the busy link)", i, err)
		}
		if s.sendq.unsentCount() > 0 {
			return i
		}
	}
	t.Fatal("nothing was queued behind the busy link: the test does not test anything")
	return 0
}

// Close while a message queued behind a busy link is being written by the
// queue writer (the peer was not reading): Close waits for it before its
// close record, and the peer, once it reads, gets every message and then
// a clean end. (A Close that did not wait would cut the queue writer's
// write short and lose the message.)
func TestCloseSendsQueuedMessages(t *testing.T) {
	t.Parallel()
	t.Run("writing", func(t *testing.T) { testCloseSendsQueued(t, true) })
	t.Run("queued", func(t *testing.T) { testCloseSendsQueued(t, false) })
}

// testCloseSendsQueued is TestCloseSendsQueuedMessages with Close called
// once the queue writer is writing (taken), or at once (Close may take
// the write lock before the queue writer).
func testCloseSendsQueued(t *testing.T, taken bool) {
	t.Parallel()
	n := memlink.New(32, memlink.Faults{})
	p, gate := gatedPair(t, Options{Link: n.Maker()})
	sent := fillQueue(t, p.offerer)
	if taken {
		// The queue writer has taken the queue and waits for the link.
		waitFor(t, func() bool { return !p.offerer.sendq.hasPending() })
	}
	closed := make(chan error, 1)
	go func() { closed <- p.offerer.Close() }()
	time.Sleep(200 * time.Millisecond) // Close is waiting
	gate.set(false)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := 0
	for {
		_, err := p.answerer.Receive(ctx)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, ErrPeerClosed) {
				t.Fatalf("after %d of %d messages: %v", got, sent, err)
			}
			break
		}
		got++
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got != sent {
		t.Fatalf("the peer read %d of %d messages", got, sent)
	}
	if err := p.answerer.Err(); !errors.Is(err, ErrPeerClosed) {
		t.Fatalf("the peer saw %v, want a clean close", err)
	}
}

// A peer that reads nothing while a message is queued behind the busy
// link: Close waits for it as long as it waits for the peer (1 s without
// resumption), then cuts the write short and says it was not sent.
func TestCloseReportsUnsentQueuedMessages(t *testing.T) {
	t.Parallel()
	n := memlink.New(33, memlink.Faults{})
	p, _ := gatedPair(t, Options{Link: n.Maker(), ResumeWindow: -1})
	fillQueue(t, p.offerer)
	start := time.Now()
	err := p.offerer.Close()
	if !errors.Is(err, ErrSendAborted) {
		t.Fatalf("Close: %v, want ErrSendAborted (a queued message was not sent)", err)
	}
	if waited := time.Since(start); waited < closeWait {
		t.Fatalf("Close gave the queue %v, want %v", waited, closeWait)
	}
	t.Log(err)
}

// Messages queued behind a busy link when the host moves: the session
// resumes, and every message arrives once, in order, intact, both ways.
func TestResumeWithQueuedMessages(t *testing.T) {
	checkGoroutines(t)
	n := memlink.New(34, memlink.Faults{Delay: time.Millisecond})
	// Both sides read through gates, shut until both have queued
	// messages (their links' buffers are full), so queueing happens
	// however fast the machine is.
	gates := []*readGate{newReadGate(), newReadGate()}
	opts := func(g *readGate) Options {
		o := resumeOpts(n, nil)
		o.HeartbeatTimeout = 0 // the default: the gates hold the pings back for a while
		o.wrapTransport = func(tr transport) transport { return gatedReads{tr.(chanTransport), g} }
		return o
	}
	p := connect(t, opts(gates[0]), opts(gates[1]))
	// Queueing needs the peer's features (its first ping).
	waitFor(t, func() bool { return p.offerer.peerBatches.Load() && p.answerer.peerBatches.Load() })
	for _, g := range gates {
		g.set(true)
		defer g.set(false)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const count, size = 20000, 200
	errs := make(chan error, 4)
	go func() { errs <- stream(ctx, p.offerer, count, size) }()
	go func() { errs <- stream(ctx, p.answerer, count, size) }()
	go func() { errs <- drain(ctx, p.answerer, count) }()
	go func() { errs <- drain(ctx, p.offerer, count) }()
	waitFor(t, func() bool { return p.offerer.sendq.unsentCount() > 0 && p.answerer.sendq.unsentCount() > 0 })
	for _, g := range gates {
		g.set(false)
	}
	waitFor(t, func() bool { return p.answerer.Stats().MessagesReceived > count/4 })
	path, _ := p.offerer.Path()
	queued := p.offerer.sendq.unsentCount()
	if _, ok := n.Move(path.Local); !ok {
		t.Fatalf("no anchor at %v", path.Local)
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if p.offerer.res.committed < 1 {
		t.Fatal("no resumption")
	}
	t.Logf("%d messages queued when the host moved", queued)
}

// A Send waiting for the write lock behind the queue writer (which waits
// for a peer that does not read) is bounded by its context.
func TestSendContextBoundsWaitBehindQueue(t *testing.T) {
	t.Parallel()
	n := memlink.New(35, memlink.Faults{})
	p, _ := gatedPair(t, Options{Link: n.Maker(), ResumeWindow: -1})
	fillQueue(t, p.offerer)
	msg := make([]byte, 100)
	for i := range 1000 {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		done := make(chan error, 1)
		go func() { done <- p.offerer.Send(ctx, msg) }()
		var err error
		select {
		case err = <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("Send %d still waiting 10 s after its context ended", i)
		}
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("1000 Sends queued behind a link the peer does not read")
}
