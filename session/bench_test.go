package session

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/sp2p/sp2p/invite"
)

// rawPair connects two plain pion PeerConnections with the same settings
// as sessions (loopback, detached negotiated channel, blocking writes) but
// no sp2p layers: full SDP exchanged directly, no tokens, no records.
func rawPair(tb testing.TB) (transport, transport) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	opts := loopback()
	a, err := newPeerConn(&opts, invite.ChannelOptions{}, 30*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := newPeerConn(&opts, invite.ChannelOptions{}, 30*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	offer, _ := a.pc.CreateOffer(nil)
	if _, err := a.gather(ctx, offer); err != nil {
		tb.Fatal(err)
	}
	if err := b.pc.SetRemoteDescription(*a.pc.LocalDescription()); err != nil {
		tb.Fatal(err)
	}
	answer, _ := b.pc.CreateAnswer(nil)
	if _, err := b.gather(ctx, answer); err != nil {
		tb.Fatal(err)
	}
	if err := a.pc.SetRemoteDescription(*b.pc.LocalDescription()); err != nil {
		tb.Fatal(err)
	}
	ta, err := a.waitOpen(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	tbb, err := b.waitOpen(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ta.close(); tbb.close() })
	return ta, tbb
}

// BenchmarkThroughput sends 60,000-byte messages one way, reliable and
// ordered, over a raw pion data channel and over an sp2p session in the
// same run.
func BenchmarkThroughput(b *testing.B) {
	const size = 60_000
	msg := make([]byte, size)
	b.Run("raw", func(b *testing.B) {
		tx, rx := rawPair(b)
		done := make(chan struct{})
		go func() {
			buf := make([]byte, MaxRecord+1)
			for {
				if _, err := rx.readMessage(buf); err != nil {
					close(done)
					return
				}
			}
		}()
		b.SetBytes(size)
		for b.Loop() {
			if err := tx.writeMessage(msg); err != nil {
				b.Fatal(err)
			}
		}
		tx.close()
		<-done
	})
	b.Run("sealed", func(b *testing.B) {
		p := benchPair(b)
		ctx := context.Background()
		go func() {
			for {
				if _, err := p.answerer.Receive(ctx); err != nil {
					return
				}
			}
		}()
		b.SetBytes(size)
		for b.Loop() {
			if err := p.offerer.Send(ctx, msg); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchPair connects a session pair for a benchmark.
func benchPair(b *testing.B) *pair {
	p, err := connectPair(loopback(), loopback())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.offerer.Close(); p.answerer.Close() })
	return p
}

// BenchmarkConnect measures an sp2p connect: from creating the offer to an
// open session on both sides, including gathering, token encoding and
// parsing, signatures, the handshake and key confirmation.
func BenchmarkConnect(b *testing.B) {
	var times []time.Duration
	for b.Loop() {
		start := time.Now()
		p, err := connectPair(loopback(), loopback())
		if err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(start))
		b.StopTimer()
		p.offerer.Close()
		p.answerer.Close()
		b.StartTimer()
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "median-ms")
	b.ReportMetric(float64(times[len(times)*95/100].Microseconds())/1000, "p95-ms")
}

// connectPair is connect without a testing.T.
func connectPair(oOpts, aOpts Options) (*pair, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p := &pair{}
	var err error
	if p.alice, err = identityGenerate(); err != nil {
		return nil, err
	}
	if p.bob, err = identityGenerate(); err != nil {
		return nil, err
	}
	inv, err := Invite(ctx, p.alice, oOpts)
	if err != nil {
		return nil, err
	}
	offer, err := invite.ParseOffer(inv.Token())
	if err != nil {
		return nil, err
	}
	acc, err := Accept(ctx, p.bob, offer, aOpts)
	if err != nil {
		inv.Close()
		return nil, err
	}
	answer, err := inv.ReadAnswer(acc.Token())
	if err != nil {
		return nil, err
	}
	ch := make(chan error, 1)
	go func() {
		s, err := acc.Wait(ctx)
		p.answerer = s
		ch <- err
	}()
	p.offerer, err = inv.Connect(ctx, answer)
	if werr := <-ch; err != nil || werr != nil {
		return nil, fmt.Errorf("connect: %v / %v", err, werr)
	}
	return p, nil
}
