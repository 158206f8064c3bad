package state

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

// actor makes one random op on r from rng's choices.
func act(t testing.TB, c *cluster, r *Replica, pick func(n int) int) *Op {
	t.Helper()
	key := "k" + strconv.Itoa(pick(4))
	var ops []*Op
	var op *Op
	var err error
	switch pick(8) {
	case 0, 1:
		op, err = r.Set(key, []byte{byte(pick(256))})
	case 2:
		op, err = r.Delete(key)
	case 3:
		op, err = r.Add(key)
	case 4:
		ops, err = r.Remove(key)
		if err != nil {
			return nil // not in the set here
		}
		op = ops[len(ops)-1]
	case 5:
		op, err = r.Count(key, int64(pick(7))-3)
	case 6:
		op, err = r.App(key, []byte{byte(pick(256))})
	default:
		op, err = r.Chat("m" + strconv.Itoa(pick(100)))
	}
	if err != nil {
		t.Fatal(err)
	}
	return op
}

// scatter gives r a random part of ops: shuffled, some twice, some not at
// all, in OPS frames through a peer, as a lossy mesh would.
func scatter(t testing.TB, r *Replica, ops []*Op, rng *rand.Rand) {
	t.Helper()
	var sel []*Op
	for _, op := range ops {
		switch rng.IntN(4) {
		case 0: // dropped
		case 1:
			sel = append(sel, op, op)
		default:
			sel = append(sel, op)
		}
	}
	rng.Shuffle(len(sel), func(i, j int) { sel[i], sel[j] = sel[j], sel[i] })
	p := r.NewPeer(r.cfg.Self.ID(), Budget{})
	for len(sel) > 0 {
		n := min(len(sel), 1+rng.IntN(8))
		if _, err := p.Receive(opsFrameOf(sel[:n]...)); err != nil {
			t.Fatal(err)
		}
		sel = sel[n:]
	}
	if s := p.Stats(); len(s.Refused) != 0 {
		t.Fatalf("honest ops refused: %v", s.Refused)
	}
}

// TestConvergence is the convergence property on 200 fixed seeds: four
// members make random ops of every kind, each sees a shuffled, duplicated,
// partly dropped part of the others' ops between its own (so its ops
// depend on what it saw), some pairs sync over lossy links; then a
// lossless sync repairs the rest and every member shows a byte-identical
// view, equal to that of a fresh replica given every op.
func TestConvergence(t *testing.T) {
	t.Parallel()
	seeds := 200
	if testing.Short() {
		seeds = 20
	}
	total := 0
	defer func() { t.Logf("%d ops in %d histories", total, seeds) }()
	for seed := range seeds {
		rng := rand.New(rand.NewPCG(uint64(seed), 16))
		c := newCluster(t, 4)
		var all []*Op
		for range 10 {
			var made []*Op
			for range 1 + rng.IntN(6) {
				if rng.IntN(3) == 0 {
					c.clock.Advance(time.Duration(rng.IntN(3)) * time.Millisecond)
				}
				if op := act(t, c, c.reps[rng.IntN(4)], rng.IntN); op != nil {
					made = append(made, op)
				}
			}
			all = append(all, made...)
			for _, r := range c.reps {
				scatter(t, r, all, rng)
			}
			if rng.IntN(2) == 0 {
				i, j := rng.IntN(4), rng.IntN(4)
				if i != j {
					connect(c.reps[i], c.reps[j], Budget{BatchBytes: 512, Window: 1 + rng.IntN(3)}).pump(t, rng, 5)
				}
			}
		}
		c.syncAll(t)
		c.syncAll(t)
		c.requireConverged(t)
		fresh, _ := New(Config{Room: testRoom, Self: c.ids[0], Members: c.mem, Now: c.clock.Now, Logger: quiet})
		if _, errs := fresh.Take(all); errs != nil {
			t.Fatal(errs)
		}
		if fresh.View().Digest() != c.reps[0].View().Digest() {
			t.Fatalf("seed %d: the members agree on a view other than that of all the ops", seed)
		}
		total += len(all)
		if fresh.Ops() != len(all) || c.reps[3].Ops() != len(all) {
			t.Fatalf("seed %d: %d and %d ops held, %d made", seed, fresh.Ops(), c.reps[3].Ops(), len(all))
		}
	}
}

// FuzzConverge: the input is a program — who makes which op, which member
// receives what in which order, and which pairs sync over lossy links.
// After a lossless repair every member shows the same view.
func FuzzConverge(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add([]byte{3, 3, 3, 200, 7, 1, 99, 4, 4, 0, 0, 250})
	f.Fuzz(func(t *testing.T, prog []byte) {
		if len(prog) > 40 {
			prog = prog[:40]
		}
		c := newCluster(t, 3)
		i := 0
		pick := func(n int) int {
			if i >= len(prog) {
				return 0
			}
			i++
			return int(prog[i-1]) % n
		}
		var all []*Op
		for made := 0; i < len(prog) && made < 6; {
			switch pick(4) {
			case 0:
				c.tick()
			case 1:
				if op := act(t, c, c.reps[pick(3)], pick); op != nil {
					all = append(all, op)
					made++
				}
			case 2:
				r := c.reps[pick(3)]
				if len(all) > 0 {
					op := all[pick(len(all))]
					if _, errs := r.Take([]*Op{op}); errs != nil {
						t.Fatal(errs)
					}
				}
			case 3:
				a, b := pick(3), pick(3)
				if a != b {
					rng := rand.New(rand.NewPCG(uint64(pick(256)), 1))
					connect(c.reps[a], c.reps[b], Budget{BatchBytes: 300, Window: 1}).pump(t, rng, 4)
				}
			}
		}
		c.syncAll(t)
		c.syncAll(t)
		c.requireConverged(t)
	})
}

// TestConvergenceHostile is the convergence property with a forking
// author and a removal, on 100 fixed seeds: a fifth member signs two
// chains that part at a random seq and gives one to each half of the
// room, and in half the seeds the creator removes another member (and
// cuts it off) in the middle of the history, while that member keeps
// writing. After repair every member shows the same view, which counts
// none of the forker's ops from the fork point on.
func TestConvergenceHostile(t *testing.T) {
	t.Parallel()
	seeds := 100
	if testing.Short() {
		seeds = 10
	}
	for seed := range seeds {
		rng := rand.New(rand.NewPCG(uint64(seed), 17))
		c := newCluster(t, 4)
		forker := seedIdentity(t, 50)
		c.mem.mu.Lock()
		c.mem.set[forker.ID()] = true
		c.mem.mu.Unlock()
		now := uint64(c.clock.Now().UnixMilli()) << 16
		common := 1 + rng.IntN(4)
		var trunk []*Op
		for s := 1; s <= common; s++ {
			var prev *Op
			if s > 1 {
				prev = trunk[s-2]
			}
			trunk = append(trunk, mustOp(t, forker, uint64(s), prev, now+uint64(s), KindSet, "f", "trunk"))
		}
		branch := func(v string) []*Op {
			ops := append([]*Op(nil), trunk...)
			for s := common + 1; s <= common+1+rng.IntN(4); s++ {
				ops = append(ops, mustOp(t, forker, uint64(s), ops[len(ops)-1], now+uint64(s), KindSet, "f", v))
			}
			return ops
		}
		left, right := branch("left"), branch("right")
		removed := rng.IntN(2) == 0
		for round := range 8 {
			for range 1 + rng.IntN(4) {
				if rng.IntN(3) == 0 {
					c.tick()
				}
				i := 1 + rng.IntN(3)
				if removed && round >= 4 && i == 3 {
					continue // removed: its replica can no longer write
				}
				act(t, c, c.reps[i], rng.IntN)
			}
			if removed && round == 4 {
				c.mem.remove(c.ids[3].ID())
				if _, err := c.reps[0].CutoffRemoved(); err != nil {
					t.Fatal(err)
				}
			}
			if round == 2 {
				c.reps[0].Take(left)
				c.reps[1].Take(left)
				c.reps[2].Take(right)
				c.reps[3].Take(right)
			}
			i, j := rng.IntN(4), rng.IntN(4)
			if i != j {
				connect(c.reps[i], c.reps[j], Budget{BatchBytes: 700, Window: 2}).pump(t, rng, 6)
			}
		}
		c.syncAll(t)
		c.syncAll(t)
		c.requireConverged(t)
		for i, r := range c.reps {
			ev := r.Evidence()
			if len(ev) != 1 || ev[0].At != uint64(common+1) {
				t.Fatalf("seed %d: replica %d holds %d evidence, want the fork at %d", seed, i, len(ev), common+1)
			}
		}
		if e := c.reps[0].View().Map["f"]; string(e.Value) != "trunk" {
			t.Fatalf("seed %d: the forker's key is %q, want its last op before the fork", seed, e.Value)
		}
	}
}
