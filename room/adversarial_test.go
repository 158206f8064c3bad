package room

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sp2p/sp2p/identity"
)

// inject makes from send a raw frame to its neighbour to.
func inject(t testing.TB, from *Room, to identity.ID, f []byte) {
	t.Helper()
	from.mu.Lock()
	defer from.mu.Unlock()
	n := from.neigh[to]
	if n == nil {
		t.Fatalf("%v is not a neighbour", to.Fingerprint())
	}
	from.send(n, f, false)
}

// anyNeighbour returns one of r's neighbours among rooms.
func anyNeighbour(t testing.TB, r *Room, rooms []*Room) *Room {
	t.Helper()
	for _, n := range r.Neighbours() {
		for _, o := range rooms {
			if o != r && o.self.ID() == n.ID {
				return o
			}
		}
	}
	t.Fatal("no neighbour")
	return nil
}

func signed(id *identity.Identity, room ID, seq uint64, at time.Time, payload string) *message {
	m := &message{room: room, origin: id.ID(), seq: seq, time: at.UnixMilli(), payload: []byte(payload)}
	copy(m.sig[:], id.Sign(ContextMessage, m.signed()))
	return m
}

// eventually waits for cond.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if !waitFor(d, cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

// waitFor waits up to d for cond and reports whether it came.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

func smallRoom(ctx context.Context, t *testing.T, tn *testNet, n int) []*Room {
	rooms := buildRoom(ctx, t, tn, n, 7)
	if err := settle(ctx, rooms, 3); err != nil {
		t.Fatal(err)
	}
	return rooms
}

// cast builds a 5-member room and picks a malicious member (rooms[mal]),
// one of its neighbours as the victim, and a third member.
func cast(ctx context.Context, t *testing.T, seed uint64, mal int) (rooms []*Room, m, victim, third *Room, col *collector) {
	rooms = smallRoom(ctx, t, newTestNet(t, seed), 5)
	m = rooms[mal]
	victim = anyNeighbour(t, m, rooms)
	for _, r := range rooms {
		if r != m && r != victim {
			third = r
			break
		}
	}
	return rooms, m, victim, third, collect(rooms...)
}

// TestForgedOrigin: a member forwards a message that claims another
// member's origin but is signed by itself; it is dropped, not delivered,
// counted against the forwarder, and does not silence the real message.
func TestForgedOrigin(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rooms, mal, victim, claimed, col := cast(ctx, t, 3, 1)
	defer col.stop()

	// The real message, and a forgery with the same content signed by
	// the wrong key: the same message ID.
	real := signed(claimed.self, claimed.ID(), claimed.seq+1000, time.Now(), "pay alice")
	forged := *real
	copy(forged.sig[:], mal.self.Sign(ContextMessage, forged.signed()))
	inject(t, mal, victim.self.ID(), publishFrame(&forged, 0))
	counted := waitFor(3*time.Second, func() bool { return victim.Stats().Forged == 1 })
	if got := col.count(victim, real.id()); got != 0 {
		t.Fatalf("forged message delivered %d times", got)
	}
	if !counted {
		t.Fatal("the forgery was not counted")
	}
	if s := victim.Score(mal.self.ID()); s >= 0 {
		t.Errorf("the forwarder's score is %.1f, want negative", s)
	}
	// The real one still gets through: the forgery did not mark it seen.
	inject(t, claimed, anyNeighbour(t, claimed, rooms).self.ID(), publishFrame(real, 0))
	if err := col.waitAll(ctx, rooms, map[MessageID]*Room{real.id(): claimed}); err != nil {
		t.Fatal(err)
	}
}

// TestReplay: a member re-sends a message that was already delivered,
// once while it is in the seen cache (a duplicate) and once after the
// cache forgot it (the origin's sequence window catches it); it is
// delivered exactly once and the second replay counts against the sender.
func TestReplay(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rooms, mal, victim, origin, col := cast(ctx, t, 4, 2)
	defer col.stop()
	id, err := origin.Publish(ctx, []byte("once"))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[MessageID]*Room{id: origin}
	if err := col.waitAll(ctx, rooms, ids); err != nil {
		t.Fatal(err)
	}
	mal.mu.Lock()
	frame := append([]byte(nil), mal.store[id].frame...)
	mal.mu.Unlock()

	dups := victim.Stats().Duplicates
	inject(t, mal, victim.self.ID(), frame)
	eventually(t, 5*time.Second, "a duplicate counted", func() bool { return victim.Stats().Duplicates > dups })
	// Push the message out of the victim's seen cache (made small), one
	// message at a time so that honest duplicates find theirs there.
	victim.mu.Lock()
	victim.opts.SeenCache = 4
	victim.mu.Unlock()
	for i := 0; i < 8; i++ {
		id, err := origin.Publish(ctx, []byte("filler"))
		if err != nil {
			t.Fatal(err)
		}
		if err := col.waitAll(ctx, rooms, map[MessageID]*Room{id: origin}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	victim.mu.Lock()
	_, still := victim.seen[id]
	victim.mu.Unlock()
	if still {
		t.Fatal("the message is still in the seen cache")
	}
	invalid := func() uint64 {
		for _, n := range victim.Neighbours() {
			if n.ID == mal.self.ID() {
				return n.Invalid
			}
		}
		return 0
	}
	inject(t, mal, victim.self.ID(), frame)
	counted := waitFor(3*time.Second, func() bool { return invalid() == 1 })
	col.exactlyOnce(t)
	if !counted {
		t.Fatal("the replay was not counted")
	}
	if s := victim.Score(mal.self.ID()); s >= 0 {
		t.Errorf("the replayer's score is %.1f, want negative", s)
	}
}

// TestNonMemberAndRemoved: messages from an identity no member admitted,
// and from a member the creator removed (and from a member admitted only
// by the removed one), are dropped and counted against the forwarder.
// Removal needs the creator.
func TestNonMemberAndRemoved(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tn := newTestNet(t, 5)
	rooms := smallRoom(ctx, t, tn, 5)
	creator := rooms[0]
	removed := tn.join(ctx, rooms[3])
	viaRemoved := tn.join(ctx, removed) // admitted only by removed
	all := append(append([]*Room{}, rooms...), removed, viaRemoved)
	eventually(t, 10*time.Second, "everyone knows 7 members", func() bool {
		for _, r := range all {
			if len(r.Members()) != 7 {
				return false
			}
		}
		return true
	})
	if err := rooms[1].Remove(removed.self.ID()); err != ErrNotCreator {
		t.Fatalf("Remove by a member: %v, want ErrNotCreator", err)
	}
	if err := creator.Remove(removed.self.ID()); err != nil {
		t.Fatal(err)
	}
	for _, r := range rooms {
		eventually(t, 10*time.Second, "the removal known", func() bool {
			return !r.IsMember(removed.self.ID()) && !r.IsMember(viaRemoved.self.ID())
		})
	}
	// The removed member learns it too, and its room ends.
	eventually(t, 10*time.Second, "the removed member's room ends", func() bool {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
		defer cancel()
		for {
			if _, err := removed.Next(ctx); err != nil {
				return err == ErrRemoved
			}
		}
	})

	mal := rooms[1]
	victim := anyNeighbour(t, mal, rooms)
	col := collect(rooms...)
	defer col.stop()
	stranger := newID(t)
	fromStranger := signed(stranger, creator.ID(), 1, time.Now(), "hi")
	fromRemoved := signed(removed.self, creator.ID(), uint64(time.Now().UnixMicro())+1e6, time.Now(), "still here")
	fromCascade := signed(viaRemoved.self, creator.ID(), uint64(time.Now().UnixMicro())+1e6, time.Now(), "me too")
	inject(t, mal, victim.self.ID(), publishFrame(fromStranger, 0))
	inject(t, mal, victim.self.ID(), publishFrame(fromRemoved, 0))
	inject(t, mal, victim.self.ID(), publishFrame(fromCascade, 0))
	counted := waitFor(3*time.Second, func() bool {
		st := victim.Stats()
		return st.NonMember == 2 && st.Removed == 1 // the cascade counts as never admitted
	})
	for i, m := range []*message{fromStranger, fromRemoved, fromCascade} {
		for _, r := range rooms {
			if col.count(r, m.id()) != 0 {
				t.Errorf("message %d (stranger, removed, admitted by the removed) was delivered", i)
			}
		}
	}
	if !counted {
		t.Fatalf("drops not counted: %+v", victim.Stats())
	}
	if s := victim.Score(mal.self.ID()); s >= 0 {
		t.Errorf("the forwarder's score is %.1f, want negative", s)
	}
	// An admission of the removed member does not bring it back.
	if _, err := joinWith(ctx, rooms[2], removed.self, tn.options()); err == nil {
		t.Error("the removed member was admitted again")
	}
}

// TestFlooder: a member publishing at 100 times its budget is throttled
// (what it sends beyond the budget is dropped at its neighbours), its
// neighbours prune and disconnect it, and the others keep at least 90 %
// of their throughput.
func TestFlooder(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tn := newTestNet(t, 8)
	tn.opts.Budget = Budget{MessagesPerSecond: 5, MessageBurst: 5}
	rooms := smallRoom(ctx, t, tn, 8)
	flooder := rooms[3]
	var honest []*Room
	for _, r := range rooms {
		if r != flooder {
			honest = append(honest, r)
		}
	}
	col := collect(honest...)
	defer col.stop()

	const seconds = 3
	done := make(chan int)
	go func() { // aims at 2,000 messages a second: 400 times the budget
		// It counts what it tried to send: once its neighbours have
		// dropped it, its messages go nowhere, which is the point.
		tried := 0
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for end := time.Now().Add(seconds * time.Second); time.Now().Before(end); <-tick.C {
			for i := 0; i < 20; i++ {
				flooder.publish([]byte("flood"))
				tried++
			}
		}
		done <- tried
	}()
	ids := map[MessageID]*Room{}
	for end := time.Now().Add(seconds * time.Second); time.Now().Before(end); time.Sleep(400 * time.Millisecond) {
		for _, r := range honest { // 2.5 a second each: half the budget
			id, err := r.Publish(ctx, []byte("honest"))
			if err != nil {
				t.Fatal(err)
			}
			ids[id] = r
		}
	}
	sent := <-done
	wctx, wcancel := context.WithTimeout(ctx, 3*time.Second)
	col.waitAll(wctx, honest, ids)
	wcancel()
	got, want := 0, 0
	for _, r := range honest {
		for id, origin := range ids {
			if origin != r {
				want++
				if col.count(r, id) > 0 {
					got++
				}
			}
		}
	}
	floods := 0
	col.mu.Lock()
	for _, m := range col.got {
		for id := range m {
			if col.from[id] == flooder.self.ID() {
				floods++
			}
		}
	}
	col.mu.Unlock()
	t.Logf("honest deliveries %d of %d; flooder sent %d, %d deliveries of them", got, want, sent, floods)
	if got*10 < want*9 {
		t.Errorf("honest throughput %d of %d, below 90 %%", got, want)
	}
	if rate := float64(sent) / seconds; rate < 100*5 {
		t.Errorf("the flooder sent only %.0f a second, not 100 times its budget", rate)
	}
	if limit := len(honest) * (seconds*5 + 5) * 2; floods > limit {
		t.Errorf("%d deliveries of the flood, want at most %d", floods, limit)
	}
	for _, r := range honest {
		if s := r.Score(flooder.self.ID()); s != 0 && s >= r.opts.Score.PruneThreshold {
			t.Errorf("%v scores the flooder %.1f", r.self.ID().Fingerprint(), s)
		}
		for _, n := range r.Neighbours() {
			if n.ID == flooder.self.ID() && n.Mesh {
				t.Errorf("%v keeps the flooder in its mesh", r.self.ID().Fingerprint())
			}
		}
	}
}

// TestSilentDropper: a member that forwards nothing (and answers no
// IWANT) does not stop delivery: the others reach everyone around it.
func TestSilentDropper(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tn := newTestNet(t, 9)
	rooms := smallRoom(ctx, t, tn, 10)
	dropper := rooms[0] // the creator admitted many: a well-connected member
	dropper.mu.Lock()
	dropper.noForward = true
	dropper.mu.Unlock()
	col := collect(rooms...)
	defer col.stop()
	ids := map[MessageID]*Room{}
	for i := 0; i < 3; i++ {
		for _, r := range rooms[1:] {
			id, err := r.Publish(ctx, []byte("through the others"))
			if err != nil {
				t.Fatal(err)
			}
			ids[id] = r
		}
	}
	if err := col.waitAll(ctx, rooms, ids); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	col.exactlyOnce(t)
	if f := dropper.Stats().Forwarded; f != 0 {
		t.Errorf("the dropper forwarded %d", f)
	}
}

// TestSlowNeighbour: a member that stops reading fills only its own
// queues: the others get every message at once, and its neighbours drop
// gossip for it alone (counted) instead of waiting.
func TestSlowNeighbour(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tn := newTestNet(t, 15)
	tn.opts.Budget = Budget{MessagesPerSecond: 1e4, MessageBurst: 1e4, BytesPerSecond: 1 << 30, ByteBurst: 1 << 30}
	rooms := smallRoom(ctx, t, tn, 6)
	slow, sender := rooms[2], rooms[4]
	var others []*Room
	for _, r := range rooms {
		if r != slow {
			others = append(others, r)
		}
	}
	col := collect(others...)
	defer col.stop()
	slow.stall.Lock() // it stops reading
	unstall := sync.OnceFunc(slow.stall.Unlock)
	defer unstall() // also when the test fails: Close waits for its readers
	ids := map[MessageID]*Room{}
	payload := make([]byte, 32<<10)
	for i := 0; i < 400; i++ { // 12.5 MiB: more than the session, link and room queues hold
		id, err := sender.Publish(ctx, payload)
		if err != nil {
			t.Fatal(err)
		}
		ids[id] = sender
	}
	if err := col.waitAll(ctx, others, ids); err != nil {
		t.Fatal(err)
	}
	var drops uint64
	for _, r := range others {
		for _, n := range r.Neighbours() {
			if n.ID == slow.self.ID() {
				drops += n.QueueDrops
			}
		}
	}
	unstall()
	for _, r := range others {
		for _, n := range r.Neighbours() {
			// Nothing is held against the others for the slow member:
			// no invalid frame, no violation, and no score that would
			// prune them (a late IWANT answer under load may cost one
			// broken promise, and a queue behind the burst some RTT
			// penalty, together less than the prune threshold).
			if n.ID != slow.self.ID() && (n.Invalid != 0 || n.RateViolations != 0 || n.BrokenPromises > 1 || n.Score < r.opts.Score.PruneThreshold) {
				t.Errorf("an honest neighbour scored %.1f (%d invalid, %d violations, %d broken promises)", n.Score, n.Invalid, n.RateViolations, n.BrokenPromises)
			}
		}
	}
	if drops == 0 {
		t.Error("no gossip was dropped for the slow member: its queue is not bounded")
	}
	t.Logf("%d frames dropped for the slow member", drops)
}
