//go:build !js

package session

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"
)

// rawPair connects two plain pion PeerConnections for a benchmark.
func rawPair(tb testing.TB, tuned bool) (transport, transport) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, b, err := rawConnect(ctx, tuned)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { a.close(); b.close() })
	return a, b
}

// BenchmarkThroughput sends 60,000-byte messages one way, reliable and
// ordered, over a raw pion data channel and over an sp2p session in the
// same run.
func BenchmarkThroughput(b *testing.B) {
	const size = 60_000
	msg := make([]byte, size)
	for _, raw := range []struct {
		name  string
		tuned bool
	}{{"raw", false}, {"raw_tuned", true}} {
		b.Run(raw.name, func(b *testing.B) { benchRaw(b, raw.tuned, msg) })
	}
	b.Run("sealed", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		benchSealed(b, msg)
	})
	b.Run("sealed_no_resume", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		benchSealedWith(b, msg, noResume())
	})
}

// noResume is benchOptions without resumption (no retransmission
// buffer, no acks), for comparison.
func noResume() Options {
	o := benchOptions()
	o.ResumeWindow = -1
	return o
}

// benchSealed sends msg one way over an sp2p session for b.N iterations.
func benchSealed(b *testing.B, msg []byte) { benchSealedWith(b, msg, benchOptions()) }

// benchSealedWith is benchSealed with the sessions' options.
func benchSealedWith(b *testing.B, msg []byte, opts Options) {
	p := benchPairWith(b, opts)
	ctx := context.Background()
	go func() {
		for {
			if _, err := p.answerer.Receive(ctx); err != nil {
				return
			}
		}
	}()
	for b.Loop() {
		if err := p.offerer.Send(ctx, msg); err != nil {
			b.Fatal(err)
		}
	}
}

// benchRaw sends msg one way over a plain pion pair for b.N iterations.
func benchRaw(b *testing.B, tuned bool, msg []byte) {
	tx, rx := rawPair(b, tuned)
	done := make(chan struct{})
	go func() {
		buf := make([]byte, rawReadBuffer)
		for {
			if _, err := rx.readMessage(buf); err != nil {
				close(done)
				return
			}
		}
	}()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if err := tx.writeMessage(msg); err != nil {
			b.Fatal(err)
		}
	}
	tx.close()
	<-done
}

// benchPair connects a session pair for a benchmark.
func benchPair(b *testing.B) *pair { return benchPairWith(b, benchOptions()) }

// benchPairWith is benchPair with the sessions' options.
func benchPairWith(b *testing.B, opts Options) *pair {
	lp, err := newLoopbackPairWith(context.Background(), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(lp.close)
	return &pair{offerer: lp.a, answerer: lp.b}
}

// BenchmarkConnect measures an sp2p connect: from creating the offer to an
// open session on both sides, including gathering, token encoding and
// parsing, signatures, the handshake and key confirmation.
func BenchmarkConnect(b *testing.B) {
	var times []time.Duration
	for b.Loop() {
		start := time.Now()
		p, err := newLoopbackPair(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(start))
		b.StopTimer()
		p.close()
		b.StartTimer()
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "median-ms")
	b.ReportMetric(float64(times[len(times)*95/100].Microseconds())/1000, "p95-ms")
}

// Bench runs every measurement and reports a figure for each.
func TestBenchRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("measures for several seconds")
	}
	checkGoroutines(t)
	var steps []string
	r, err := runBench(context.Background(), 200*time.Millisecond, func(s string) { steps = append(steps, s) })
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]float64{
		// Raw bulk is left out: with pion's default buffers a burst can
		// stall for a whole second (see BENCHMARKS.md), longer than this
		// short run, and then legitimately measures zero.
		"bulk tuned": r.BulkMBs.RawTuned, "bulk sealed": r.BulkMBs.Sealed,
		"small raw": r.SmallMsgs.Raw, "small sealed": r.SmallMsgs.Sealed,
		"rtt raw": r.RTTMicros.Raw, "rtt sealed": r.RTTMicros.Sealed,
		"connect raw": r.ConnectMs.Raw, "connect sealed": r.ConnectMs.Sealed,
		"memory sealed": r.SessionKiB.Sealed, "token": float64(r.TokenChars), "qr": float64(len(r.Token)),
	} {
		if v <= 0 {
			t.Errorf("%s: no figure (%v)", name, v)
		}
	}
	if len(steps) < 8 {
		t.Errorf("progress steps: %v", steps)
	}
	t.Logf("%+v", *r)
}

// BenchmarkSmallMessages sends 100-byte messages one way: raw pion with
// sp2p's transport settings against an sp2p session, in the same run.
func BenchmarkSmallMessages(b *testing.B) {
	msg := make([]byte, 100)
	b.Run("raw_tuned", func(b *testing.B) { benchRaw(b, true, msg) })
	b.Run("sealed", func(b *testing.B) {
		b.ReportAllocs()
		benchSealed(b, msg)
	})
	b.Run("sealed_no_resume", func(b *testing.B) {
		b.ReportAllocs()
		benchSealedWith(b, msg, noResume())
	})
}

// BenchmarkRoundTrip measures 64-byte ping-pongs, raw pion against an sp2p
// session, reporting the median and p99.
func BenchmarkRoundTrip(b *testing.B) {
	msg := make([]byte, 64)
	report := func(b *testing.B, rtts []time.Duration) {
		sort.Slice(rtts, func(i, j int) bool { return rtts[i] < rtts[j] })
		b.ReportMetric(float64(rtts[len(rtts)/2].Nanoseconds())/1000, "median-us")
		b.ReportMetric(float64(rtts[len(rtts)*99/100].Nanoseconds())/1000, "p99-us")
	}
	b.Run("raw", func(b *testing.B) {
		tx, rx := rawPair(b, false)
		go rawEcho(rx)
		buf := make([]byte, rawReadBuffer)
		var rtts []time.Duration
		for b.Loop() {
			start := time.Now()
			if err := tx.writeMessage(msg); err != nil {
				b.Fatal(err)
			}
			if _, err := tx.readMessage(buf); err != nil {
				b.Fatal(err)
			}
			rtts = append(rtts, time.Since(start))
		}
		report(b, rtts)
	})
	b.Run("sealed", func(b *testing.B) {
		p := benchPair(b)
		ctx := context.Background()
		go func() {
			for {
				m, err := p.answerer.Receive(ctx)
				if err != nil || p.answerer.Send(ctx, m) != nil {
					return
				}
			}
		}()
		var rtts []time.Duration
		for b.Loop() {
			start := time.Now()
			if err := p.offerer.Send(ctx, msg); err != nil {
				b.Fatal(err)
			}
			if _, err := p.offerer.Receive(ctx); err != nil {
				b.Fatal(err)
			}
			rtts = append(rtts, time.Since(start))
		}
		report(b, rtts)
	})
}

// BenchmarkIdleSessionMemory reports heap and goroutines per idle
// endpoint, raw pion against sp2p, with 1 (one pair: 2 endpoints), 50, 64
// and 256 endpoints open. Run it with -benchtime 1x.
func BenchmarkIdleSessionMemory(b *testing.B) {
	for _, n := range []int{2, 50, 64, 256} {
		b.Run(fmt.Sprintf("sessions=%d", n), func(b *testing.B) {
			for b.Loop() {
				kib, gor, err := benchMemory(context.Background(), n/2)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(kib.Raw, "raw-KiB")
				b.ReportMetric(kib.Sealed, "sealed-KiB")
				b.ReportMetric(kib.Sealed/kib.Raw, "sealed/raw")
				b.ReportMetric(gor.Raw, "raw-goroutines")
				b.ReportMetric(gor.Sealed, "sealed-goroutines")
			}
		})
	}
}
