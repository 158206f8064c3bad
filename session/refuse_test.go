package session

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sp2p/sp2p/internal/seal"
	"github.com/sp2p/sp2p/invite"
)

// refuseSetup runs an invitation up to the answer read by the inviter,
// with the invitee waiting; it returns the invitation, the answer and
// the invitee's result.
func refuseSetup(t *testing.T, inviterOpts Options) (*Invitation, *invite.Answer, <-chan error) {
	t.Helper()
	ctx := context.Background()
	inviterOpts.Lifetime = 10 * time.Minute // far longer than any of these tests may take
	inv, err := Invite(ctx, testIdentity(t), inviterOpts)
	if err != nil {
		t.Fatal(err)
	}
	offer, err := invite.ParseOffer(inv.Token())
	if err != nil {
		t.Fatal(err)
	}
	acc, err := Accept(ctx, testIdentity(t), offer, mem())
	if err != nil {
		t.Fatal(err)
	}
	ans, err := inv.ReadAnswer(acc.Token())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		s, err := acc.Wait(ctx)
		if s != nil {
			s.Close()
			err = errors.New("a session opened")
		}
		acc.Close()
		done <- err
	}()
	return inv, ans, done
}

// waitRefused returns the invitee's error, failing the test if it takes
// longer than a handshake does (the invitation itself lasts 10 minutes).
func waitRefused(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("the invitee is still waiting after the refusal")
		return nil
	}
}

// A refusal (or a giving up) by the inviter reaches the waiting invitee
// at once, as its own error, over an authenticated close record.
func TestRefuseReachesInvitee(t *testing.T) {
	checkGoroutines(t)
	for _, c := range []struct {
		reason RefuseReason
		want   error
		not    error
	}{
		{Refused, ErrRefused, ErrPeerGaveUp},
		{GaveUp, ErrPeerGaveUp, ErrRefused},
	} {
		inv, ans, done := refuseSetup(t, mem())
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		if err := inv.Refuse(ctx, ans, c.reason); err != nil {
			t.Fatalf("Refuse(%d): %v", c.reason, err)
		}
		cancel()
		err := waitRefused(t, done)
		if !errors.Is(err, c.want) || errors.Is(err, c.not) || errors.Is(err, ErrKeyConfirmation) || errors.Is(err, ErrConnectFailed) {
			t.Errorf("reason %d: the invitee got %v, want %v", c.reason, err, c.want)
		}
		if !errors.Is(err, ErrPeerClosed) {
			t.Errorf("reason %d: %v does not wrap ErrPeerClosed", c.reason, err)
		}
		// The invitation is used up and closed: no second answer.
		if err := inv.Refuse(context.Background(), ans, c.reason); err == nil {
			t.Errorf("a second Refuse succeeded")
		}
	}
}

// flipWrites flips a bit in every record written: what the peer reads is
// no longer sealed under the handshake keys.
type flipWrites struct{ transport }

func (f flipWrites) writeMessage(p []byte) error {
	q := append([]byte(nil), p...)
	q[len(q)-1] ^= 1
	return f.transport.writeMessage(q)
}

// A refusal is authenticated: a close record that does not open under the
// handshake keys is no refusal but a failed key confirmation.
func TestForgedRefusalIsNotARefusal(t *testing.T) {
	checkGoroutines(t)
	opts := mem()
	opts.wrapTransport = func(tr transport) transport { return flipWrites{tr} }
	inv, ans, done := refuseSetup(t, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := inv.Refuse(ctx, ans, Refused); err != nil {
		t.Fatal(err)
	}
	err := waitRefused(t, done)
	if errors.Is(err, ErrPeerClosed) || !errors.Is(err, ErrKeyConfirmation) {
		t.Fatalf("a tampered refusal gave %v, want ErrKeyConfirmation", err)
	}
}

// The close record's payload in an open session: empty (Close) and 0 are
// a plain close, and so is a reason this version does not know; a payload
// longer than one byte is a protocol error.
func TestClosePayloads(t *testing.T) {
	checkGoroutines(t)
	for _, c := range []struct {
		payload []byte
		want    error
	}{
		{nil, ErrPeerClosed},
		{[]byte{0}, ErrPeerClosed},
		{[]byte{9}, ErrPeerClosed},
		{[]byte{255}, ErrPeerClosed},
		{[]byte{1}, ErrRefused},
		{[]byte{2}, ErrPeerGaveUp},
		{[]byte{0, 0}, ErrProtocol},
	} {
		p := connect(t, mem(), mem())
		if c.payload == nil {
			p.offerer.Close()
		} else if err := p.offerer.sendRecord(seal.TypeClose, c.payload); err != nil {
			t.Fatal(err)
		}
		select {
		case <-p.answerer.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("payload %v: the close was not noticed", c.payload)
		}
		err := p.answerer.Err()
		if !errors.Is(err, c.want) {
			t.Errorf("payload %v: %v, want %v", c.payload, err, c.want)
		}
		if c.want == ErrPeerClosed && (errors.Is(err, ErrRefused) || errors.Is(err, ErrPeerGaveUp)) {
			t.Errorf("payload %v: a plain close reads as %v", c.payload, err)
		}
	}
}

// Close while a Send is blocked (the peer reads slowly) cuts the send
// short and still tells the peer: it sees a clean close, not a lost peer.
func TestCloseDuringBlockedSend(t *testing.T) {
	checkGoroutines(t)
	slow := mem()
	slow.MaxQueuedBytes = 64 << 10
	p := connect(t, mem(), slow)
	blocked := make(chan struct{})
	sendDone := make(chan error, 1)
	go func() {
		msg := make([]byte, 60<<10)
		for {
			start := time.Now()
			err := p.offerer.Send(context.Background(), msg)
			if time.Since(start) > 100*time.Millisecond {
				select {
				case <-blocked:
				default:
					close(blocked)
				}
			}
			if err != nil {
				sendDone <- err
				return
			}
		}
	}()
	// The answerer reads one message every 150 ms: the sender's link
	// fills and its Send blocks.
	readErr := make(chan error, 1)
	go func() {
		for {
			if _, err := p.answerer.Receive(context.Background()); err != nil {
				readErr <- err
				return
			}
			time.Sleep(150 * time.Millisecond)
		}
	}()
	select {
	case <-blocked:
	case <-time.After(20 * time.Second):
		t.Fatal("the sender never blocked: the test does not test anything")
	}
	p.offerer.Close()
	if err := <-sendDone; !errors.Is(err, ErrClosed) {
		t.Fatalf("the blocked Send returned %v, want ErrClosed", err)
	}
	select {
	case <-readErr:
	case <-time.After(60 * time.Second):
		t.Fatal("the reader never saw the end")
	}
	if err := p.answerer.Err(); !errors.Is(err, ErrPeerClosed) {
		t.Fatalf("the peer saw %v, want a clean close (ErrPeerClosed)", err)
	}
}

// The invitee gives up (Ctrl-C) while the connection is still opening:
// the inviter is told at once (ErrPeerGaveUp), instead of waiting for a
// key confirmation that will not come.
func TestInviteeGivingUpWhileConnectingReachesInviter(t *testing.T) {
	checkGoroutines(t)
	ctx := context.Background()
	inv, err := Invite(ctx, testIdentity(t), Options{Link: memNet.Maker(), Lifetime: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer inv.Close()
	offer, _ := invite.ParseOffer(inv.Token())
	acc, err := Accept(ctx, testIdentity(t), offer, mem())
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close()
	gone, cancel := context.WithCancel(ctx)
	cancel() // the invitee pressed Ctrl-C before the inviter connected
	waited := make(chan error, 1)
	go func() {
		s, err := acc.Wait(gone)
		if s != nil {
			s.Close()
		}
		waited <- err
	}()
	time.Sleep(100 * time.Millisecond)
	ans, err := inv.ReadAnswer(acc.Token())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
	defer ccancel()
	s, err := inv.Connect(cctx, ans)
	if s != nil {
		s.Close()
	}
	if !errors.Is(err, ErrPeerGaveUp) {
		t.Fatalf("the inviter's Connect: %v, want ErrPeerGaveUp", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the inviter learnt it only after %v", d)
	}
	if err := <-waited; !errors.Is(err, context.Canceled) {
		t.Errorf("the invitee's Wait: %v, want context.Canceled", err)
	}
}

// The same the other way, over real pion on loopback: the inviter gives
// up while ICE and DTLS are still under way; the invitee learns it at once.
func TestInviterGivingUpWhileConnectingReachesInvitee(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	o := loopback()
	o.Lifetime = 10 * time.Minute
	inv, err := Invite(ctx, testIdentity(t), o)
	if err != nil {
		t.Fatal(err)
	}
	defer inv.Close()
	offer, _ := invite.ParseOffer(inv.Token())
	acc, err := Accept(ctx, testIdentity(t), offer, loopback())
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close()
	waited := make(chan error, 1)
	go func() {
		s, err := acc.Wait(ctx)
		if s != nil {
			s.Close()
		}
		waited <- err
	}()
	ans, err := inv.ReadAnswer(acc.Token())
	if err != nil {
		t.Fatal(err)
	}
	gone, cancel := context.WithCancel(ctx)
	cancel() // Ctrl-C just as the inviter starts connecting
	if s, err := inv.Connect(gone, ans); !errors.Is(err, context.Canceled) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("the inviter's Connect: %v, want context.Canceled", err)
	}
	select {
	case err := <-waited:
		if !errors.Is(err, ErrPeerGaveUp) {
			t.Fatalf("the invitee's Wait: %v, want ErrPeerGaveUp", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the invitee is still waiting after the inviter gave up")
	}
}
