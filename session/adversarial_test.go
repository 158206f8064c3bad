package session

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/internal/seal"
	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/ratelimit"
)

// tamper sits below the record layer on the receiving side and, for
// incoming data records chosen by pick, flips a bit or delivers the record
// a second time.
type tamper struct {
	transport
	mu      sync.Mutex
	n       int
	flipAt  int  // flip a bit in the n-th record read (0: never)
	dupAt   int  // deliver the n-th record twice
	data    bool // count only data records (heartbeats and acks interleave)
	pending []byte
}

func (t *tamper) readMessage(p []byte) (int, error) {
	t.mu.Lock()
	if t.pending != nil {
		n := copy(p, t.pending)
		t.pending = nil
		t.mu.Unlock()
		return n, nil
	}
	t.mu.Unlock()
	n, err := t.transport.readMessage(p)
	if err != nil {
		return n, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.data && (n < 2 || seal.Type(p[1]) != seal.TypeData) {
		return n, nil
	}
	t.n++
	if t.n == t.flipAt {
		p[n/2] ^= 0x10
	}
	if t.n == t.dupAt {
		t.pending = append([]byte(nil), p[:n]...)
	}
	return n, nil
}

// A record tampered with or replayed below the record layer is rejected
// and counted, and the session goes on.
func TestTamperedAndReplayedRecords(t *testing.T) {
	checkGoroutines(t)
	var tp *tamper
	aOpts := mem()
	aOpts.wrapTransport = func(tr transport) transport {
		// Of the data records, the 2nd is flipped, the 4th replayed.
		tp = &tamper{transport: tr, flipAt: 2, dupAt: 4, data: true}
		return tp
	}
	p := connect(t, mem(), aOpts)
	ctx := context.Background()
	var got []string
	for i := range 6 {
		if err := p.offerer.Send(ctx, []byte{byte('a' + i)}); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 { // one of the six was tampered with
		m, err := p.answerer.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(m))
	}
	// Heartbeat records may interleave, so check what is missing rather
	// than positions: exactly one message is lost, none duplicated.
	seen := map[string]int{}
	for _, m := range got {
		seen[m]++
	}
	for m, c := range seen {
		if c > 1 {
			t.Fatalf("message %q delivered %d times (replay accepted)", m, c)
		}
	}
	if len(seen) != 5 {
		t.Fatalf("received %v", got)
	}
	st := p.answerer.Stats().Rejected
	if st.AuthFailed != 1 || st.Replayed != 1 {
		t.Fatalf("rejections counted: %+v, want 1 auth failure and 1 replay", st)
	}
	// The session survives.
	if err := p.offerer.Send(ctx, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	if m, err := p.answerer.Receive(ctx); err != nil || string(m) != "still here" {
		t.Fatalf("after tampering: %q %v", m, err)
	}
}

// garbage injects invalid records into the receiving side.
type garbage struct {
	transport
	count atomic.Int32
}

func (g *garbage) readMessage(p []byte) (int, error) {
	if g.count.Add(-1) >= 0 {
		return copy(p, bytes.Repeat([]byte{1}, 100)), nil
	}
	return g.transport.readMessage(p)
}

// A peer that keeps sending records that do not open is disconnected and
// refused for a cool-down.
func TestGarbageDisconnectsAndPenalises(t *testing.T) {
	checkGoroutines(t)
	limiter := ratelimit.New[identity.ID](ratelimit.Limits{MaxViolations: 5}, nil)
	var g *garbage
	aOpts := mem()
	aOpts.Limiter = limiter
	aOpts.wrapTransport = func(tr transport) transport {
		g = &garbage{transport: tr}
		return g
	}
	p := connect(t, mem(), aOpts)
	g.count.Store(10)
	// The next read sees garbage (the heartbeat wakes the reader within
	// a few seconds at the latest; a message does it at once).
	p.offerer.Send(context.Background(), []byte("x"))
	select {
	case <-p.answerer.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the garbage-sending peer was not disconnected")
	}
	if err := p.answerer.Err(); !errors.Is(err, ErrPenalized) {
		t.Fatalf("reason %v, want ErrPenalized", err)
	}
	if err := limiter.Admit(p.alice.ID()); !errors.Is(err, ratelimit.ErrPenalized) {
		t.Fatalf("the peer is not refused afterwards: %v", err)
	}
}

// A flooding peer is held to its budget while another peer's session,
// sharing the same limiter (as in a group), keeps going.
func TestFloodingPeerHeldToBudget(t *testing.T) {
	checkGoroutines(t)
	limiter := ratelimit.New[identity.ID](ratelimit.Limits{MessagesPerSecond: 500, MessageBurst: 50}, nil)
	recv := mem()
	recv.Limiter = limiter
	flood := connect(t, mem(), recv)
	calm := connect(t, mem(), recv)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The flooder sends as fast as it can; the receiver reads everything
	// it is given.
	var floodRecv atomic.Int64
	go func() {
		for ctx.Err() == nil {
			if flood.offerer.Send(ctx, []byte("flood")) != nil {
				return
			}
		}
	}()
	go func() {
		for {
			if _, err := flood.answerer.Receive(ctx); err != nil {
				return
			}
			floodRecv.Add(1)
		}
	}()
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	startCount := floodRecv.Load()
	// Meanwhile the calm peer sends 200 messages; it has a budget of its
	// own, so they all arrive.
	go func() {
		for i := range 200 {
			calm.offerer.Send(ctx, []byte{byte(i)})
		}
	}()
	for i := range 200 {
		if _, err := calm.answerer.Receive(ctx); err != nil {
			t.Fatalf("calm peer's message %d: %v", i, err)
		}
	}
	time.Sleep(time.Second)
	elapsed := time.Since(start)
	got := floodRecv.Load() - startCount
	// The budget: 500 messages/s (the burst was spent in the first 200 ms).
	// Heartbeat records count against it too, so the data is below this.
	if limit := int64(elapsed.Seconds()*500) + 50; got > limit {
		t.Fatalf("flooder got %d messages through in %v; budget allows %d", got, elapsed, limit)
	}
	t.Logf("flooder: %d messages in %v (budget 500/s); calm peer: 200 messages delivered", got, elapsed.Round(time.Millisecond))
}

// Human-speed signaling: the answer reaches the inviter 30 s after it was
// made, longer than pion's default ICE failure timeout (25 s); the
// session still opens.
func TestDelayedAnswerConnects(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 30 seconds")
	}
	// The slow real-network tests run in parallel after the others;
	// TestMain checks that nothing they started outlives the package.
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	alice, bob := testIdentity(t), testIdentity(t)
	inv, err := Invite(ctx, alice, loopback())
	if err != nil {
		t.Fatal(err)
	}
	defer inv.Close()
	acc, err := Accept(ctx, bob, inv.Offer(), loopback())
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close()
	waited := make(chan error, 1)
	var answerer *Session
	go func() {
		s, err := acc.Wait(ctx)
		answerer = s
		waited <- err
	}()
	time.Sleep(30 * time.Second)
	ans, err := inv.ReadAnswer(acc.Token())
	if err != nil {
		t.Fatal(err)
	}
	offerer, err := inv.Connect(ctx, ans)
	if err != nil {
		t.Fatalf("connect after 30 s: %v", err)
	}
	defer offerer.Close()
	if err := <-waited; err != nil {
		t.Fatalf("answerer after 30 s: %v", err)
	}
	defer answerer.Close()
	if err := offerer.Send(ctx, []byte("late but fine")); err != nil {
		t.Fatal(err)
	}
	if m, err := answerer.Receive(ctx); err != nil || string(m) != "late but fine" {
		t.Fatalf("%q %v", m, err)
	}
}

// The handshake refuses answers it must refuse: from someone other than
// the invited recipient, and the same answer twice.
func TestHandshakeRefusals(t *testing.T) {
	checkGoroutines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	alice, bob, mallory := testIdentity(t), testIdentity(t), testIdentity(t)
	opts := mem()
	opts.Recipient = bob.ID()
	inv, err := Invite(ctx, alice, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer inv.Close()
	// Mallory cannot even accept (the offer names bob)...
	if _, err := Accept(ctx, mallory, inv.Offer(), mem()); !errors.Is(err, invite.ErrWrongRecipient) {
		t.Fatalf("mallory accepted bob's invitation: %v", err)
	}
	// ...and an answer she makes anyway is refused by the inviter.
	forged, err := invite.NewAnswer(mallory, inv.Offer(), invite.AnswerParams{Conn: activeCopy(inv.Offer().Conn)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inv.ReadAnswer(forged.Text()); !errors.Is(err, invite.ErrUnexpectedPeer) && !errors.Is(err, invite.ErrWrongRecipient) {
		t.Fatalf("answer from mallory: %v", err)
	}
	acc, err := Accept(ctx, bob, inv.Offer(), mem())
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close()
	if _, err := inv.ReadAnswer(acc.Token()); err != nil {
		t.Fatal(err)
	}
	if _, err := inv.ReadAnswer(acc.Token()); !errors.Is(err, invite.ErrReplayed) {
		t.Fatalf("replayed answer: %v", err)
	}
	// A tampered answer token does not parse.
	text := acc.Token()
	bad := text[:100] + string(rune(text[100]^1)) + text[101:]
	if _, err := inv.ReadAnswer(bad); err == nil {
		t.Fatal("tampered answer accepted")
	}
}

// activeCopy is c as an answer's description, with the ICE credentials
// left to the answer (derived from its ephemeral key).
func activeCopy(c invite.ConnDesc) invite.ConnDesc {
	c.Role = invite.RoleActive
	c.ICEUfrag, c.ICEPwd = "", ""
	return c
}

// injector delivers one crafted record to the receiving side before the
// real traffic.
type injector struct {
	transport
	mu      sync.Mutex
	pending [][]byte
}

func (in *injector) readMessage(p []byte) (int, error) {
	in.mu.Lock()
	if len(in.pending) > 0 {
		r := in.pending[0]
		in.pending = in.pending[1:]
		in.mu.Unlock()
		return copy(p, r), nil
	}
	in.mu.Unlock()
	return in.transport.readMessage(p)
}

// A forged close record (the right header, no valid tag) does not end the
// session, and neither does an old-epoch or reflected record.
func TestForgedCloseIgnored(t *testing.T) {
	checkGoroutines(t)
	var inj *injector
	aOpts := mem()
	aOpts.wrapTransport = func(tr transport) transport {
		inj = &injector{transport: tr}
		return inj
	}
	p := connect(t, mem(), aOpts)
	forged := make([]byte, seal.Overhead)
	forged[0], forged[1], forged[2] = seal.Version, byte(seal.TypeClose), byte(seal.Offerer)
	forged[15] = 9 // sequence number 9
	reflected := make([]byte, seal.Overhead)
	reflected[0], reflected[1], reflected[2] = seal.Version, byte(seal.TypeClose), byte(seal.Answerer)
	inj.mu.Lock()
	inj.pending = append(inj.pending, forged, reflected)
	inj.mu.Unlock()
	ctx := context.Background()
	if err := p.offerer.Send(ctx, []byte("after the forgeries")); err != nil {
		t.Fatal(err)
	}
	m, err := p.answerer.Receive(ctx)
	if err != nil || string(m) != "after the forgeries" {
		t.Fatalf("%q %v", m, err)
	}
	// The reader may have been waiting for that message when the
	// forgeries were queued; it reads them before the next one.
	if err := p.offerer.Send(ctx, []byte("and after")); err != nil {
		t.Fatal(err)
	}
	if m, err := p.answerer.Receive(ctx); err != nil || string(m) != "and after" {
		t.Fatalf("%q %v", m, err)
	}
	if p.answerer.Err() != nil {
		t.Fatalf("session ended: %v", p.answerer.Err())
	}
	st := p.answerer.Stats().Rejected
	if st.AuthFailed != 1 || st.Reflected != 1 {
		t.Fatalf("rejections %+v, want one auth failure and one reflection", st)
	}
}

// shortReads reads the peer's messages into at most limit bytes of the
// caller's buffer, as a receive buffer smaller than the message would.
type shortReads struct {
	transport
	limit int
}

func (s shortReads) readMessage(p []byte) (int, error) {
	return s.transport.readMessage(p[:min(len(p), s.limit)])
}

// A data-channel message larger than the receive buffer (pion's reader
// reports io.ErrShortBuffer and drops it) ends the session with a protocol
// error, not a silent loss. Records of the largest size do fit: the
// buffer is MaxRecord bytes and pion sends nothing larger.
func TestMessageLargerThanBufferEndsSession(t *testing.T) {
	checkGoroutines(t)
	ctx := context.Background()
	p := connect(t, loopback(), loopback())
	full := make([]byte, MaxRecord-seal.Overhead)
	if err := p.offerer.sendRecord(seal.TypeData, full); err != nil {
		t.Fatal(err)
	}
	if m, err := p.answerer.Receive(ctx); err != nil || len(m) != len(full) {
		t.Fatalf("a record of the largest size: %d bytes, %v", len(m), err)
	}
	if err := p.offerer.transport().writeMessage(make([]byte, MaxRecord+1)); err == nil {
		t.Fatal("pion sent a message larger than MaxRecord")
	}

	a := loopback()
	a.wrapTransport = func(tr transport) transport { return shortReads{tr, 16 << 10} }
	q := connect(t, loopback(), a)
	if err := q.offerer.sendRecord(seal.TypeData, make([]byte, 20<<10)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-q.answerer.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the message that did not fit was not reported")
	}
	if err := q.answerer.Err(); !errors.Is(err, ErrProtocol) {
		t.Fatalf("reason %v, want ErrProtocol", err)
	}
}
