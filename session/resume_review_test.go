package session

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/sp2p/sp2p/internal/memlink"
	"github.com/sp2p/sp2p/link"
)

// These tests come from an independent review of resumption: each failed
// before its fix.

// Close while the resume loop runs, at many points of it: no panic (a
// channel closed twice), no leaked link, no race on the resume secret.
func TestResumeCloseDuringMove(t *testing.T) {
	checkGoroutines(t)
	for i := range 30 {
		n := memlink.New(uint64(100+i), memlink.Faults{})
		p := connect(t, resumeOpts(n, nil), resumeOpts(n, nil))
		path, _ := p.offerer.Path()
		if _, ok := n.Move(path.Local); !ok {
			t.Fatal("no anchor")
		}
		time.Sleep(time.Duration(i*50) * time.Microsecond)
		p.offerer.Close()
		p.answerer.Close()
	}
}

// Both sides send messages that need the peer's ack before the next fits
// (a small buffer); the acks are below the thresholds (64 messages, 256
// KiB), so the heartbeat sends them, which it can because a Send waiting
// for room does not hold the write lock: no stall, no move.
func TestResumeAcksWhenBothWait(t *testing.T) {
	n := memlink.New(11, memlink.Faults{Delay: 20 * time.Millisecond})
	o := resumeOpts(n, nil)
	o.ResumeBuffer = 100 << 10
	p := connect(t, o, o)
	bothWaysNoMove(t, p, 60*time.Second, 20, 60<<10)
}

// A resumable session whose Send's context ends after part of a
// fragmented message was written: the message is the session's to
// deliver, Send returns nil, and the session goes on.
func TestResumeSendContextEndsMidMessage(t *testing.T) {
	n := memlink.New(12, memlink.Faults{BytesPerSecond: 2 << 20})
	p := connect(t, resumeOpts(n, nil), resumeOpts(n, nil))
	go func() {
		for {
			if _, err := p.answerer.Receive(context.Background()); err != nil {
				return
			}
		}
	}()
	// The context ends once the message has begun (its first records
	// went out), not at a fixed time: on a loaded machine nothing might
	// have been written by then, and Send rightly returns the context's
	// error for a message of which nothing was written.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	before := p.offerer.Stats().RecordsSent
	go func() {
		for p.offerer.Stats().RecordsSent < before+4 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	st := time.Now()
	err := p.offerer.Send(ctx, make([]byte, 8<<20))
	t.Logf("Send: %v after %v; session: %v; stats %+v", err, time.Since(st), p.offerer.Err(), p.offerer.Stats())
	time.Sleep(time.Second)
	t.Logf("later: session: %v; peer %v; resumptions %d", p.offerer.Err(), p.answerer.Err(), p.offerer.Stats().Resumptions)
	if err != nil || p.offerer.Err() != nil {
		t.Errorf("Send = %v, session %v; SECURITY.md: nil, and the session goes on", err, p.offerer.Err())
	}
}

// The same with the default buffer and 4 MiB messages each way.
func TestResumeAcksWhenBothSendBig(t *testing.T) {
	n := memlink.New(13, memlink.Faults{Delay: 20 * time.Millisecond})
	o := resumeOpts(n, nil)
	p := connect(t, o, o)
	bothWaysNoMove(t, p, 120*time.Second, 12, 4<<20)
}

// hookLink calls after when Open succeeds on a link made after the first.
type hookLink struct {
	link.Link
	after func()
}

func (h hookLink) Open(ctx context.Context) (link.Channel, error) {
	ch, err := h.Link.Open(ctx)
	if err == nil && h.after != nil {
		h.after()
	}
	return ch, err
}

// A soft move whose new link opens just as the old link reports
// Recovered: the move is called off and the old link kept, not the
// session ended.
func TestResumeRecoveredAsNewLinkOpens(t *testing.T) {
	n := memlink.New(14, memlink.Faults{})
	var off *Session
	var mu sync.Mutex
	made := 0
	o := resumeOpts(n, nil)
	maker := n.Maker()
	o.Link = func(cfg link.Config) (link.Link, error) {
		l, err := maker(cfg)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		made++
		first := made == 1
		mu.Unlock()
		if first {
			return l, nil
		}
		return hookLink{l, func() { off.recovered() }}, nil
	}
	p := connect(t, o, resumeOpts(n, nil))
	off = p.offerer
	p.offerer.move(false, errors.New("test: a soft move"))
	select {
	case <-p.offerer.Done():
	case <-time.After(5 * time.Second):
	}
	t.Logf("offerer: %v; answerer: %v", p.offerer.Err(), p.answerer.Err())
	if p.offerer.Err() != nil {
		t.Errorf("the session ended: %v", p.offerer.Err())
	}
}

// The application is not reading (its queue is full, the reader waits to
// deliver) when the link fails: the resumption completes all the same
// (the reader takes the new link when it next reads), and once the
// application reads, every message arrives once, in order.
func TestResumeWhileAppNotReading(t *testing.T) {
	n := memlink.New(15, memlink.Faults{})
	o := resumeOpts(n, nil)
	o.ResumeWindow = 5 * time.Second
	p := connect(t, o, o)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range 100 {
		if err := p.answerer.Send(ctx, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond) // the offerer's reader blocks: 64 queued
	path, _ := p.answerer.Path()       // the sender moves; it knocks at the offerer
	if _, ok := n.Move(path.Local); !ok {
		t.Fatal("no anchor")
	}
	waitFor(t, func() bool {
		p.offerer.res.mu.Lock()
		defer p.offerer.res.mu.Unlock()
		return p.offerer.res.committed >= 1 && !p.offerer.res.moving
	})
	time.Sleep(6 * time.Second) // past the window: nothing gives up
	for i := range 100 {
		m, err := p.offerer.Receive(ctx)
		if err != nil || len(m) != 1 || m[0] != byte(i) {
			t.Fatalf("message %d: %v %v", i, m, err)
		}
	}
	if p.offerer.Err() != nil || p.answerer.Err() != nil {
		t.Fatalf("the session ended: %v / %v", p.offerer.Err(), p.answerer.Err())
	}
}

// A resend that takes longer than the handshake's 10 s bound (a slow
// link, much unacknowledged): one move, one resumption, everything in
// order.
func TestResumeSlowResend(t *testing.T) {
	n := memlink.New(16, memlink.Faults{BytesPerSecond: 64 << 10})
	var resumed []Resumption
	var mu sync.Mutex
	o := resumeOpts(n, nil)
	o.HeartbeatTimeout = 15 * time.Second
	o.OnResumed = func(r Resumption) { mu.Lock(); resumed = append(resumed, r); mu.Unlock() }
	p := connect(t, o, resumeOpts(n, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const count = 80 // 80 x 16 KiB = 1.25 MiB, about 20 s at 64 KiB/s
	errs := make(chan error, 2)
	go func() {
		for i := range count {
			if err := p.offerer.Send(ctx, bytes.Repeat([]byte{byte(i)}, 16<<10)); err != nil {
				errs <- err
				return
			}
		}
		errs <- nil
	}()
	go func() {
		for i := range count {
			m, err := p.answerer.Receive(ctx)
			if err != nil || m[0] != byte(i) {
				errs <- errors.Join(err, errors.New("wrong message"))
				return
			}
		}
		errs <- nil
	}()
	time.Sleep(1500 * time.Millisecond)
	path, _ := p.offerer.Path()
	if _, ok := n.Move(path.Local); !ok {
		t.Fatal("no anchor")
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, r := range resumed {
		t.Logf("resumed after %v, resent %d", r.After.Round(time.Millisecond), r.Resent)
	}
	if len(resumed) != 1 {
		t.Errorf("%d resumptions for one move", len(resumed))
	}
}

// Close while a Send waits for room in the retransmission buffer: the
// close record goes, and the peer sees a clean end (io.EOF), not a lost
// peer.
func TestResumeCloseWhileWaitingForAcks(t *testing.T) {
	n := memlink.New(17, memlink.Faults{})
	o := resumeOpts(n, nil)
	o.ResumeBuffer = 64 << 10
	a := resumeOpts(n, nil)
	a.ResumeWindow = 3 * time.Second
	p := connect(t, o, a)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sent := make(chan int, 1)
	go func() {
		i := 0
		for ; i < 1000; i++ {
			if p.offerer.Send(ctx, make([]byte, 1024)) != nil {
				break
			}
		}
		sent <- i
	}()
	time.Sleep(time.Second) // the answerer does not read: its queue fills, acks stop, the Send waits
	p.offerer.Close()
	got := 0
	var err error
	for {
		if _, err = p.answerer.Receive(ctx); err != nil {
			break
		}
		got++
	}
	t.Logf("offerer sent %d; answerer received %d, then %v", <-sent, got, err)
	if !errors.Is(err, io.EOF) {
		t.Errorf("the answerer ended with %v, want io.EOF (a clean close)", err)
	}
}

// bothWaysNoMove sends count messages of size bytes each way at once and
// receives them, and fails if the session moved meanwhile (the link never
// failed: a move means the acks stalled).
func bothWaysNoMove(t *testing.T, p *pair, limit time.Duration, count, size int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	errs := make(chan error, 4)
	send := func(s *Session) {
		for i := range count {
			if err := s.Send(ctx, bytes.Repeat([]byte{byte(i)}, size)); err != nil {
				errs <- err
				return
			}
		}
		errs <- nil
	}
	recv := func(s *Session) {
		for range count {
			if _, err := s.Receive(ctx); err != nil {
				errs <- err
				return
			}
		}
		errs <- nil
	}
	start := time.Now()
	go send(p.offerer)
	go send(p.answerer)
	go recv(p.offerer)
	go recv(p.answerer)
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d x %d B each way took %v; resumptions %d/%d", count, size, time.Since(start).Round(time.Millisecond),
		p.offerer.Stats().Resumptions, p.answerer.Stats().Resumptions)
	if r := p.offerer.Stats().Resumptions + p.answerer.Stats().Resumptions; r > 0 {
		t.Errorf("%d resumptions on a link that never failed (acks stalled)", r)
	}
}
