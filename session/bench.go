//go:build !js

package session

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync/atomic"
	"time"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/internal/bench"
	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/link"
)

func init() { bench.Run = runBench }

// runBench measures sp2p against plain pion on loopback in this process
// (bench.Run: the CLI's bench command). d is how long each throughput
// figure runs. progress, if not nil, is told what is being measured.
func runBench(ctx context.Context, d time.Duration, progress func(string)) (*bench.Result, error) {
	say := func(s string) {
		if progress != nil {
			progress(s)
		}
	}
	start := time.Now()
	r := &bench.Result{}
	var err error
	const bulk, small = 60_000, 100
	for _, m := range []struct {
		name string
		size int
		out  *bench.Triple
		conv func(n int64, el time.Duration) float64
	}{
		{"bulk throughput", bulk, &r.BulkMBs, func(n int64, el time.Duration) float64 { return float64(n*bulk) / el.Seconds() / 1e6 }},
		{"small messages", small, &r.SmallMsgs, func(n int64, el time.Duration) float64 { return float64(n) / el.Seconds() }},
	} {
		say(m.name + ": raw pion")
		n, el, err := rawStream(ctx, false, m.size, d)
		if err != nil {
			return nil, err
		}
		m.out.Raw = m.conv(n, el)
		say(m.name + ": raw pion, tuned")
		if n, el, err = rawStream(ctx, true, m.size, d); err != nil {
			return nil, err
		}
		m.out.RawTuned = m.conv(n, el)
		say(m.name + ": sp2p session")
		if n, el, err = sealedStream(ctx, m.size, d); err != nil {
			return nil, err
		}
		m.out.Sealed = m.conv(n, el)
	}
	say("round-trip latency")
	if r.RTTMicros, err = benchRTT(ctx, 1000); err != nil {
		return nil, err
	}
	say("connect time")
	if r.ConnectMs, err = benchConnect(ctx, 15); err != nil {
		return nil, err
	}
	say("memory per session")
	if r.SessionKiB, r.Goroutines, err = benchMemory(ctx, 25); err != nil {
		return nil, err
	}
	p, err := newLoopbackPair(ctx)
	if err != nil {
		return nil, err
	}
	r.Token, r.TokenChars = p.token, len(p.token)
	p.close()
	r.DurationSec = time.Since(start).Seconds()
	return r, nil
}

func benchOptions() Options { return Options{LoopbackOnly: true, UDP4Only: true} }

// rawConnect connects two plain PeerConnections (full SDP, no tokens).
func rawConnect(ctx context.Context, tuned bool) (transport, transport, error) {
	opts := benchOptions()
	a, err := newPeerConnTuned(&opts, link.Config{}, tuned)
	if err != nil {
		return nil, nil, err
	}
	b, err := newPeerConnTuned(&opts, link.Config{}, tuned)
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	fail := func(err error) (transport, transport, error) { a.Close(); b.Close(); return nil, nil, err }
	offer, err := a.pc.CreateOffer(nil)
	if err != nil {
		return fail(err)
	}
	if _, err := a.gather(ctx, offer); err != nil {
		return fail(err)
	}
	if err := b.pc.SetRemoteDescription(*a.pc.LocalDescription()); err != nil {
		return fail(err)
	}
	answer, err := b.pc.CreateAnswer(nil)
	if err != nil {
		return fail(err)
	}
	if _, err := b.gather(ctx, answer); err != nil {
		return fail(err)
	}
	if err := a.pc.SetRemoteDescription(*b.pc.LocalDescription()); err != nil {
		return fail(err)
	}
	ta, err := a.waitOpen(ctx)
	if err != nil {
		return fail(err)
	}
	tb, err := b.waitOpen(ctx)
	if err != nil {
		return fail(err)
	}
	return chanTransport{ta}, chanTransport{tb}, nil
}

// loopbackPair is two open sessions in this process.
type loopbackPair struct {
	a, b  *Session
	token string
}

func (p *loopbackPair) close() {
	p.a.Close()
	p.b.Close()
}

func newLoopbackPair(ctx context.Context) (*loopbackPair, error) {
	alice, err := identity.Generate()
	if err != nil {
		return nil, err
	}
	bob, err := identity.Generate()
	if err != nil {
		return nil, err
	}
	opts := benchOptions()
	var token string
	as, bs, err := ConnectInProcess(ctx, alice, bob, opts, opts, func(o *invite.Offer, _ *invite.Answer) { token = o.Text() })
	if err != nil {
		return nil, fmt.Errorf("session: bench connect: %w", err)
	}
	return &loopbackPair{a: as, b: bs, token: token}, nil
}

// rawReadBuffer holds the largest message plain pion accepts (65,535
// bytes when the peer announces no max-message-size).
const rawReadBuffer = 64 << 10

// rawStream sends size-byte messages one way for d over a plain pair.
func rawStream(ctx context.Context, tuned bool, size int, d time.Duration) (int64, time.Duration, error) {
	tx, rx, err := rawConnect(ctx, tuned)
	if err != nil {
		return 0, 0, err
	}
	defer tx.close()
	defer rx.close()
	var got atomic.Int64
	readErr := make(chan error, 1)
	go func() {
		buf := make([]byte, rawReadBuffer)
		for {
			if _, err := rx.readMessage(buf); err != nil {
				readErr <- err
				tx.close() // unblock the writer
				return
			}
			got.Add(1)
		}
	}()
	msg := make([]byte, size)
	start := time.Now()
	for time.Since(start) < d && ctx.Err() == nil {
		if err := tx.writeMessage(msg); err != nil {
			select {
			case rerr := <-readErr:
				return 0, 0, fmt.Errorf("session: raw bench reader: %w", rerr)
			default:
			}
			return 0, 0, err
		}
	}
	return got.Load(), time.Since(start), nil
}

// sealedStream sends size-byte messages one way for d over a session.
func sealedStream(ctx context.Context, size int, d time.Duration) (int64, time.Duration, error) {
	p, err := newLoopbackPair(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer p.close()
	var got atomic.Int64
	go func() {
		for {
			if _, err := p.b.Receive(ctx); err != nil {
				return
			}
			got.Add(1)
		}
	}()
	msg := make([]byte, size)
	start := time.Now()
	for time.Since(start) < d && ctx.Err() == nil {
		if err := p.a.Send(ctx, msg); err != nil {
			return 0, 0, err
		}
	}
	return got.Load(), time.Since(start), nil
}

func median(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// rawEcho sends every message it reads on rx back, until rx fails.
func rawEcho(rx transport) {
	buf := make([]byte, rawReadBuffer)
	for {
		k, err := rx.readMessage(buf)
		if err != nil || rx.writeMessage(buf[:k]) != nil {
			return
		}
	}
}

// benchRTT measures n 64-byte ping-pongs, raw and sealed.
func benchRTT(ctx context.Context, n int) (bench.Pair, error) {
	var out bench.Pair
	tx, rx, err := rawConnect(ctx, false)
	if err != nil {
		return out, err
	}
	go rawEcho(rx)
	msg, buf := make([]byte, 64), make([]byte, rawReadBuffer)
	var rtts []time.Duration
	for range n {
		start := time.Now()
		if err := tx.writeMessage(msg); err != nil {
			return out, err
		}
		if _, err := tx.readMessage(buf); err != nil {
			return out, err
		}
		rtts = append(rtts, time.Since(start))
	}
	tx.close()
	rx.close()
	out.Raw = float64(median(rtts).Microseconds())
	p, err := newLoopbackPair(ctx)
	if err != nil {
		return out, err
	}
	defer p.close()
	go func() {
		for {
			m, err := p.b.Receive(ctx)
			if err != nil || p.b.Send(ctx, m) != nil {
				return
			}
		}
	}()
	rtts = rtts[:0]
	for range n {
		start := time.Now()
		if err := p.a.Send(ctx, msg); err != nil {
			return out, err
		}
		if _, err := p.a.Receive(ctx); err != nil {
			return out, err
		}
		rtts = append(rtts, time.Since(start))
	}
	out.Sealed = float64(median(rtts).Microseconds())
	return out, nil
}

// benchConnect measures n connects each way.
func benchConnect(ctx context.Context, n int) (bench.Pair, error) {
	var out bench.Pair
	var raw, sealed []time.Duration
	for range n {
		start := time.Now()
		a, b, err := rawConnect(ctx, false)
		if err != nil {
			return out, err
		}
		raw = append(raw, time.Since(start))
		a.close()
		b.close()
		start = time.Now()
		p, err := newLoopbackPair(ctx)
		if err != nil {
			return out, err
		}
		sealed = append(sealed, time.Since(start))
		p.close()
	}
	out.Raw = float64(median(raw).Microseconds()) / 1000
	out.Sealed = float64(median(sealed).Microseconds()) / 1000
	return out, nil
}

// benchMemory opens n idle pairs (2n endpoints) of each kind and reports
// heap and goroutines per endpoint.
func benchMemory(ctx context.Context, n int) (kib, goroutines bench.Pair, err error) {
	measure := func(open func() (func(), error)) (float64, float64, error) {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		g0 := runtime.NumGoroutine()
		var closers []func()
		defer func() {
			for _, c := range closers {
				c()
			}
		}()
		for range n {
			c, err := open()
			if err != nil {
				return 0, 0, err
			}
			closers = append(closers, c)
		}
		time.Sleep(200 * time.Millisecond)
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		g1 := runtime.NumGoroutine()
		per := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(2*n) / 1024
		return per, float64(g1-g0) / float64(2*n), nil
	}
	kib.Raw, goroutines.Raw, err = measure(func() (func(), error) {
		a, b, err := rawConnect(ctx, false)
		if err != nil {
			return nil, err
		}
		return func() { a.close(); b.close() }, nil
	})
	if err != nil {
		return
	}
	kib.Sealed, goroutines.Sealed, err = measure(func() (func(), error) {
		p, err := newLoopbackPair(ctx)
		if err != nil {
			return nil, err
		}
		return p.close, nil
	})
	return
}
