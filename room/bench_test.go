package room

import (
	"context"
	"encoding/binary"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sp2p/sp2p/ratelimit"
	"github.com/sp2p/sp2p/session"
)

// BenchmarkFanout sends the same messages from one member to 15 others,
// over a 16-member room (signed gossip over the partial mesh) and over a
// star of 1:1 sessions (the sender's session.Group with a session to
// each of the 15: what sp2p offered before rooms), on the in-memory link
// ("mem") and on real pion over loopback ("pion": 16 members' sessions in
// one process, DTLS and SCTP included). "paced" sends a message every 5 ms
// and reports the delivery latency over every (message, recipient) pair;
// "burst" sends as fast as the sender can and reports the messages per
// second until the last delivery.
//
//	go test -run '^$' -bench 'BenchmarkFanout/mem' -benchtime 400x ./room/
//	go test -run '^$' -bench 'BenchmarkFanout/pion' -benchtime 400x ./room/
func BenchmarkFanout(b *testing.B) {
	for _, link := range []string{"mem", "pion"} {
		for _, topo := range []string{"room", "star"} {
			for _, mode := range []string{"paced", "burst"} {
				b.Run(link+"/"+topo+"/"+mode, func(b *testing.B) {
					var f fanout
					if topo == "room" {
						f = roomFanout(b, link == "pion")
					} else {
						f = starFanout(b, link == "pion")
					}
					runFanout(b, f, mode == "paced")
				})
			}
		}
	}
}

// fanout is one sender and its recipients' deliveries: each delivery's
// message index and arrival time.
type fanout struct {
	send       func(ctx context.Context, payload []byte) error
	recipients int
	deliveries chan delivery
}

type delivery struct {
	index int
	at    time.Time
}

func runFanout(b *testing.B, f fanout, paced bool) {
	ctx := context.Background()
	n := b.N
	sent := make([]time.Time, n)
	var mu sync.Mutex
	var lat []time.Duration
	got := 0
	done := make(chan time.Time, 1)
	go func() {
		for d := range f.deliveries {
			mu.Lock()
			if d.index < n {
				lat = append(lat, d.at.Sub(sent[d.index]))
				got++
				if got == n*f.recipients {
					done <- d.at
				}
			}
			mu.Unlock()
		}
	}()
	payload := make([]byte, 64)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < n; i++ {
		binary.BigEndian.PutUint64(payload, uint64(i))
		mu.Lock()
		sent[i] = time.Now()
		mu.Unlock()
		if err := f.send(ctx, payload); err != nil {
			b.Fatal(err)
		}
		if paced {
			time.Sleep(5 * time.Millisecond)
		}
	}
	var end time.Time
	select {
	case end = <-done:
	case <-time.After(30 * time.Second):
		mu.Lock()
		b.Fatalf("%d of %d deliveries", got, n*f.recipients)
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	if paced {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-median")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "ms-p99")
	} else {
		b.ReportMetric(float64(n)/end.Sub(start).Seconds(), "msgs/s")
	}
	b.ReportMetric(0, "ns/op")
}

func roomFanout(b *testing.B, pion bool) fanout {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	tn := newTestNet(b, 11)
	tn.pion = pion
	tn.opts.Heartbeat = 200 * time.Millisecond
	tn.opts.Budget = Budget{MessagesPerSecond: 1e6, MessageBurst: 1e6}
	tn.opts.Events = 1 << 20
	rooms := buildRoom(ctx, b, tn, 16, 11)
	if err := settle(ctx, rooms, 4); err != nil {
		b.Fatal(err)
	}
	f := fanout{recipients: 15, deliveries: make(chan delivery, 1<<16)}
	sender := rooms[1]
	f.send = func(ctx context.Context, p []byte) error { _, err := sender.Publish(ctx, p); return err }
	rctx, rcancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, r := range rooms {
		if r == sender {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				e, err := r.Next(rctx)
				if err != nil {
					return
				}
				if e.Kind == EventMessage {
					f.deliveries <- delivery{int(binary.BigEndian.Uint64(e.Message.Data)), time.Now()}
				}
			}
		}()
	}
	b.Cleanup(func() { rcancel(); wg.Wait() })
	return f
}

func starFanout(b *testing.B, pion bool) fanout {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	tn := newTestNet(b, 12)
	tn.pion = pion
	opts := tn.sessionOptions()
	hub := newID(b)
	g := session.NewGroup(ratelimit.Limits{})
	f := fanout{recipients: 15, deliveries: make(chan delivery, 1<<16)}
	rctx, rcancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range f.recipients {
		h, l, err := session.ConnectInProcess(ctx, hub, newID(b), g.Options(opts), opts, nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := g.Add(h); err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer l.Close()
			for {
				m, err := l.Receive(rctx)
				if err != nil {
					return
				}
				f.deliveries <- delivery{int(binary.BigEndian.Uint64(m)), time.Now()}
			}
		}()
	}
	f.send = g.Broadcast
	b.Cleanup(func() { rcancel(); g.Close(); wg.Wait() })
	return f
}
