package state

import (
	"bytes"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/internal/testclock"
)

// members is a Membership a test changes at will.
type members struct {
	mu      sync.Mutex
	creator identity.ID
	set     map[identity.ID]bool
}

func newMembers(ids ...*identity.Identity) *members {
	m := &members{creator: ids[0].ID(), set: map[identity.ID]bool{}}
	for _, id := range ids {
		m.set[id.ID()] = true
	}
	return m
}

func (m *members) IsMember(id identity.ID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.set[id]
}

func (m *members) Members() []identity.ID {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []identity.ID
	for id := range m.set {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i][:], out[j][:]) < 0 })
	return out
}

func (m *members) Creator() identity.ID { return m.creator }

func (m *members) remove(id identity.ID) {
	m.mu.Lock()
	delete(m.set, id)
	m.mu.Unlock()
}

var quiet = slog.New(slog.DiscardHandler)

var testRoom = [32]byte{'r', 'o', 'o', 'm'}

// cluster is a room of n replicas sharing one clock and membership.
type cluster struct {
	ids   []*identity.Identity
	reps  []*Replica
	mem   *members
	clock *testclock.Clock
}

func newCluster(t testing.TB, n int) *cluster {
	t.Helper()
	c := &cluster{clock: testclock.New()}
	for i := range n {
		c.ids = append(c.ids, seedIdentity(t, byte(i+1)))
	}
	c.mem = newMembers(c.ids...)
	for _, id := range c.ids {
		r, err := New(Config{Room: testRoom, Self: id, Members: c.mem, Now: c.clock.Now, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		c.reps = append(c.reps, r)
	}
	return c
}

// link is a pair of peers between two replicas, with the frames in
// flight each way.
type link struct {
	a, b         *Peer
	toA, toB     [][]byte
	bytesOnWire  int
	framesOnWire int
}

func connect(a, b *Replica, bud Budget) *link {
	l := &link{a: a.NewPeer(b.cfg.Self.ID(), bud), b: b.NewPeer(a.cfg.Self.ID(), bud)}
	l.toB = append(l.toB, l.a.Start()...)
	l.toA = append(l.toA, l.b.Start()...)
	return l
}

// pump delivers frames both ways, in order, until none is left; with rng
// it drops (1 in dropEvery) and duplicates frames. It returns the number
// of rounds.
func (l *link) pump(t testing.TB, rng *rand.Rand, dropEvery int) int {
	t.Helper()
	rounds := 0
	for {
		l.toA = append(l.toA, l.b.Poll()...)
		l.toB = append(l.toB, l.a.Poll()...)
		if len(l.toA)+len(l.toB) == 0 {
			return rounds
		}
		rounds++
		if rounds > 100000 {
			t.Fatal("sync does not end")
		}
		toA, toB := l.toA, l.toB
		l.toA, l.toB = nil, nil
		for _, f := range toB {
			l.deliver(t, l.b, f, &l.toA, rng, dropEvery)
		}
		for _, f := range toA {
			l.deliver(t, l.a, f, &l.toB, rng, dropEvery)
		}
	}
}

func (l *link) deliver(t testing.TB, p *Peer, f []byte, back *[][]byte, rng *rand.Rand, dropEvery int) {
	l.bytesOnWire += len(f)
	l.framesOnWire++
	times := 1
	if rng != nil && dropEvery > 0 {
		switch rng.IntN(dropEvery) {
		case 0:
			return
		case 1:
			times = 2
		}
	}
	for range times {
		out, err := p.Receive(f)
		if err != nil && rng == nil {
			t.Fatalf("frame refused: %v", err)
		}
		*back = append(*back, out...)
	}
}

// syncAll syncs every pair of the cluster once, in order, without loss.
func (c *cluster) syncAll(t testing.TB) {
	t.Helper()
	for i := range c.reps {
		for j := i + 1; j < len(c.reps); j++ {
			connect(c.reps[i], c.reps[j], Budget{}).pump(t, nil, 0)
		}
	}
}

func (c *cluster) requireConverged(t testing.TB) {
	t.Helper()
	want := c.reps[0].View().Encode()
	for i, r := range c.reps[1:] {
		if got := r.View().Encode(); !bytes.Equal(got, want) {
			t.Fatalf("replica %d's view differs from replica 0's:\n%x\n%x", i+1, got, want)
		}
	}
}

func (c *cluster) tick() { c.clock.Advance(time.Millisecond) }
