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
	const bulk, small, senders = 60_000, 100, 4
	for _, m := range []struct {
		name    string
		size    int
		senders int
		out     *bench.Triple
		cpu     *bench.Triple // CPU seconds per GiB, if not nil
		conv    func(n int64, el time.Duration) float64
	}{
		{"bulk throughput", bulk, 1, &r.BulkMBs, &r.BulkCPUPerGiB, func(n int64, el time.Duration) float64 { return float64(n*bulk) / el.Seconds() / 1e6 }},
		{"small messages", small, 1, &r.SmallMsgs, nil, func(n int64, el time.Duration) float64 { return float64(n) / el.Seconds() }},
		{"small messages from 4 senders", small, senders, &r.SmallMsgsConcurrent, nil, func(n int64, el time.Duration) float64 { return float64(n) / el.Seconds() }},
	} {
		perGiB := func(n int64, cpu float64) float64 {
			if cpu <= 0 || n == 0 {
				return 0
			}
			return cpu / (float64(n) * float64(m.size) / (1 << 30))
		}
		for _, kind := range []struct {
			label    string
			fig, cpu *float64
			run      func() (int64, time.Duration, float64, error)
		}{
			{": raw pion", &m.out.Raw, pick(m.cpu, func(t *bench.Triple) *float64 { return &t.Raw }), func() (int64, time.Duration, float64, error) {
				return rawStream(ctx, false, m.size, d, m.senders)
			}},
			{": raw pion, tuned", &m.out.RawTuned, pick(m.cpu, func(t *bench.Triple) *float64 { return &t.RawTuned }), func() (int64, time.Duration, float64, error) {
				return rawStream(ctx, true, m.size, d, m.senders)
			}},
			{": sp2p session", &m.out.Sealed, pick(m.cpu, func(t *bench.Triple) *float64 { return &t.Sealed }), func() (int64, time.Duration, float64, error) {
				return sealedStream(ctx, m.size, d, m.senders)
			}},
		} {
			say(m.name + kind.label)
			n, el, cpu, err := kind.run()
			if err != nil {
				return nil, err
			}
			*kind.fig = m.conv(n, el)
			if kind.cpu != nil {
				*kind.cpu = perGiB(n, cpu)
			}
		}
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
	for _, n := range []int{2, 64, 256} {
		say(fmt.Sprintf("memory per session, %d idle sessions", n))
		kib, _, err := benchMemory(ctx, n/2)
		if err != nil {
			return nil, err
		}
		r.IdleKiB = append(r.IdleKiB, bench.Idle{Sessions: n, KiB: kib})
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

// pick returns the field of t that f selects, or nil if t is.
func pick(t *bench.Triple, f func(*bench.Triple) *float64) *float64 {
	if t == nil {
		return nil
	}
	return f(t)
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
	return newLoopbackPairWith(ctx, benchOptions())
}

// newLoopbackPairWith is newLoopbackPair with other options.
func newLoopbackPairWith(ctx context.Context, opts Options) (*loopbackPair, error) {
	alice, err := identity.Generate()
	if err != nil {
		return nil, err
	}
	bob, err := identity.Generate()
	if err != nil {
		return nil, err
	}
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

// rawStream sends size-byte messages one way for d over a plain pair,
// from senders goroutines at once; it returns the messages received, the
// time and the CPU seconds the process spent meanwhile (both ends).
func rawStream(ctx context.Context, tuned bool, size int, d time.Duration, senders int) (int64, time.Duration, float64, error) {
	tx, rx, err := rawConnect(ctx, tuned)
	if err != nil {
		return 0, 0, 0, err
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
	n, el, cpu, err := sendFor(ctx, d, senders, size, tx.writeMessage, &got)
	if err != nil {
		select {
		case rerr := <-readErr:
			return 0, 0, 0, fmt.Errorf("session: raw bench reader: %w", rerr)
		default:
		}
	}
	return n, el, cpu, err
}

// sealedStream sends size-byte messages one way for d over a session,
// from senders goroutines at once, as rawStream.
func sealedStream(ctx context.Context, size int, d time.Duration, senders int) (int64, time.Duration, float64, error) {
	p, err := newLoopbackPair(ctx)
	if err != nil {
		return 0, 0, 0, err
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
	return sendFor(ctx, d, senders, size, func(m []byte) error { return p.a.Send(ctx, m) }, &got)
}

// sendFor calls send with size-byte messages from senders goroutines for
// d, and returns what got counted, the time and the process's CPU seconds.
func sendFor(ctx context.Context, d time.Duration, senders, size int, send func([]byte) error, got *atomic.Int64) (int64, time.Duration, float64, error) {
	cpu0, _ := processCPU()
	start := time.Now()
	errs := make(chan error, senders)
	for range senders {
		go func() {
			msg := make([]byte, size)
			for time.Since(start) < d && ctx.Err() == nil {
				if err := send(msg); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	var first error
	for range senders {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	el := time.Since(start)
	cpu1, _ := processCPU()
	if first != nil {
		return 0, 0, 0, first
	}
	return got.Load(), el, cpu1 - cpu0, nil
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
// heap and goroutines per endpoint. With few pairs the heap's own noise
// (tens of KiB: earlier figures' goroutines and buffers going away) would
// swamp the figure, so it waits for the process to settle first and, for
// fewer than 8 pairs, takes the median of 5 measurements.
func benchMemory(ctx context.Context, n int) (kib, goroutines bench.Pair, err error) {
	// Two collections: buffers pooled by earlier measurements (sync.Pool
	// keeps them through one) are gone before either reading.
	gc := func() { runtime.GC(); runtime.GC() }
	once := func(open func() (func(), error)) (float64, float64, error) {
		time.Sleep(300 * time.Millisecond) // what was closed before has ended
		gc()
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
		gc()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		g1 := runtime.NumGoroutine()
		per := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(2*n) / 1024
		return per, float64(g1-g0) / float64(2*n), nil
	}
	measure := func(open func() (func(), error)) (float64, float64, error) {
		if n >= 8 {
			return once(open)
		}
		var ks, gs []float64
		for range 5 {
			k, g, err := once(open)
			if err != nil {
				return 0, 0, err
			}
			ks, gs = append(ks, k), append(gs, g)
		}
		slices.Sort(ks)
		slices.Sort(gs)
		return ks[2], gs[2], nil
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
