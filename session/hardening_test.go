package session

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/internal/seal"
	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/ratelimit"
)

// A receiver that does not read holds at most MaxQueuedBytes of queued
// messages (4 MiB by default), not 64 messages of up to 16 MiB: the
// sender's sends block instead, and everything arrives once it reads.
func TestQueuedBytesBounded(t *testing.T) {
	checkGoroutines(t)
	p := connect(t, mem(), mem())
	before := heapMiB()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const total = 64 // 64 MiB would be queued by message count alone
	msg := make([]byte, 1<<20)
	sent := make(chan int, 1)
	go func() {
		n := 0
		for ; n < total; n++ {
			msg[0] = byte(n)
			if p.offerer.Send(ctx, msg) != nil {
				break
			}
		}
		sent <- n
	}()
	time.Sleep(2 * time.Second)
	queued := p.answerer.queued.Load()
	grew := heapMiB() - before
	t.Logf("nobody reading for 2 s: %d bytes queued, heap grew %.1f MiB", queued, grew)
	if queued > DefaultMaxQueuedBytes {
		t.Fatalf("%d bytes queued, bound %d", queued, DefaultMaxQueuedBytes)
	}
	if queued == 0 {
		t.Fatal("nothing queued: the test did not exercise the queue")
	}
	if grew > 24 {
		t.Fatalf("heap grew by %.0f MiB with nobody reading", grew)
	}
	select {
	case n := <-sent:
		t.Fatalf("all %d messages were accepted with nobody reading", n)
	default:
	}
	for i := range total {
		m, err := p.answerer.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(m) != len(msg) || m[0] != byte(i) {
			t.Fatalf("message %d: %d bytes, first byte %d", i, len(m), m[0])
		}
	}
	if n := <-sent; n != total {
		t.Fatalf("sent %d", n)
	}
	if q := p.answerer.queued.Load(); q != 0 {
		t.Fatalf("%d bytes still counted as queued after reading everything", q)
	}
}

// A Group nobody reads holds at most its queue bound in messages (plus
// each session's own bound), not 256 events of up to 16 MiB each.
func TestGroupQueueBounded(t *testing.T) {
	checkGoroutines(t)
	const bound = 2 << 20
	g := NewGroup(ratelimit.Limits{}, WithQueueBytes(bound))
	defer g.Close()
	p := connect(t, mem(), g.Options(mem()))
	if err := g.Add(p.answerer); err != nil {
		t.Fatal(err)
	}
	before := heapMiB()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const total = 48
	msg := make([]byte, 1<<20)
	sent := make(chan int, 1)
	go func() {
		n := 0
		for ; n < total; n++ {
			msg[0] = byte(n)
			if p.offerer.Send(ctx, msg) != nil {
				break
			}
		}
		sent <- n
	}()
	time.Sleep(2 * time.Second)
	g.q.mu.Lock()
	inGroup := g.q.bytes
	g.q.mu.Unlock()
	inSession := p.answerer.queued.Load()
	grew := heapMiB() - before
	t.Logf("nobody reading events for 2 s: %d bytes in the group queue, %d in the session, heap grew %.1f MiB", inGroup, inSession, grew)
	if inGroup > bound || inSession > DefaultMaxQueuedBytes {
		t.Fatalf("queued %d in the group (bound %d), %d in the session (bound %d)", inGroup, bound, inSession, DefaultMaxQueuedBytes)
	}
	if grew > 32 {
		t.Fatalf("heap grew by %.0f MiB with nobody reading the group", grew)
	}
	select {
	case n := <-sent:
		t.Fatalf("all %d messages were accepted with nobody reading", n)
	default:
	}
	for i := 0; i < total; {
		select {
		case e := <-g.Events():
			if e.Kind != Message {
				continue
			}
			if len(e.Message) != len(msg) || e.Message[0] != byte(i) {
				t.Fatalf("message %d: %d bytes, first byte %d", i, len(e.Message), e.Message[0])
			}
			i++
		case <-time.After(10 * time.Second):
			t.Fatalf("message %d did not come", i)
		}
	}
	if n := <-sent; n != total {
		t.Fatalf("sent %d", n)
	}

	// Empty messages count against the event bound: a peer cannot queue
	// events without limit by sending nothing.
	for range 2000 {
		if err := p.offerer.Send(ctx, nil); err != nil {
			t.Fatal(err)
		}
		g.q.mu.Lock()
		n := len(g.q.items)
		g.q.mu.Unlock()
		if n > groupQueueEvents {
			t.Fatalf("%d events queued, bound %d", n, groupQueueEvents)
		}
		if p.offerer.msgsSent.Load() > groupQueueEvents+incomingQueue+8 && n < groupQueueEvents {
			break // the sender is ahead of what could be queued: it will block
		}
	}
}

// A limiter error other than a penalty (here a record larger than the
// byte burst) ends the session with an error callers can test, instead of
// a session whose Receive returns (nil, nil) forever.
func TestLimiterErrorEndsSession(t *testing.T) {
	checkGoroutines(t)
	aOpts := mem()
	aOpts.Limiter = ratelimit.New[identity.ID](ratelimit.Limits{ByteBurst: 1000}, nil)
	p := connect(t, mem(), aOpts)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.offerer.Send(ctx, make([]byte, 2000)); err != nil {
		t.Fatal(err)
	}
	m, err := p.answerer.Receive(ctx)
	if err == nil {
		t.Fatalf("Receive returned %d bytes and no error", len(m))
	}
	if !errors.Is(err, ErrLimiter) || !errors.Is(err, ratelimit.ErrTooLarge) {
		t.Fatalf("Receive: %v, want ErrLimiter wrapping ratelimit.ErrTooLarge", err)
	}
	if err := p.answerer.Err(); !errors.Is(err, ErrLimiter) {
		t.Fatalf("Err: %v", err)
	}
	// And it stays an error.
	if _, err := p.answerer.Receive(ctx); err == nil {
		t.Fatal("second Receive returned no error")
	}
}

// A peer penalised in one session is refused by every later invitation
// and acceptance of the process, though each makes its own limiter.
func TestPenaltyHoldsAcrossInvitations(t *testing.T) {
	checkGoroutines(t)
	var g *garbage
	aOpts := mem()
	aOpts.wrapTransport = func(tr transport) transport {
		g = &garbage{transport: tr}
		return g
	}
	p := connect(t, mem(), aOpts)
	g.count.Store(100)
	p.offerer.Send(context.Background(), []byte("x"))
	select {
	case <-p.answerer.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the garbage-sending peer was not disconnected")
	}
	if err := p.answerer.Err(); !errors.Is(err, ErrPenalized) {
		t.Fatalf("reason %v, want ErrPenalized", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Alice invites Bob again: Bob refuses her offer.
	inv, err := Invite(ctx, p.alice, mem())
	if err != nil {
		t.Fatal(err)
	}
	defer inv.Close()
	if acc, err := Accept(ctx, p.bob, inv.Offer(), mem()); !errors.Is(err, ratelimit.ErrPenalized) {
		if acc != nil {
			acc.Close()
		}
		t.Fatalf("a new invitation from the penalised peer: %v, want ErrPenalized", err)
	}

	// Bob invites, Alice answers: Bob refuses her answer.
	binv, err := Invite(ctx, p.bob, mem())
	if err != nil {
		t.Fatal(err)
	}
	defer binv.Close()
	acc, err := Accept(ctx, p.alice, binv.Offer(), mem())
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close()
	answer, err := binv.ReadAnswer(acc.Token())
	if err != nil {
		t.Fatal(err)
	}
	if s, err := binv.Connect(ctx, answer); !errors.Is(err, ratelimit.ErrPenalized) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("the penalised peer's answer to a new invitation: %v, want ErrPenalized", err)
	}
	if _, ok := Penalties().Until(p.alice.ID()); !ok {
		t.Fatal("the process's record of penalties does not hold the peer")
	}
}

// A DTLS certificate that does not match the fingerprint in the peer's
// signed token is reported as what it is, a possible attack, and not as a
// NAT problem; the side whose certificate was refused is told that the
// DTLS handshake failed after the peer was reached.
func TestCertificateMismatchReported(t *testing.T) {
	checkGoroutines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	alice, bob := testIdentity(t), testIdentity(t)
	oOpts := loopback()
	oOpts.mangleLocalDesc = func(d *invite.ConnDesc) { d.Fingerprint[0] ^= 1 } // signed, but not pion's certificate
	inv, err := Invite(ctx, alice, oOpts)
	if err != nil {
		t.Fatal(err)
	}
	defer inv.Close()
	acc, err := Accept(ctx, bob, inv.Offer(), loopback())
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close()
	answer, err := inv.ReadAnswer(acc.Token())
	if err != nil {
		t.Fatal(err)
	}
	bobErr := make(chan error, 1)
	go func() {
		s, err := acc.Wait(ctx)
		if s != nil {
			s.Close()
		}
		bobErr <- err
	}()
	s, aliceErr := inv.Connect(ctx, answer)
	if s != nil {
		s.Close()
		t.Fatal("connected with a certificate that does not match the token")
	}
	err = <-bobErr
	if !errors.Is(err, ErrCertificateMismatch) {
		t.Fatalf("the side that checked the certificate: %v, want ErrCertificateMismatch", err)
	}
	for who, err := range map[string]error{"checking side": err, "refused side": aliceErr} {
		if err == nil || strings.Contains(err.Error(), "--stun") || strings.Contains(err.Error(), "NAT") && !strings.Contains(err.Error(), "not a NAT") {
			t.Errorf("%s: %v, reported as a network problem", who, err)
		}
	}
	if !errors.Is(aliceErr, ErrConnectFailed) || !strings.Contains(aliceErr.Error(), "DTLS") {
		t.Errorf("refused side: %v, want a DTLS failure after the peer was reached", aliceErr)
	}
	t.Logf("checking side: %v", err)
	t.Logf("refused side: %v", aliceErr)
}

// A reader that stops for longer than the maximum record age (the
// application did not read, here for a simulated 3 minutes) does not make
// the honest peer's waiting records stale: the time this side did not read
// is allowed on top of the age, so everything arrives and nobody is
// penalised.
func TestStalledReaderKeepsHonestPeer(t *testing.T) {
	checkGoroutines(t)
	var offset atomic.Int64
	// The stall is modelled by moving the receiver's clock, which would
	// also make whatever the receiver sends once it has moved look three
	// minutes in the future to the sender, which would end the session
	// (ErrRecordTime): the sessions do not resume (no acks), and neither
	// side pings while the test runs (so the receiver has no pong to
	// send either). With the default heartbeat the first pings would
	// come 1.5 s after the start, while a loaded machine is still
	// reading.
	bOpts := mem()
	bOpts.ResumeWindow = -1
	bOpts.HeartbeatTimeout = time.Hour
	aOpts := bOpts
	aOpts.Seal.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	p := connect(t, bOpts, aOpts)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const total = 300
	go func() {
		msg := make([]byte, 60<<10)
		for range total {
			if p.offerer.Send(ctx, msg) != nil {
				return
			}
		}
	}()
	time.Sleep(time.Second)              // the queue and the link fill; the sender blocks
	offset.Store(int64(3 * time.Minute)) // while nobody reads, 3 minutes pass
	time.Sleep(100 * time.Millisecond)
	for n := range total {
		if _, err := p.answerer.Receive(ctx); err != nil {
			t.Fatalf("after %d of %d messages: %v", n, total, err)
		}
	}
	if _, ok := Penalties().Until(p.alice.ID()); ok {
		t.Fatal("the honest peer was penalised")
	}
}

// An authentic record outside the time window ends the session with
// ErrRecordTime, naming the clocks, instead of being dropped (data lost)
// or counted against the peer as forgery: at the key confirmation when
// the clocks are five minutes apart from the start, and in an open
// session when one clock jumps.
func TestRecordTimeEndsSession(t *testing.T) {
	checkGoroutines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var offset atomic.Int64
	aOpts := mem()
	aOpts.Seal.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	aOpts.HeartbeatTimeout = time.Hour
	offset.Store(int64(-5 * time.Minute))
	alice, bob := testIdentity(t), testIdentity(t)
	if _, _, err := ConnectInProcess(ctx, alice, bob, mem(), aOpts, nil); !errors.Is(err, ErrRecordTime) || !errors.Is(err, ErrKeyConfirmation) {
		t.Fatalf("connecting with clocks 5 minutes apart: %v, want ErrKeyConfirmation with ErrRecordTime", err)
	}
	offset.Store(0)
	p := connect(t, mem(), aOpts)
	offset.Store(int64(-5 * time.Minute))
	if err := p.offerer.Send(ctx, []byte("from the future")); err != nil {
		t.Fatal(err)
	}
	_, err := p.answerer.Receive(ctx)
	if !errors.Is(err, ErrRecordTime) || !errors.Is(err, seal.ErrFuture) {
		t.Fatalf("Receive: %v, want ErrRecordTime wrapping seal.ErrFuture", err)
	}
	if _, ok := Penalties().Until(p.alice.ID()); ok {
		t.Fatal("a clock difference was punished as forgery")
	}
}
