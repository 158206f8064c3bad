package room

import (
	"context"
	"crypto/rand"
	"testing"
	"time"
)

// TestBrokenPromises: a member announces message IDs it never delivers;
// its neighbour asks for them, and each IWANT that is not answered in full
// is one broken promise: one whose IDs arrive all but one, and IHAVEs of
// IDs that do not exist. Four of them (-16) take its score below the
// prune threshold and it leaves the neighbour's mesh.
func TestBrokenPromises(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tn := newTestNet(t, 6)
	rooms := smallRoom(ctx, t, tn, 4)
	mal := rooms[1]
	victim := anyNeighbour(t, mal, rooms)
	broken := func() uint64 {
		for _, n := range victim.Neighbours() {
			if n.ID == mal.self.ID() {
				return n.BrokenPromises
			}
		}
		return 1 << 20 // disconnected
	}
	fake := func() MessageID {
		var id MessageID
		rand.Read(id[:])
		return id
	}

	// Three real messages and one that does not exist: the three are
	// delivered, the request is kept but for one ID, and is broken.
	mal.mu.Lock()
	seq := mal.seq + 100
	mal.mu.Unlock()
	var ids []MessageID
	var frames [][]byte
	for i := range 3 {
		m := signed(mal.self, mal.ID(), seq+uint64(i), time.Now(), "promised")
		ids = append(ids, m.id())
		frames = append(frames, publishFrame(m, 0))
	}
	inject(t, mal, victim.self.ID(), idsFrame(frameIHave, append(ids[:3:3], fake())))
	for _, f := range frames {
		inject(t, mal, victim.self.ID(), f)
	}
	// An IHAVE answered in full costs nothing.
	for i := range 2 {
		m := signed(mal.self, mal.ID(), seq+3+uint64(i), time.Now(), "kept")
		inject(t, mal, victim.self.ID(), idsFrame(frameIHave, []MessageID{m.id()}))
		inject(t, mal, victim.self.ID(), publishFrame(m, 0))
		ids = append(ids, m.id())
	}
	// Three more IHAVEs of ten IDs that do not exist: one broken promise
	// each, not ten.
	for range 3 {
		var none []MessageID
		for range 10 {
			none = append(none, fake())
		}
		inject(t, mal, victim.self.ID(), idsFrame(frameIHave, none))
	}
	eventually(t, 10*time.Second, "four broken promises", func() bool { return broken() >= 4 })
	if b := broken(); b != 4 {
		t.Errorf("%d broken promises, want 4 (one per IWANT)", b)
	}
	victim.mu.Lock()
	for _, id := range ids {
		if _, ok := victim.seen[id]; !ok {
			t.Errorf("message %v was not delivered", id)
		}
	}
	victim.mu.Unlock()
	if s := victim.Score(mal.self.ID()); s >= victim.opts.Score.PruneThreshold {
		t.Errorf("score %.1f, want below %.1f", s, victim.opts.Score.PruneThreshold)
	}
	eventually(t, 5*time.Second, "pruned", func() bool {
		for _, n := range victim.Neighbours() {
			if n.ID == mal.self.ID() && n.Mesh {
				return false
			}
		}
		return true
	})
	// An honest IHAVE is kept: the neighbours that deliver break no
	// promise. (Their scores are not compared with zero: on a loaded
	// machine the RTT term alone can take a little off.)
	for _, n := range victim.Neighbours() {
		if n.ID != mal.self.ID() && n.BrokenPromises != 0 {
			t.Errorf("an honest neighbour broke %d promises (score %.1f)", n.BrokenPromises, n.Score)
		}
	}
}

// TestPromiseCap: a neighbour that announces more than it delivers holds
// at most maxPromisesPer of a member's IWANTs at a time, however many IDs
// it announces, and no more once they have run out; when its promise
// breaks, the member asks the others that announced the same message
// meanwhile, in turn, never the one that broke it again: a second
// withholder among them is not charged for the follow-up (it was not
// sized to what it serves), and the honest announcer after it delivers.
func TestPromiseCap(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tn := newTestNet(t, 8)
	rooms := smallRoom(ctx, t, tn, 4) // settled at degree 3: everyone is everyone's neighbour
	victim, mal, mal2, honest := rooms[0], rooms[1], rooms[2], rooms[3]
	for _, r := range []*Room{mal, mal2} {
		r.mu.Lock()
		r.noForward = true // it answers no IWANT
		r.mu.Unlock()
	}
	neighbour := func(r *Room) *Neighbour {
		for _, n := range victim.Neighbours() {
			if n.ID == r.self.ID() {
				return &n
			}
		}
		t.Fatalf("%v is not the victim's neighbour", r.self.ID().Fingerprint())
		return nil
	}
	// A message only the honest member will have (kept out of the
	// gossip), announced first by mal.
	honest.mu.Lock()
	m := signed(honest.self, honest.ID(), honest.seq+100, time.Now(), "only here")
	honest.mu.Unlock()
	fakes := func(ids []MessageID) []MessageID {
		for len(ids) < MaxIDs {
			var id MessageID
			rand.Read(id[:])
			ids = append(ids, id)
		}
		return ids
	}

	asked := victim.Stats().IWantSent
	inject(t, mal, victim.self.ID(), idsFrame(frameIHave, fakes([]MessageID{m.id()})))
	inject(t, mal, victim.self.ID(), idsFrame(frameIHave, fakes(nil)))
	inject(t, mal, victim.self.ID(), idsFrame(frameIHave, fakes(nil)))
	eventually(t, 5*time.Second, "the IWANT for the capped IDs", func() bool {
		return victim.Stats().IWantSent-asked >= maxPromisesPer
	})
	// Then the second withholder and the honest member announce it too.
	inject(t, mal2, victim.self.ID(), idsFrame(frameIHave, []MessageID{m.id()}))
	time.Sleep(100 * time.Millisecond)
	// The honest member keeps it for IWANTs without announcing it at its
	// heartbeats (or the others would ask it, and forward it to the
	// victim): only the IHAVE below tells the victim.
	honest.mu.Lock()
	honest.store[m.id()] = &stored{frame: publishFrame(m, 0), at: time.Now()}
	honest.mu.Unlock()
	inject(t, honest, victim.self.ID(), idsFrame(frameIHave, []MessageID{m.id()}))
	time.Sleep(200 * time.Millisecond)
	victim.mu.Lock()
	held := victim.promisedBy[mal.self.ID()]
	pr := victim.promises[m.id()]
	_, early := victim.seen[m.id()]
	victim.mu.Unlock()
	if got := victim.Stats().IWantSent - asked; got != maxPromisesPer {
		// 128 of mal's IDs; the others' announcements only remembered.
		t.Errorf("the victim asked for %d IDs of three IHAVEs of %d, want %d", got, MaxIDs, maxPromisesPer)
	}
	if held != maxPromisesPer {
		t.Errorf("%d promises held by one neighbour, want %d", held, maxPromisesPer)
	}
	if early {
		t.Fatal("the message arrived before the withholder's promise broke: the test shows nothing")
	}
	if len(pr.alts) != 2 || pr.alts[0] != mal2.self.ID() || pr.alts[1] != honest.self.ID() {
		t.Fatalf("the other announcers, in order: %d remembered", len(pr.alts))
	}
	// While mal2 is asked, mal announces it again: it broke its promise
	// for it, so it is not remembered.
	eventually(t, 10*time.Second, "the follow-up to mal2", func() bool {
		victim.mu.Lock()
		defer victim.mu.Unlock()
		pr, ok := victim.promises[m.id()]
		return ok && pr.from == mal2.self.ID()
	})
	inject(t, mal, victim.self.ID(), idsFrame(frameIHave, []MessageID{m.id()}))
	time.Sleep(200 * time.Millisecond)
	victim.mu.Lock()
	pr = victim.promises[m.id()]
	victim.mu.Unlock()
	if pr.from == mal2.self.ID() && (len(pr.alts) != 1 || pr.alts[0] != honest.self.ID()) {
		t.Errorf("during the follow-up, %d other announcers remembered, want the honest one only", len(pr.alts))
	}
	eventually(t, 15*time.Second, "the message, from the honest announcer", func() bool {
		victim.mu.Lock()
		defer victim.mu.Unlock()
		_, ok := victim.seen[m.id()]
		return ok
	})
	if b := neighbour(mal).BrokenPromises; b != 1 {
		t.Errorf("the first withholder broke %d promises, want 1", b)
	}
	if b := neighbour(mal2).BrokenPromises; b != 0 {
		t.Errorf("the second withholder was charged %d broken promises for a follow-up", b)
	}
	if b := neighbour(honest).BrokenPromises; b != 0 {
		t.Errorf("the honest announcer broke %d promises", b)
	}
	// mal's promises have run out: it may be asked again, as much.
	victim.mu.Lock()
	held = victim.promisedBy[mal.self.ID()]
	victim.mu.Unlock()
	if held != 0 {
		t.Fatalf("%d promises still held by mal after they ran out", held)
	}
	asked = victim.Stats().IWantSent
	inject(t, mal, victim.self.ID(), idsFrame(frameIHave, fakes(nil)))
	eventually(t, 5*time.Second, "a new IWANT", func() bool { return victim.Stats().IWantSent-asked >= maxPromisesPer })
	time.Sleep(100 * time.Millisecond)
	if got := victim.Stats().IWantSent - asked; got != maxPromisesPer {
		t.Errorf("asked mal for %d IDs after its promises ran out, want %d", got, maxPromisesPer)
	}
}
