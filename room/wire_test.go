package room

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/session"
)

func testRecord(t testing.TB, kind byte) record {
	signer, err := identity.FromSeed(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	subject, err := identity.FromSeed(bytes.Repeat([]byte{2}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return newRecord(kind, ID{9}, signer, subject.ID(), time.UnixMilli(1_700_000_000_000))
}

func testMessage(t testing.TB, n int) *message {
	origin, err := identity.FromSeed(bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return signed(origin, ID{9}, 42, time.UnixMilli(1_700_000_000_000), strings.Repeat("x", n))
}

// validFrames are one frame of each type, as the encoders make them.
func validFrames(t testing.TB) [][]byte {
	d := descriptor{creator: identity.ID{1}, name: "room"}
	recs := []record{testRecord(t, recordAdmit), testRecord(t, recordRemove)}
	ids := []MessageID{{1}, {2}}
	return [][]byte{
		welcomeFrame(&d, recs),
		helloFrame(ID{9}, true),
		helloFrame(ID{9}, false),
		recordsFrame(recs),
		publishFrame(testMessage(t, 5), 3),
		idsFrame(frameIHave, ids),
		idsFrame(frameIWant, ids),
		{frameGraft},
		pruneFrame(time.Minute),
		peersFrame(frameIntroReq, 3, []identity.ID{{1}, {2}}),
		peersFrame(frameIntroPeers, 0, []identity.ID{{1}}),
		peersFrame(frameIntroPeers, 0, nil),
		tokenFrame(frameIntroOffer, identity.ID{1}, true, "SP2P:ABC"),
		tokenFrame(frameIntroAnswer, identity.ID{1}, false, "SP2P:ABC"),
		tokenFrame(frameIntroAnswer, identity.ID{1}, false, ""),
		tokenFrame(frameResumeHint, identity.ID{1}, false, "sp2p-resume:AQ"),
		tokenFrame(frameResumeHint, identity.ID{1}, true, "sp2p-resume:AQ"),
		directFrame(1, []byte("sync")),
		directFrame(255, nil),
	}
}

func TestFramesRoundTrip(t *testing.T) {
	for _, b := range validFrames(t) {
		f, err := decodeFrame(b)
		if err != nil {
			t.Fatalf("frame %d: %v", b[0], err)
		}
		if f.typ != b[0] {
			t.Fatalf("type %d, want %d", f.typ, b[0])
		}
		// Every frame cut short, or with a byte more, is refused.
		for i := 0; i < len(b); i++ {
			if _, err := decodeFrame(b[:i]); err == nil && !(b[0] == frameGraft && i == 1) {
				t.Errorf("frame %d cut to %d bytes accepted", b[0], i)
			}
		}
		if _, err := decodeFrame(append(append([]byte(nil), b...), 0)); !errors.Is(err, ErrMalformed) {
			t.Errorf("frame %d with a trailing byte: %v", b[0], err)
		}
	}
	m := testMessage(t, 7)
	f, err := decodeFrame(publishFrame(m, 2))
	if err != nil {
		t.Fatal(err)
	}
	if f.hops != 2 || f.msg.id() != m.id() || f.msg.sig != m.sig || string(f.msg.payload) != "xxxxxxx" {
		t.Fatalf("publish decoded as %+v", f.msg)
	}
	if err := f.msg.origin.Verify(ContextMessage, f.msg.signed(), f.msg.sig[:]); err != nil {
		t.Fatal(err)
	}
	rf, err := decodeFrame(recordsFrame([]record{testRecord(t, recordAdmit)}))
	if err != nil {
		t.Fatal(err)
	}
	if err := rf.records[0].verify(); err != nil {
		t.Fatal(err)
	}
}

// TestFrameLimits checks each limit at its boundary: the largest value
// is accepted, one more is refused.
func TestFrameLimits(t *testing.T) {
	ok := func(b []byte) {
		t.Helper()
		if _, err := decodeFrame(b); err != nil {
			t.Errorf("at the limit: %v", err)
		}
	}
	bad := func(b []byte) {
		t.Helper()
		if _, err := decodeFrame(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("over the limit: %v", err)
		}
	}
	// Payload: MaxPayload bytes.
	ok(publishFrame(testMessage(t, MaxPayload), 0))
	bad(publishFrame(testMessage(t, MaxPayload+1), 0))
	// Direct frames: MaxDirect bytes (the whole frame is then MaxFrame),
	// channels 1 to 255.
	ok(directFrame(1, make([]byte, MaxDirect)))
	bad(directFrame(1, make([]byte, MaxDirect+1)))
	bad(directFrame(0, []byte("x")))
	// Hops: MaxHops.
	ok(publishFrame(testMessage(t, 1), MaxHops))
	bad(publishFrame(testMessage(t, 1), MaxHops+1))
	// Names: MaxNameLen bytes, printable UTF-8.
	ok(welcomeFrame(&descriptor{name: strings.Repeat("é", MaxNameLen/2)}, nil))
	bad(welcomeFrame(&descriptor{name: strings.Repeat("a", MaxNameLen+1)}, nil))
	bad(welcomeFrame(&descriptor{name: ""}, nil))
	bad(welcomeFrame(&descriptor{name: "a\nb"}, nil))
	bad(welcomeFrame(&descriptor{name: "\xff"}, nil))
	// Records: MaxRecords in one frame (the count is checked before the
	// records are read).
	rec := testRecord(t, recordAdmit)
	recs := make([]record, MaxRecords)
	for i := range recs {
		recs[i] = rec
	}
	ok(recordsFrame(recs))
	over := binary.BigEndian.AppendUint16([]byte{frameRecords}, MaxRecords+1)
	for i := 0; i < MaxRecords+1; i++ {
		over = rec.append(over)
	}
	bad(over)
	bad(recordsFrame(nil))
	badKind := recordsFrame([]record{rec})
	badKind[3] = 3
	bad(badKind)
	// IDs: 1 to MaxIDs.
	ids := make([]MessageID, MaxIDs)
	ok(idsFrame(frameIHave, ids))
	overIDs := binary.BigEndian.AppendUint16([]byte{frameIWant}, MaxIDs+1)
	overIDs = append(overIDs, make([]byte, 32*(MaxIDs+1))...)
	bad(overIDs)
	bad(idsFrame(frameIHave, nil))
	// Peers: up to MaxIntroPeers; wanted 1 to MaxIntroPeers.
	peers := make([]identity.ID, MaxIntroPeers)
	ok(peersFrame(frameIntroReq, MaxIntroPeers, peers))
	bad(peersFrame(frameIntroReq, MaxIntroPeers+1, peers))
	bad(peersFrame(frameIntroReq, 0, peers))
	overPeers := append([]byte{frameIntroPeers, MaxIntroPeers + 1}, make([]byte, 32*(MaxIntroPeers+1))...)
	bad(overPeers)
	// Tokens: MaxTokenText printable ASCII bytes; an offer is not empty.
	ok(tokenFrame(frameIntroOffer, identity.ID{}, false, strings.Repeat("A", MaxTokenText)))
	bad(tokenFrame(frameIntroOffer, identity.ID{}, false, strings.Repeat("A", MaxTokenText+1)))
	bad(tokenFrame(frameIntroOffer, identity.ID{}, false, ""))
	bad(tokenFrame(frameIntroOffer, identity.ID{}, false, "A B"))
	bad(tokenFrame(frameIntroAnswer, identity.ID{}, true, "A")) // the flag is for offers only
	// Resume hints: 1 to session.MaxResumeTokenText bytes.
	ok(tokenFrame(frameResumeHint, identity.ID{}, true, strings.Repeat("A", session.MaxResumeTokenText)))
	bad(tokenFrame(frameResumeHint, identity.ID{}, false, strings.Repeat("A", session.MaxResumeTokenText+1)))
	bad(tokenFrame(frameResumeHint, identity.ID{}, false, ""))
	bad(append(tokenFrame(frameResumeHint, identity.ID{}, false, "A")[:33], 2, 0, 1, 'A')) // flags 2
	bad([]byte{frameResumeHint + 1, 0})
	// Backoff: up to MaxBackoff.
	ok(pruneFrame(MaxBackoff))
	bad(pruneFrame(MaxBackoff + time.Second))
	// Hello flags, frame types, frame size.
	h := helloFrame(ID{}, true)
	h[len(h)-1] = 2
	bad(h)
	bad([]byte{0})
	bad([]byte{frameIntroAnswer + 1})
	bad(nil)
	bad(make([]byte, MaxFrame+1))
}

func TestMembershipRules(t *testing.T) {
	ids := make([]*identity.Identity, 5)
	for i := range ids {
		ids[i] = newID(t)
	}
	creator, a, b, c, stranger := ids[0], ids[1], ids[2], ids[3], ids[4]
	room := ID{7}
	now := time.Now()
	m := newMembership(room, creator.ID(), time.Minute)
	add := func(rec record) error {
		_, err := m.add(rec, now)
		return err
	}
	// Out of order: b admitted by a before a is admitted.
	if err := add(newRecord(recordAdmit, room, a, b.ID(), now)); err != nil {
		t.Fatal(err)
	}
	if m.isMember(b.ID()) {
		t.Fatal("b is a member before a is")
	}
	if err := add(newRecord(recordAdmit, room, creator, a.ID(), now)); err != nil {
		t.Fatal(err)
	}
	if !m.isMember(a.ID()) || !m.isMember(b.ID()) {
		t.Fatal("the chain creator → a → b does not count")
	}
	// A stranger's admission counts for nothing.
	if err := add(newRecord(recordAdmit, room, stranger, c.ID(), now)); err != nil {
		t.Fatal(err)
	}
	if m.isMember(c.ID()) {
		t.Fatal("admitted by a stranger")
	}
	// Only the creator removes; the creator cannot be removed.
	if err := add(newRecord(recordRemove, room, a, b.ID(), now)); !errors.Is(err, ErrNotCreator) {
		t.Fatalf("removal by a member: %v", err)
	}
	if err := add(newRecord(recordRemove, room, creator, creator.ID(), now)); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("removal of the creator: %v", err)
	}
	// Bad signature, another room, the future.
	forged := newRecord(recordAdmit, room, a, c.ID(), now)
	forged.sig[0] ^= 1
	if err := add(forged); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("forged record: %v", err)
	}
	if err := add(newRecord(recordAdmit, ID{8}, a, c.ID(), now)); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("record for another room: %v", err)
	}
	if err := add(newRecord(recordAdmit, room, a, c.ID(), now.Add(2*time.Minute))); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("record from the future: %v", err)
	}
	// Removing a removes b, whose only chain went through a; b admitted
	// by the creator as well would stay.
	if err := add(newRecord(recordAdmit, room, b, c.ID(), now)); err != nil {
		t.Fatal(err)
	}
	if err := add(newRecord(recordAdmit, room, creator, c.ID(), now)); err != nil {
		t.Fatal(err)
	}
	if err := add(newRecord(recordRemove, room, creator, a.ID(), now)); err != nil {
		t.Fatal(err)
	}
	if m.isMember(a.ID()) || m.isMember(b.ID()) || !m.isMember(c.ID()) {
		t.Fatalf("after removing a: a %v b %v c %v", m.isMember(a.ID()), m.isMember(b.ID()), m.isMember(c.ID()))
	}
	// A removed member stays out, whoever admits it.
	if err := add(newRecord(recordAdmit, room, creator, a.ID(), now)); err != nil {
		t.Fatal(err)
	}
	if m.isMember(a.ID()) {
		t.Fatal("a removed member came back")
	}
	// The records make the same membership elsewhere, in any order.
	m2 := newMembership(room, creator.ID(), time.Minute)
	recs := m.records()
	for i := len(recs) - 1; i >= 0; i-- {
		m2.add(recs[i], now)
	}
	if len(m2.valid) != len(m.valid) {
		t.Fatalf("%d members from the records, want %d", len(m2.valid), len(m.valid))
	}
}

func TestSequenceWindow(t *testing.T) {
	var o originState
	for _, s := range []uint64{5000, 4990, 5001, 4500} {
		if err := o.check(s); err != nil {
			t.Fatalf("%d: %v", s, err)
		}
		o.mark(s)
	}
	for _, s := range []uint64{5000, 4990, 5001, 4500, 5001 - window} {
		if err := o.check(s); !errors.Is(err, errReplay) {
			t.Errorf("%d accepted again", s)
		}
	}
	if err := o.check(5002 - window); err != nil {
		t.Errorf("the oldest in the window: %v", err)
	}
	o.mark(5001 + 3*window)
	if err := o.check(5001 + 2*window + 1); err != nil {
		t.Errorf("after a jump: %v", err)
	}
}

func TestSendQueueBound(t *testing.T) {
	n := newNeighbour(identity.ID{}, nil, identity.ID{}, PathDirect, time.Now())
	limit := 1000
	for i := 0; i < 10; i++ {
		n.enqueue(make([]byte, 100), true, limit)
	}
	if ok, _ := n.enqueue(make([]byte, 1), true, limit); ok {
		t.Fatal("gossip beyond the bound was queued")
	}
	if ok, err := n.enqueue(make([]byte, 100), false, limit); !ok || err != nil {
		t.Fatalf("a control frame was not queued: %v", err)
	}
	if _, err := n.enqueue(make([]byte, 4*limit), false, limit); !errors.Is(err, errTooSlow) {
		t.Fatalf("control frames beyond 4 times the bound: %v", err)
	}
}
