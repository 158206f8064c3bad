package seal

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// Known-answer test of the AEAD construction the record layer uses, with
// the vector of draft-irtf-cfrg-xchacha, appendix A.3.1.
func TestXChaCha20Poly1305KnownAnswer(t *testing.T) {
	t.Parallel()
	h := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	pt := []byte("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.")
	aad := h("50515253c0c1c2c3c4c5c6c7")
	var key [KeySize]byte
	copy(key[:], h("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"))
	nonce := h("404142434445464748494a4b4c4d4e4f5051525354555657")
	want := h("bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff921f9664c97637da9768812f615c68b13b52e" +
		"c0875924c1c7987947deafd8780acf49")
	var st aeadState
	st.init(&key, 0)
	got := st.aead.Seal(nil, nonce, pt, aad)
	if !bytes.Equal(got, want) {
		t.Fatalf("XChaCha20-Poly1305 A.3.1:\n got %x\nwant %x", got, want)
	}
	back, err := st.aead.Open(nil, nonce, want, aad)
	if err != nil || !bytes.Equal(back, pt) {
		t.Fatalf("open A.3.1: %v", err)
	}
}

func TestKeyScheduleSymmetric(t *testing.T) {
	t.Parallel()
	shared := bytes.Repeat([]byte{9}, 32)
	tr := sha256.Sum256([]byte("t"))
	o, err := DeriveKeys(shared, tr, Offerer)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := DeriveKeys(shared, tr, Answerer)
	if o.send != a.recv || o.recv != a.send || o.send == o.recv {
		t.Fatal("direction keys do not mirror, or are equal")
	}
	if o.SessionID != a.SessionID || o.SafetyCode != a.SafetyCode {
		t.Fatal("the two sides disagree on session id or safety code")
	}
	if len(o.SafetyCode) != 4*5+3 {
		t.Errorf("safety code %q", o.SafetyCode)
	}
	other, _ := DeriveKeys(shared, sha256.Sum256([]byte("substituted")), Offerer)
	if other.SafetyCode == o.SafetyCode || other.send == o.send {
		t.Error("a different transcript gives the same safety code or keys")
	}
	if _, err := DeriveKeys(make([]byte, 32), tr, Offerer); !errors.Is(err, ErrZeroSecret) {
		t.Errorf("all-zero secret: %v", err)
	}
	if _, err := DeriveKeys(shared[:31], tr, Offerer); err == nil {
		t.Error("short secret accepted")
	}
	o.Erase()
	if o.send != ([KeySize]byte{}) || o.recv != ([KeySize]byte{}) {
		t.Error("Erase left key bytes")
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	t.Parallel()
	p := newPair(t, Config{})
	for _, n := range []int{0, 1, 100, 1024, 16 << 10, MaxPayload} {
		for _, typ := range []Type{TypeData, TypeFragment, TypePing, TypePong, TypeClose, TypeConfirm, TypeEnd, TypeBatch} {
			msg := bytes.Repeat([]byte{byte(n)}, n)
			rec := mustSeal(t, p.oSeal, typ, msg)
			if len(rec) != n+Overhead {
				t.Fatalf("record of %d bytes is %d long", n, len(rec))
			}
			gotTyp, got, err := p.aOpen.Open(nil, rec)
			if err != nil || gotTyp != typ || !bytes.Equal(got, msg) {
				t.Fatalf("open %d-byte %v: %v %v", n, typ, gotTyp, err)
			}
			// And the other direction.
			rec = mustSeal(t, p.aSeal, typ, msg)
			if _, got, err := p.oOpen.Open(nil, rec); err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("answerer to offerer: %v", err)
			}
		}
	}
	if _, err := p.oSeal.Seal(nil, TypeData, make([]byte, MaxPayload+1)); !errors.Is(err, ErrPayloadTooLarge) {
		t.Errorf("oversized payload: %v", err)
	}
}

// Every single-bit flip of a sealed record is rejected, and the rejections
// leave the opener's state unchanged: the original still opens afterwards.
func TestEveryBitFlipRejected(t *testing.T) {
	t.Parallel()
	p := newPair(t, Config{})
	rec := mustSeal(t, p.oSeal, TypeData, []byte("attack at dawn, bring snacks; 40 bytes.."))
	for i := 0; i < len(rec)*8; i++ {
		bad := bytes.Clone(rec)
		bad[i/8] ^= 1 << (i % 8)
		if _, _, err := p.aOpen.Open(nil, bad); err == nil {
			t.Fatalf("record with bit %d flipped was accepted", i)
		}
	}
	st := p.aOpen.Stats()
	if st.Opened != 0 || st.AuthFailed == 0 || st.Malformed == 0 {
		t.Errorf("stats after flips: %+v", st)
	}
	if _, got, err := p.aOpen.Open(nil, rec); err != nil || string(got) != "attack at dawn, bring snacks; 40 bytes.." {
		t.Fatalf("original record after the flips: %v", err)
	}
}

func TestTruncationRejected(t *testing.T) {
	t.Parallel()
	p := newPair(t, Config{})
	rec := mustSeal(t, p.oSeal, TypeData, bytes.Repeat([]byte("x"), 200))
	for n := 0; n < len(rec); n++ {
		if _, _, err := p.aOpen.Open(nil, rec[:n]); err == nil {
			t.Fatalf("record truncated to %d bytes accepted", n)
		}
	}
	// Extended records are rejected too.
	if _, _, err := p.aOpen.Open(nil, append(bytes.Clone(rec), 0)); !errors.Is(err, ErrAuth) {
		t.Fatalf("extended record: %v", err)
	}
	if _, _, err := p.aOpen.Open(nil, make([]byte, MaxRecordSize+1)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("oversized record: %v", err)
	}
}

func TestReflectionRejected(t *testing.T) {
	t.Parallel()
	p := newPair(t, Config{})
	rec := mustSeal(t, p.oSeal, TypeData, []byte("hello"))
	// Sent back to its sender.
	if _, _, err := p.oOpen.Open(nil, rec); !errors.Is(err, ErrReflected) {
		t.Fatalf("reflected record: %v, want ErrReflected", err)
	}
	if p.oOpen.Stats().Reflected != 1 {
		t.Error("reflection not counted")
	}
	// Relabelled as coming from the other side: the header is
	// authenticated, and the key is the other direction's.
	bad := bytes.Clone(rec)
	bad[2] = byte(Answerer)
	if _, _, err := p.oOpen.Open(nil, bad); !errors.Is(err, ErrAuth) {
		t.Fatalf("relabelled reflected record: %v, want ErrAuth", err)
	}
}

func TestReplayWindow(t *testing.T) {
	t.Parallel()
	p := newPair(t, Config{})
	const n = ReplayWindow + 200
	recs := make([][]byte, n)
	for i := range recs {
		recs[i] = mustSeal(t, p.oSeal, TypeData, []byte(fmt.Sprint(i)))
	}
	open := func(i int) error { _, _, err := p.aOpen.Open(nil, recs[i]); return err }
	// The script, as in wireguard-go's replay_test.go: seq -> accepted?
	steps := []struct {
		seq int
		ok  bool
	}{
		{0, true}, {0, false}, {1, true}, {1, false}, {3, true}, {2, true}, {2, false},
		{10, true}, {5, true}, {4, true}, {10, false}, {5, false},
		{ReplayWindow + 10, true}, // moves the window: 0..9 fall out (10 is at the edge)
		{9, false}, {10, false}, {11, true}, {11, false},
		{ReplayWindow + 9, true}, {ReplayWindow + 11, true}, {ReplayWindow + 9, false},
		{n - 1, true}, {n - 1 - ReplayWindow, true}, {n - 2 - ReplayWindow, false},
		{n - 2, true}, {n - 2, false},
	}
	for i, s := range steps {
		err := open(s.seq)
		if s.ok && err != nil {
			t.Fatalf("step %d: seq %d rejected: %v", i, s.seq, err)
		}
		if !s.ok && !errors.Is(err, ErrReplay) {
			t.Fatalf("step %d: seq %d: %v, want ErrReplay", i, s.seq, err)
		}
	}
}

// In-window reordering: a random permutation of a window's worth of records
// is accepted in full, and each record only once.
func TestReplayWindowReordering(t *testing.T) {
	t.Parallel()
	p := newPair(t, Config{})
	recs := make([][]byte, 2048)
	for i := range recs {
		recs[i] = mustSeal(t, p.oSeal, TypeData, nil)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	// Shuffle within blocks of 1024 so nothing falls outside the window.
	for b := 0; b < len(recs); b += 1024 {
		rng.Shuffle(1024, func(i, j int) { recs[b+i], recs[b+j] = recs[b+j], recs[b+i] })
	}
	for i, r := range recs {
		if _, _, err := p.aOpen.Open(nil, r); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	for _, i := range []int{0, 1000, 2047} {
		if _, _, err := p.aOpen.Open(nil, recs[i]); !errors.Is(err, ErrReplay) {
			t.Fatalf("duplicate accepted: %v", err)
		}
	}
}

func TestTimestampFreshness(t *testing.T) {
	t.Parallel()
	sendClock, recvClock := newClock(), newClock()
	o := newPair(t, Config{Now: sendClock.Now})
	a := newPair(t, Config{Now: recvClock.Now, MaxAge: time.Minute, MaxFutureSkew: 10 * time.Second})
	cases := []struct {
		skew time.Duration // receiver clock minus sender clock
		want error
	}{
		{0, nil},
		{time.Minute, nil},
		{time.Minute + time.Millisecond, ErrStale},
		{time.Hour, ErrStale},
		{-10 * time.Second, nil},
		{-10*time.Second - time.Millisecond, ErrFuture},
		{-24 * time.Hour, ErrFuture},
	}
	for _, c := range cases {
		recvClock.Set(sendClock.Now().Add(c.skew))
		rec := mustSeal(t, o.oSeal, TypeData, []byte("t"))
		_, _, err := a.aOpen.Open(nil, rec)
		if !errors.Is(err, c.want) {
			t.Errorf("skew %v: %v, want %v", c.skew, err, c.want)
		}
	}
	st := a.aOpen.Stats()
	if st.Stale != 2 || st.Future != 2 || st.Opened != 3 {
		t.Errorf("stats %+v", st)
	}
}

func TestSequenceExhausted(t *testing.T) {
	t.Parallel()
	p := newPair(t, Config{})
	p.oSeal.seq = RejectAfterSequence
	rec := mustSeal(t, p.oSeal, TypeData, []byte("last"))
	if _, err := p.oSeal.Seal(nil, TypeData, []byte("one too many")); !errors.Is(err, ErrSequenceExhausted) {
		t.Fatalf("after the last sequence number: %v", err)
	}
	if _, _, err := p.aOpen.Open(nil, rec); err != nil {
		t.Fatalf("the last record: %v", err)
	}
	p.oSeal.state.epoch = RejectAfterEpoch
	p.oSeal.seq = 0
	if err := p.oSeal.Rekey(); !errors.Is(err, ErrSequenceExhausted) {
		t.Fatalf("rekey past the last epoch: %v", err)
	}
}

func TestRekeyAndGrace(t *testing.T) {
	t.Parallel()
	clk := newClock()
	p := newPair(t, Config{Now: clk.Now, RekeyAfterRecords: 3, PreviousKeyGrace: 5 * time.Second})
	var recs [][]byte
	for i := range 7 {
		recs = append(recs, mustSeal(t, p.oSeal, TypeData, []byte{byte(i)}))
	}
	if p.oSeal.Epoch() != 2 {
		t.Fatalf("epoch after 7 records with RekeyAfterRecords=3: %d", p.oSeal.Epoch())
	}
	// Epoch 0 records 0,1; epoch 1 record 3 arrives early and moves the
	// receiver forward; epoch-0 record 2 is still in flight and accepted
	// during the grace period.
	for _, i := range []int{0, 1, 3, 2, 4} {
		if _, got, err := p.aOpen.Open(nil, recs[i]); err != nil || got[0] != byte(i) {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	if p.aOpen.Epoch() != 1 {
		t.Fatalf("receiver epoch %d, want 1", p.aOpen.Epoch())
	}
	// Record 6 is epoch 2: two epochs ahead of... no, one ahead of 1: fine.
	if _, _, err := p.aOpen.Open(nil, recs[6]); err != nil {
		t.Fatalf("epoch-2 record: %v", err)
	}
	// Record 5 (epoch 1) is now the previous epoch, inside the grace period.
	if _, _, err := p.aOpen.Open(nil, recs[5]); err != nil {
		t.Fatalf("previous-epoch record during grace: %v", err)
	}
	// After the grace period, the previous epoch is gone.
	late := mustSealAt(t, p, 1)
	clk.Advance(6 * time.Second)
	if _, _, err := p.aOpen.Open(nil, late); !errors.Is(err, ErrEpoch) {
		t.Fatalf("previous-epoch record after grace: %v, want ErrEpoch", err)
	}
}

// mustSealAt seals a record under an older epoch's key, as a delayed packet.
func mustSealAt(t *testing.T, p *testPair, epoch uint32) []byte {
	t.Helper()
	key := p.offerer.send
	for range epoch {
		ratchet(&key)
	}
	s := &Sealer{cfg: p.oSeal.cfg, dir: Offerer, rand: p.oSeal.rand, seq: 1 << 40, epochStart: p.oSeal.cfg.Now()}
	s.state.init(&key, epoch)
	return mustSeal(t, s, TypeData, []byte("late"))
}

func TestEpochJumpAndForgery(t *testing.T) {
	t.Parallel()
	p := newPair(t, Config{})
	// A record two epochs ahead is refused (the sender moves one at a time).
	s := &Sealer{cfg: p.oSeal.cfg, dir: Offerer, rand: p.oSeal.rand, epochStart: p.oSeal.cfg.Now()}
	key := p.offerer.send
	ratchet(&key)
	ratchet(&key)
	s.state.init(&key, 2)
	if _, _, err := p.aOpen.Open(nil, mustSeal(t, s, TypeData, nil)); !errors.Is(err, ErrEpoch) {
		t.Fatalf("record two epochs ahead: %v", err)
	}
	// A forged header claiming the next epoch does not move the receiver.
	rec := mustSeal(t, p.oSeal, TypeData, []byte("x"))
	forged := bytes.Clone(rec)
	forged[7] = 1
	if _, _, err := p.aOpen.Open(nil, forged); !errors.Is(err, ErrAuth) {
		t.Fatalf("forged epoch: %v", err)
	}
	if p.aOpen.Epoch() != 0 {
		t.Fatal("a forged record moved the receiver's epoch")
	}
	if _, _, err := p.aOpen.Open(nil, rec); err != nil {
		t.Fatalf("genuine record after forgery: %v", err)
	}
}

// A key taken from memory after a rekey cannot open records of earlier
// epochs: the ratchet is one-way.
func TestRekeyForwardSecrecy(t *testing.T) {
	t.Parallel()
	p := newPair(t, Config{})
	early := mustSeal(t, p.oSeal, TypeData, []byte("before the rekey"))
	if err := p.oSeal.Rekey(); err != nil {
		t.Fatal(err)
	}
	stolen := p.oSeal.state.key // everything the sender still holds
	if stolen == p.offerer.send {
		t.Fatal("rekey kept the old key")
	}
	nonce, ct, hdr := early[HeaderSize:HeaderSize+NonceSize], early[HeaderSize+NonceSize:], early[:HeaderSize]
	k := stolen
	for range 4 {
		var st aeadState
		st.init(&k, 0)
		if _, err := st.aead.Open(nil, nonce, ct, hdr); err == nil {
			t.Fatal("a later key opened an earlier record")
		}
		ratchet(&k)
	}
	// The genuine epoch-0 key still opens it (the test is not vacuous).
	var st aeadState
	k0 := p.offerer.send
	st.init(&k0, 0)
	if _, err := st.aead.Open(nil, nonce, ct, hdr); err != nil {
		t.Fatalf("epoch-0 key: %v", err)
	}
}

func TestRekeyAfterTime(t *testing.T) {
	t.Parallel()
	clk := newClock()
	p := newPair(t, Config{Now: clk.Now, RekeyAfterTime: time.Minute, MaxAge: time.Hour})
	mustSeal(t, p.oSeal, TypeData, nil)
	clk.Advance(59 * time.Second)
	mustSeal(t, p.oSeal, TypeData, nil)
	if p.oSeal.Epoch() != 0 {
		t.Fatal("rekeyed early")
	}
	clk.Advance(time.Second)
	rec := mustSeal(t, p.oSeal, TypeData, nil)
	if p.oSeal.Epoch() != 1 {
		t.Fatal("no rekey after RekeyAfterTime")
	}
	if _, _, err := p.aOpen.Open(nil, rec); err != nil || p.aOpen.Epoch() != 1 {
		t.Fatalf("receiver did not follow: %v", err)
	}
}

func TestSealOpenZeroAllocs(t *testing.T) {
	p := newPair(t, Config{})
	msg := make([]byte, 1024)
	buf := make([]byte, 0, MaxRecordSize)
	out := make([]byte, 0, MaxPayload)
	allocs := testing.AllocsPerRun(200, func() {
		rec, err := p.oSeal.Seal(buf[:0], TypeData, msg)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := p.aOpen.Open(out[:0], rec); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Seal+Open: %.1f allocations per record, want 0", allocs)
	}
}
