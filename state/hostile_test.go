package state

import (
	"errors"
	"testing"
	"time"

	"github.com/sp2p/sp2p/identity"
)

func opsFrameOf(ops ...*Op) []byte {
	f := newOpsFrame(1)
	for _, op := range ops {
		f.add(op)
	}
	return f.bytes()
}

func mustOp(t testing.TB, id *identity.Identity, seq uint64, prev *Op, hlc uint64, kind Kind, key, value string) *Op {
	t.Helper()
	var ph Hash
	if prev != nil {
		ph = prev.Hash()
	}
	op, err := newOp(id, testRoom, seq, ph, hlc, kind, []byte(key), []byte(value))
	if err != nil {
		t.Fatal(err)
	}
	return op
}

// refusedBy delivers ops to r through a fresh peer and returns its
// refusal counts.
func refusedBy(t *testing.T, r *Replica, ops ...*Op) map[error]int {
	t.Helper()
	p := r.NewPeer(identity.ID{9}, Budget{})
	if _, err := p.Receive(opsFrameOf(ops...)); err != nil {
		t.Fatal(err)
	}
	return p.Stats().Refused
}

// TestHostileAuthors: every kind of bad op is refused with its sentinel
// error, counted against the neighbour that sent it, and changes nothing.
func TestHostileAuthors(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	r := c.reps[0]
	m := c.ids[1] // an honest member's key, used by the tests below
	now := uint64(c.clock.Now().UnixMilli()) << 16
	stranger := seedIdentity(t, 77)
	skew := uint64(DefaultMaxSkew.Milliseconds()) << 16

	forged := mustOp(t, m, 1, nil, now, KindSet, "k", "v")
	forged.Sig[0] ^= 1
	otherRoom, _ := newOp(m, [32]byte{1}, 1, Hash{}, now, KindSet, []byte("k"), []byte("v"))
	m1 := mustOp(t, m, 1, nil, now, KindSet, "k", "v")
	sameClock := mustOp(t, m, 2, m1, now, KindSet, "k", "w")
	cutByMember := mustOp(t, m, 2, m1, now+1, KindCutoff, string(c.ids[2].ID().PublicKey()), string(make([]byte, 40)))
	creatorID := c.ids[0].ID()
	cutCreator := mustOp(t, c.ids[0], 1, nil, now, KindCutoff, string(creatorID[:]), string(make([]byte, 40)))
	cases := []struct {
		name string
		ops  []*Op
		want error
	}{
		{"forged signature", []*Op{forged}, ErrBadSignature},
		{"another room", []*Op{otherRoom}, ErrWrongRoom},
		{"non-member", []*Op{mustOp(t, stranger, 1, nil, now, KindSet, "k", "v")}, ErrNotMember},
		{"beyond the skew", []*Op{mustOp(t, m, 1, nil, now+skew+1<<16, KindSet, "k", "v")}, ErrFuture},
		{"clock does not grow", []*Op{m1, sameClock}, ErrBrokenChain},
		{"cutoff by a member", []*Op{m1, cutByMember}, ErrNotCreator},
		{"cutoff of the creator", []*Op{cutCreator}, ErrNotCreator},
	}
	for _, tc := range cases {
		before := r.View().Digest()
		held := r.Ops()
		got := refusedBy(t, r, tc.ops...)
		if got[tc.want] != 1 || len(got) != 1 {
			t.Errorf("%s: refusals %v, want one %v", tc.name, got, tc.want)
		}
		if tc.want != ErrBrokenChain && tc.want != ErrNotCreator && (r.Ops() != held || r.View().Digest() != before) {
			t.Errorf("%s: a refused op changed the state", tc.name)
		}
	}
	// Exactly at the skew bound is accepted.
	edge := mustOp(t, c.ids[2], 1, nil, now+skew, KindSet, "edge", "v")
	if got := refusedBy(t, r, edge); len(got) != 0 {
		t.Fatalf("an op exactly MaxSkew ahead was refused: %v", got)
	}
	// A neighbour that forwards a valid op is not counted.
	if got := refusedBy(t, r, m1, m1); len(got) != 0 {
		t.Fatalf("a duplicate was counted: %v", got)
	}
}

// TestRemovedMemberCutoff: after its removal, the creator's cutoff ends a
// member's log where the creator held it. A later op is refused whatever
// time it claims (backdated too), also by a replica that had taken it
// before it learned of the removal; the ops before the cutoff still count,
// on every replica.
func TestRemovedMemberCutoff(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	creator, r1, gone := c.reps[0], c.reps[1], c.reps[2]
	for range 3 {
		c.tick()
		if _, err := gone.Chat("before"); err != nil {
			t.Fatal(err)
		}
	}
	c.syncAll(t)
	c.tick()
	late, err := gone.Chat("after") // r1 takes it, the creator does not
	if err != nil {
		t.Fatal(err)
	}
	connect(gone, r1, Budget{}).pump(t, nil, 0)
	c.mem.remove(c.ids[2].ID())
	if len(r1.View().History) != 0 {
		t.Fatal("a removed member's ops count before its cutoff")
	}
	ops, err := creator.CutoffRemoved()
	if err != nil || len(ops) != 1 {
		t.Fatalf("cutoff: %v, %d ops", err, len(ops))
	}
	connect(creator, r1, Budget{}).pump(t, nil, 0)
	if len(r1.View().History) != 3 || r1.View().Digest() != creator.View().Digest() {
		t.Fatalf("after the cutoff r1 shows %d messages, want the 3 before it, as the creator", len(r1.View().History))
	}
	// The op after the cutoff, and a backdated one, are refused.
	backdated := mustOp(t, c.ids[2], late.Seq, late, 1<<16, KindChat, "", "backdated")
	for _, op := range []*Op{late, backdated} {
		if got := refusedBy(t, r1, op); got[ErrRemoved] != 1 {
			t.Fatalf("op %d of a cut-off member: refusals %v, want ErrRemoved", op.Seq, got)
		}
	}
	if _, err := gone.Chat("still here?"); err == nil {
		t.Fatal("a removed member's replica made an op")
	}
	if _, err := r1.Cutoff(c.ids[2].ID()); !errors.Is(err, ErrNotCreator) {
		t.Fatalf("a member made a cutoff: %v", err)
	}
}

// TestForkDetected: an author that signs two chains from seq 2 on (each
// 4 ops long, one given to each replica) is detected on sync, the fork
// point is refined to 2 on both sides, both signed ops are kept as
// evidence and passed on, and every replica counts only the author's op 1.
func TestForkDetected(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 4)
	x := c.ids[3]
	now := uint64(c.clock.Now().UnixMilli()) << 16
	x1 := mustOp(t, x, 1, nil, now, KindChat, "", "one")
	branch := func(text string) []*Op {
		ops := []*Op{x1}
		for s := uint64(2); s <= 4; s++ {
			ops = append(ops, mustOp(t, x, s, ops[len(ops)-1], now+s, KindChat, "", text))
		}
		return ops
	}
	a, b := branch("a"), branch("b")
	if n, errs := c.reps[0].Take(a); n != 4 || errs != nil {
		t.Fatal(n, errs)
	}
	if n, errs := c.reps[1].Take(b); n != 4 || errs != nil {
		t.Fatal(n, errs)
	}
	connect(c.reps[0], c.reps[1], Budget{}).pump(t, nil, 0)
	for i := range 2 {
		ev := c.reps[i].Evidence()
		if len(ev) != 1 || ev[0].At != 2 || ev[0].A.Verify() != nil || ev[0].B.Verify() != nil {
			t.Fatalf("replica %d: evidence %+v, want one fork at 2", i, ev)
		}
		if _, ok := forkPoint(ev[0].A, ev[0].B); !ok {
			t.Fatal("the evidence does not prove a fork")
		}
	}
	// A third replica, synced with one of them only, learns the fork.
	connect(c.reps[1], c.reps[2], Budget{}).pump(t, nil, 0)
	if ev := c.reps[2].Evidence(); len(ev) != 1 || ev[0].At != 2 {
		t.Fatalf("the evidence was not passed on: %+v", ev)
	}
	c.syncAll(t)
	c.requireConverged(t)
	if h := c.reps[0].View().History; len(h) != 1 || string(h[0].Body) != "one" {
		t.Fatalf("history %d messages; want only the forked author's op before the fork", len(h))
	}
	// Later ops on either branch are refused as forked.
	x5 := mustOp(t, x, 5, b[3], now+5, KindChat, "", "more")
	if got := refusedBy(t, c.reps[0], x5); got[ErrForked] != 1 {
		t.Fatalf("op after a fork: %v", got)
	}
	// Evidence that proves nothing is refused.
	p := c.reps[3].NewPeer(identity.ID{9}, Budget{})
	bad := append([]byte{frameEvidence}, encodeEvidence(&Evidence{A: a[1], B: a[2]})...)
	if _, err := p.Receive(bad); !errors.Is(err, ErrBadEvidence) || p.Stats().Refused[ErrBadEvidence] != 1 {
		t.Fatalf("evidence of one chain: %v", err)
	}
	_ = time.Second
}

// TestSyncedWithRemovedAuthor: a replica that holds ops of a former
// member without a cutoff offers none of them and still reports Synced.
func TestSyncedWithRemovedAuthor(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	if _, err := c.reps[2].Chat("soon gone"); err != nil {
		t.Fatal(err)
	}
	connect(c.reps[2], c.reps[0], Budget{}).pump(t, nil, 0)
	c.mem.remove(c.ids[2].ID())
	l := connect(c.reps[0], c.reps[1], Budget{})
	l.pump(t, nil, 0)
	if s := l.a.Stats(); s.OpsOut != 0 || !l.a.Synced() || len(l.b.Stats().Refused) != 0 {
		t.Fatalf("sent %d ops of a former member, synced %v, refusals %v", s.OpsOut, l.a.Synced(), l.b.Stats().Refused)
	}
}

// TestLargeBatchForgeries: in a batch large enough for its signatures to
// be checked on several cores, every forged op is still refused and every
// good one taken.
func TestLargeBatchForgeries(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	var ops []*Op
	for range 200 {
		c.tick()
		op, err := c.reps[0].Chat("x")
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, op)
	}
	batch := make([]*Op, 0, len(ops))
	for i, op := range ops {
		if i%10 == 9 {
			f := *op
			f.Sig[5] ^= 1
			batch = append(batch, &f)
		}
		batch = append(batch, op)
	}
	n, errs := c.reps[1].Take(batch)
	if c.reps[1].Ops() != 200 || len(errs) != 20 {
		t.Fatalf("taken %d, held %d, %d refusals; want 200 held and 20 forgeries refused", n, c.reps[1].Ops(), len(errs))
	}
	for _, err := range errs {
		if !errors.Is(err, ErrBadSignature) {
			t.Fatalf("refusal %v, want ErrBadSignature", err)
		}
	}
}

// TestPendingPerAuthor: an author whose ops never resolve (far ahead of
// its chain) holds at most MaxPendingPerAuthor places in the pending pool,
// so another author's out-of-order op still waits there for its
// predecessor instead of being dropped.
func TestPendingPerAuthor(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	r, flooder, honest := c.reps[0], c.ids[1], c.ids[2]
	stranger := mustOp(t, flooder, 1, nil, 1<<16, KindSet, "k", "v") // a chain nobody will get
	for seq := uint64(1); seq <= MaxPendingPerAuthor+50; seq++ {
		op := mustOp(t, flooder, seq+1000, stranger, uint64(seq)<<16, KindSet, "k", "v") // its predecessors never come
		if n, errs := r.Take([]*Op{op}); n != 0 || len(errs) != 0 {
			t.Fatalf("a future op: %d taken, %v", n, errs)
		}
	}
	if got := len(r.pending); got != MaxPendingPerAuthor {
		t.Fatalf("%d ops of one author pending, want %d", got, MaxPendingPerAuthor)
	}
	first := mustOp(t, honest, 1, nil, 1<<16, KindSet, "h", "1")
	second := mustOp(t, honest, 2, first, 2<<16, KindSet, "h", "2")
	r.Take([]*Op{second}) // out of order: it waits
	r.Take([]*Op{first})
	if v, ok := r.View().Get("h"); !ok || string(v) != "2" {
		t.Fatalf("the honest author's out-of-order op was dropped: %q", v)
	}
}
