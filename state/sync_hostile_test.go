package state

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/sp2p/sp2p/identity"
)

// frameBytes re-encodes a decoded frame (the decoder's inverse).
func frameBytes(f *frame) []byte {
	switch f.typ {
	case frameHello:
		return encodeHello(f.room, f.hello)
	case frameOps:
		o := newOpsFrame(f.batch)
		for _, op := range f.ops {
			o.add(op)
		}
		return o.bytes()
	case frameAck:
		return encodeAck(f.batch)
	case frameEvidence:
		return append([]byte{frameEvidence}, encodeEvidence(&Evidence{A: f.evA, B: f.evB})...)
	}
	return nil
}

func syncSeeds(t testing.TB) [][]byte {
	id := seedIdentity(t, 1)
	a := mustOp(t, id, 1, nil, 1<<16, KindSet, "k", "v")
	b := mustOp(t, id, 1, nil, 2<<16, KindSet, "k", "w")
	return [][]byte{
		encodeHello(testRoom, []Entry{{Author: id.ID(), Seq: 1, Head: a.Hash()}}),
		opsFrameOf(a, b),
		encodeAck(1),
		append([]byte{frameEvidence}, encodeEvidence(&Evidence{A: a, B: b})...),
	}
}

// FuzzSyncMessage: the sync frame decoder never panics, keeps its limits,
// and what it accepts encodes back to the same bytes; a peer fed the frame
// never panics either.
func FuzzSyncMessage(f *testing.F) {
	for _, s := range syncSeeds(f) {
		f.Add(s)
	}
	c := newCluster(f, 2)
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := decodeFrame(b)
		if err == nil {
			if len(fr.hello) > MaxAuthors || len(fr.ops) > MaxBatchOps {
				t.Fatal("over a limit")
			}
			if again := frameBytes(fr); !bytes.Equal(again, b) {
				t.Fatalf("re-encoded differently:\n%x\n%x", b, again)
			}
		}
		p := c.reps[0].NewPeer(identity.ID{9}, Budget{})
		out, err := p.Receive(b)
		if err != nil && out != nil && len(out) > 0 && out[0][0] == frameAck {
			t.Fatal("a refused frame was acknowledged")
		}
	})
}

// TestSyncBudgets: a neighbour that never acknowledges gets at most Window
// OPS frames, each within BatchBytes; every Poll stays within RoundBytes
// (plus the frame that crosses it); acknowledgements let the rest flow,
// and everything arrives exactly once.
func TestSyncBudgets(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	a, b := c.reps[0], c.reps[1]
	for range 400 {
		c.tick()
		if _, err := a.Chat("a line of chat that takes some bytes"); err != nil {
			t.Fatal(err)
		}
	}
	bud := Budget{BatchBytes: 2048, RoundBytes: 4096, Window: 3}
	pa, pb := a.NewPeer(b.cfg.Self.ID(), bud), b.NewPeer(a.cfg.Self.ID(), Budget{})
	var fromB [][]byte
	for _, f := range pa.Start() {
		out, err := pb.Receive(f) // pb's state vector comes back
		if err != nil {
			t.Fatal(err)
		}
		fromB = append(fromB, out...)
	}
	var held [][]byte
	for _, f := range fromB {
		out, err := pa.Receive(f)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, out...)
	}
	for range 10 {
		held = append(held, pa.Poll()...)
	}
	for _, f := range held {
		if len(f) > bud.BatchBytes {
			t.Fatalf("an OPS frame of %d bytes, budget %d", len(f), bud.BatchBytes)
		}
	}
	if len(held) != bud.Window {
		t.Fatalf("%d OPS frames sent without acknowledgement, window %d", len(held), bud.Window)
	}
	// Deliver and let the acknowledgements flow.
	for len(held) > 0 {
		f := held[0]
		held = held[1:]
		acks, err := pb.Receive(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, ack := range acks {
			out, err := pa.Receive(ack)
			if err != nil {
				t.Fatal(err)
			}
			size := 0
			for _, o := range out {
				size += len(o)
			}
			if size > bud.RoundBytes+bud.BatchBytes {
				t.Fatalf("one round returned %d bytes, budget %d", size, bud.RoundBytes)
			}
			held = append(held, out...)
		}
	}
	if b.Ops() != 400 || pb.Stats().OpsIn != 400 || !pa.Synced() {
		t.Fatalf("%d ops arrived in %d, synced %v", b.Ops(), pb.Stats().OpsIn, pa.Synced())
	}
}

// TestHostileSync: a state vector that claims everything gets nothing
// sent (and costs nothing), and frames out of order or out of their
// limits are refused and counted.
func TestHostileSync(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	a := c.reps[0]
	for range 20 {
		c.tick()
		a.Chat("x")
	}
	p := a.NewPeer(identity.ID{9}, Budget{})
	p.Start()
	claim := encodeHello(testRoom, []Entry{{Author: c.ids[0].ID(), Seq: 1 << 62, Head: Hash{1}}})
	out, err := p.Receive(claim)
	if err != nil || len(out) != 0 {
		t.Fatalf("a vector that claims all: %v, %d frames sent", err, len(out))
	}
	// An ACK of a batch this peer never sent is ignored, not refused:
	// an honest neighbour sends one after this side started over (a new
	// Peer numbers its batches from 1 again).
	if out, err := p.Receive(encodeAck(7)); err != nil || p.Stats().StaleAcks != 1 {
		t.Fatalf("an ACK of an unsent batch: %v, %d frames, %d stale", err, len(out), p.Stats().StaleAcks)
	}
	bad := map[string][]byte{
		"hello of another room": encodeHello([32]byte{1}, nil),
		"unsorted hello": encodeHello(testRoom, []Entry{
			{Author: identity.ID{2}, Seq: 1}, {Author: identity.ID{1}, Seq: 1}}),
		"hello count over the limit": binary.BigEndian.AppendUint16(append([]byte{frameHello}, testRoom[:]...), MaxAuthors+1),
		"ops count zero":             append(binary.BigEndian.AppendUint32([]byte{frameOps}, 1), 0, 0),
		"op length over the limit":   binary.BigEndian.AppendUint32(append(binary.BigEndian.AppendUint32([]byte{frameOps}, 1), 0, 1), MaxOp+1),
		"unknown type":               {99},
		"empty":                      {},
		"oversized":                  make([]byte, MaxFrame+1),
	}
	n := 0
	for name, f := range bad {
		if _, err := p.Receive(f); err == nil {
			t.Errorf("%s: accepted", name)
		}
		n++
	}
	s := p.Stats()
	total := 0
	for _, v := range s.Refused {
		total += v
	}
	if total != n || s.Refused[ErrMalformed] < n-2 || s.Refused[ErrWrongRoom] != 1 {
		t.Fatalf("refusals %v for %d bad frames", s.Refused, n)
	}
}
