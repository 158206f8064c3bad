//go:build !js

package session

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"
)

// lossyStream sends data over the session stream of p and returns what
// arrived and how long it took.
func lossyStream(tb testing.TB, p *pair, data []byte) ([]byte, time.Duration) {
	tb.Helper()
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		_, err := p.offerer.Conn().Write(data)
		if err == nil {
			err = p.offerer.CloseWrite()
		}
		errc <- err
	}()
	got, err := io.ReadAll(p.answerer.Conn())
	if err != nil {
		tb.Fatal(err)
	}
	if err := <-errc; err != nil {
		tb.Fatal(err)
	}
	return got, time.Since(start)
}

// Under 10 % random loss of the datagrams each side sends, a 4 MiB stream
// arrives intact (SCTP resends what is lost; the record layer checks
// every byte) and the session stays up.
func TestLossyStreamIntact(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 4 MiB through 10 % loss")
	}
	t.Parallel() // slow: with the other slow real-network tests (TestMain checks goroutines)
	var f netFaults
	o, a := loopback(), loopback()
	o.faults, a.faults = &f, &f
	p := connect(t, o, a)
	f.lossPermille.Store(100)
	data := make([]byte, 4<<20)
	rand.Read(data)
	got, el := lossyStream(t, p, data)
	if !bytes.Equal(got, data) {
		t.Fatalf("received %d bytes, not the %d sent", len(got), len(data))
	}
	if p.offerer.Err() != nil || p.answerer.Err() != nil {
		t.Fatalf("the session ended: %v / %v", p.offerer.Err(), p.answerer.Err())
	}
	t.Logf("%d KiB under 10 %% loss in %v: %.0f KiB/s", len(data)>>10, el.Round(time.Millisecond), float64(len(data))/1024/el.Seconds())
}

// BenchmarkLossyStream moves 1 MiB per operation through 10 % random loss
// in both directions, with pion's congestion control as it comes and with
// sp2p's floor under the congestion window, in the same run. Slow without
// the floor: run it with -benchtime=3x.
func BenchmarkLossyStream(b *testing.B) {
	data := make([]byte, 1<<20)
	rand.Read(data)
	for _, floor := range []bool{false, true} {
		b.Run(fmt.Sprintf("cwnd_floor=%v", floor), func(b *testing.B) {
			var f netFaults
			o, a := loopback(), loopback()
			o.faults, a.faults = &f, &f
			o.noCwndFloor, a.noCwndFloor = !floor, !floor
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				b.StopTimer()
				f.lossPermille.Store(0)
				p := connect(b, o, a)
				f.lossPermille.Store(100)
				b.StartTimer()
				got, _ := lossyStream(b, p, data)
				b.StopTimer()
				if !bytes.Equal(got, data) {
					b.Fatalf("received %d bytes, not the %d sent", len(got), len(data))
				}
				p.offerer.Close()
				p.answerer.Close()
				b.StartTimer()
			}
		})
	}
}

// TestCloseAfterLoss: a message sent just before Close, while every
// datagram is lost for 1.5 s, still reaches the peer, followed by a clean
// end: Close waits for the peer's answer while what it sent is not
// acknowledged, instead of closing the link (which loses what SCTP has
// not delivered yet) after a second.
func TestCloseAfterLoss(t *testing.T) {
	t.Parallel()
	var f netFaults
	o, a := loopback(), loopback()
	o.faults, a.faults = &f, &f
	o.ResumeWindow, a.ResumeWindow = 5*time.Second, 5*time.Second // a lost end shows in seconds
	p := connect(t, o, a)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f.cut.Store(true)
	if err := p.offerer.Send(ctx, []byte("the last message")); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(1500*time.Millisecond, func() { f.cut.Store(false) })
	closed := make(chan struct{})
	go func() { p.offerer.Close(); close(closed) }()
	for !p.offerer.closing.Load() {
		time.Sleep(time.Millisecond)
	}
	// While Close waits for the answer, nothing more is sent after its
	// close record (the peer would never read it).
	if err := p.offerer.Send(ctx, []byte("too late")); !errors.Is(err, ErrClosed) {
		t.Errorf("Send while Close waits: %v, want ErrClosed", err)
	}
	if err := p.offerer.CloseWrite(); !errors.Is(err, ErrClosed) {
		t.Errorf("CloseWrite while Close waits: %v, want ErrClosed", err)
	}
	m, err := p.answerer.Receive(ctx)
	if err != nil || string(m) != "the last message" {
		t.Fatalf("the message sent before Close: %q, %v", m, err)
	}
	if _, err := p.answerer.Receive(ctx); err != io.EOF {
		t.Fatalf("after it: %v, want the clean end (io.EOF)", err)
	}
	if err := p.answerer.Err(); !errors.Is(err, ErrPeerClosed) {
		t.Errorf("the receiver's reason: %v, want ErrPeerClosed", err)
	}
	<-closed
}
