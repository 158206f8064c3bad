package discovery

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"testing"
)

// The beacon tag, computed here from the primitives as SECURITY.md says,
// matches the package's.
func TestBeaconTagFromPrimitives(t *testing.T) {
	t.Parallel()
	secret := seq(SecretSize, 0)
	kb, _ := hkdf.Key(sha256.New, secret, nil, "sp2p v2 lan beacon key", 32)
	m := hmac.New(sha256.New, kb)
	var e [4]byte
	binary.BigEndian.PutUint32(e[:], 29_000_000)
	m.Write(e[:])
	m.Write(seq(16, 0x40))
	want := m.Sum(nil)[:TagSize]
	k, _ := PeerKey(secret)
	got := k.beaconTag(29_000_000, arr16(seq(16, 0x40)))
	if !bytes.Equal(got[:], want) {
		t.Fatalf("tag %x, want %x", got, want)
	}
}

// Every length boundary of every type: one byte more or less is refused,
// and so is any non-zero padding byte.
func TestDecodeBoundaries(t *testing.T) {
	t.Parallel()
	v := computeVectors(t)
	for _, s := range []string{v.Beacon, v.Fetch, v.Ack, v.Probe, v.Init, v.Resp, v.Confirm} {
		raw, _ := hex.DecodeString(s)
		if _, err := decode(append(raw, 0)); !errors.Is(err, ErrMalformed) {
			t.Errorf("type %d, one byte more: %v", raw[5], err)
		}
		if _, err := decode(raw[:len(raw)-1]); !errors.Is(err, ErrMalformed) {
			t.Errorf("type %d, one byte less: %v", raw[5], err)
		}
	}
	for _, s := range []string{v.Fetch, v.Probe, v.Init, v.Confirm} {
		raw, _ := hex.DecodeString(s)
		raw[len(raw)-1] = 1
		if _, err := decode(raw); !errors.Is(err, ErrMalformed) {
			t.Errorf("type %d, padding not zero: %v", raw[5], err)
		}
	}
	raw, _ := hex.DecodeString(v.Beacon)
	for i, bad := range [][]byte{raw[:5], append([]byte("sp2x"), raw[4:]...), append(append([]byte(nil), raw[:4]...), append([]byte{2}, raw[5:]...)...), append(append([]byte(nil), raw[:5]...), append([]byte{0x0a}, raw[6:]...)...)} {
		if _, err := decode(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("bad header %d: %v", i, err)
		}
	}
	// Sealed tokens: 1 to MaxToken bytes inside.
	key := [32]byte{1}
	xid := arr16(seq(16, 0))
	for _, n := range []int{1, MaxToken} {
		b, err := sealToken(typeOffer, &key, xid, make([]byte, n))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decode(b); err != nil {
			t.Errorf("offer with a %d-byte token: %v", n, err)
		}
		if len(b) > RequestSize {
			t.Errorf("offer with a %d-byte token is %d bytes, larger than a request", n, len(b))
		}
	}
	for _, n := range []int{0, MaxToken + 1} {
		if _, err := sealToken(typeOffer, &key, xid, make([]byte, n)); err == nil {
			t.Errorf("a %d-byte token was sealed", n)
		}
	}
	b, _ := sealToken(typeOffer, &key, xid, make([]byte, MaxToken))
	if _, err := decode(append(b, 0)); !errors.Is(err, ErrMalformed) {
		t.Errorf("offer over the limit: %v", err)
	}
	// CPace messages: 1 to MaxCPaceMessage bytes.
	for n, ok := range map[int]bool{1: true, MaxCPaceMessage: true} {
		p := &packet{typ: typeInit, msg: make([]byte, n)}
		if _, err := decode(p.encode()); (err == nil) != ok {
			t.Errorf("init with a %d-byte message: %v", n, err)
		}
		p = &packet{typ: typeResp, msg: make([]byte, n)}
		if _, err := decode(p.encode()); (err == nil) != ok {
			t.Errorf("resp with a %d-byte message: %v", n, err)
		}
	}
	for _, n := range []int{0, MaxCPaceMessage + 1} {
		p := &packet{typ: typeResp, msg: make([]byte, n)}
		if _, err := decode(p.encode()); !errors.Is(err, ErrMalformed) {
			t.Errorf("resp with a %d-byte message: %v", n, err)
		}
	}
	if _, err := decode(make([]byte, MaxPacket+1)); !errors.Is(err, ErrMalformed) {
		t.Errorf("over MaxPacket: %v", err)
	}
}

// No reply is larger than the request that causes it: a host never
// amplifies.
func TestNoAmplification(t *testing.T) {
	t.Parallel()
	maxOffer := hdrSize + NonceSize + SealNonceSize + MaxToken + sealOverhead
	maxResp := hdrSize + NonceSize + 2 + MaxCPaceMessage + MACSize
	for what, sizes := range map[string][2]int{
		"fetch → offer":   {RequestSize, maxOffer},
		"init → resp":     {RequestSize, maxResp},
		"confirm → offer": {RequestSize, maxOffer},
		"answer → ack":    {hdrSize + NonceSize + SealNonceSize + sealOverhead + 1, ackSize},
		"probe → beacons": {ProbeSize, MaxKeys * beaconSize},
	} {
		if sizes[1] > sizes[0] {
			t.Errorf("%s: reply of %d bytes for a request of %d", what, sizes[1], sizes[0])
		}
	}
}

// Two beacons of one key share no field: not in one epoch (the nonce is
// fresh) and not in two (the epoch differs too); the tag depends on both.
func TestBeaconsUnlinkable(t *testing.T) {
	t.Parallel()
	k, _ := PeerKey(seq(SecretSize, 9))
	a := &packet{typ: typeBeacon, epoch: 100, nonce: arr16(seq(16, 1))}
	b := &packet{typ: typeBeacon, epoch: 101, nonce: arr16(seq(16, 2))}
	a.tag, b.tag = k.beaconTag(a.epoch, a.nonce), k.beaconTag(b.epoch, b.nonce)
	if a.tag == b.tag || a.nonce == b.nonce {
		t.Fatal("two beacons share a field")
	}
	// The same nonce in another epoch gives another tag, and another
	// key another tag.
	c := k.beaconTag(101, a.nonce)
	k2, _ := PeerKey(seq(SecretSize, 10))
	d := k2.beaconTag(100, a.nonce)
	if c == a.tag || d == a.tag {
		t.Fatal("the tag does not depend on the epoch and the key")
	}
	// A seeker accepts its key's tag in the epochs next to its own and
	// nothing else.
	for now, ok := range map[uint32]bool{99: true, 100: true, 101: true, 98: false, 102: false} {
		if k.matches(a, now) != ok {
			t.Errorf("beacon of epoch 100 at epoch %d: matches %v", now, !ok)
		}
	}
	if k2.matches(a, 100) {
		t.Error("another key's seeker recognises the beacon")
	}
	flipped := *a
	flipped.tag[0] ^= 1
	if k.matches(&flipped, 100) {
		t.Error("a changed tag matches")
	}
}

// A sealed token with any bit flipped, or under another exchange's id,
// does not open.
func TestSealedTokenTampering(t *testing.T) {
	t.Parallel()
	key := [32]byte{7}
	xid := arr16(seq(16, 3))
	b, _ := sealToken(typeOffer, &key, xid, []byte("token"))
	for i := hdrSize; i < len(b); i++ {
		for bit := 0; bit < 8; bit++ {
			c := append([]byte(nil), b...)
			c[i] ^= 1 << bit
			p, err := decode(c)
			if err != nil {
				continue
			}
			if _, err := openToken(p, &key); err == nil {
				t.Fatalf("byte %d bit %d flipped: opens", i, bit)
			}
		}
	}
	// The type is authenticated: an OFFER relabelled as an ANSWER fails.
	c := append([]byte(nil), b...)
	c[5] = typeAnswer
	p, _ := decode(c)
	if _, err := openToken(p, &key); err == nil {
		t.Fatal("an offer opened as an answer")
	}
}

func FuzzDecode(f *testing.F) {
	v := computeVectors(&testing.T{})
	for _, s := range []string{v.Beacon, v.Fetch, v.Offer, v.Answer, v.Ack, v.Probe, v.Init, v.Resp, v.Confirm} {
		raw, _ := hex.DecodeString(s)
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		if !bytes.Equal(p.encode(), b) {
			t.Fatalf("decoded packet does not re-encode")
		}
	})
}
