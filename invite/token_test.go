package invite

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sp2p/sp2p/identity"
)

var t0 = time.Unix(1_800_000_000, 0)

func ident(t testing.TB, b byte) *identity.Identity {
	t.Helper()
	id, err := identity.FromSeed(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func testConn(role DTLSRole, ips ...string) ConnDesc {
	d := ConnDesc{Role: role} // ICE credentials: filled in from the ephemeral key
	for i := range d.Fingerprint {
		d.Fingerprint[i] = byte(i * 7)
	}
	for i, ip := range ips {
		d.Candidates = append(d.Candidates, Candidate{Type: Host, Addr: netip.AddrPortFrom(netip.MustParseAddr(ip), uint16(50000+i))})
	}
	return d
}

type scenario struct {
	alice, bob, mallory *identity.Identity
	offer               *Offer
	answer              *Answer
}

func newScenario(t testing.TB, mod func(*OfferParams)) *scenario {
	t.Helper()
	s := &scenario{alice: ident(t, 1), bob: ident(t, 2), mallory: ident(t, 3)}
	p := OfferParams{Ephemeral: [32]byte{1, 2, 3}, Conn: testConn(RoleActPass, "192.168.1.20", "10.0.0.5"), Now: t0}
	if mod != nil {
		mod(&p)
	}
	var err error
	s.offer, err = NewOffer(s.alice, p)
	if err != nil {
		t.Fatal(err)
	}
	s.answer, err = NewAnswer(s.bob, s.offer, AnswerParams{Ephemeral: [32]byte{4, 5, 6}, Conn: testConn(RoleActive, "192.168.1.30"), Now: t0.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestOfferRoundTrip(t *testing.T) {
	t.Parallel()
	s := newScenario(t, func(p *OfferParams) {
		p.Recipient = ident(t, 2).ID()
		p.Options = ChannelOptions{Unordered: true, PartialReliability: true, MaxRetransmits: 3}
		p.Lifetime = time.Hour
		p.Purpose = PurposeFiles
		p.Conn.Candidates = append(p.Conn.Candidates,
			Candidate{Type: Host, Name: mdnsName(t, "5ca05cb1-9f5f-4912-8329-24f191793d5a.local"), Addr: netip.AddrPortFrom(netip.Addr{}, 51264)},
			Candidate{Type: ServerReflexive, Addr: netip.MustParseAddrPort("[2001:db8::1]:3478")},
			Candidate{Type: Relay, TCP: true, TCPType: TCPPassive, Addr: netip.MustParseAddrPort("203.0.113.9:443")},
			Candidate{Type: Host, TCP: true, TCPType: TCPActive, Addr: netip.MustParseAddrPort("192.168.1.20:0")})
	})
	got, err := ParseOffer(s.offer.Text())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), s.offer.Bytes()) || got.Inviter != s.alice.ID() || got.Recipient != s.bob.ID() ||
		got.Lifetime != time.Hour || !got.Created.Equal(t0) || got.Options != s.offer.Options || got.Purpose != PurposeFiles ||
		got.InviteID != s.offer.InviteID || got.Ephemeral != s.offer.Ephemeral || !got.Conn.equal(&s.offer.Conn) {
		t.Fatalf("decoded offer differs:\n%+v\n%+v", got, s.offer)
	}
	// Encoding the decoded token gives back the same bytes.
	body, err := got.encodeBody()
	if err != nil || !bytes.Equal(body, s.offer.Bytes()[:len(s.offer.Bytes())-SignatureSize]) {
		t.Fatalf("re-encoding differs: %v", err)
	}
	if err := got.Verify(VerifyOptions{Now: t0.Add(time.Minute), Self: s.bob.ID(), Expect: s.alice.ID()}); err != nil {
		t.Fatal(err)
	}
	a, err := ParseAnswer(s.answer.Text())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), s.answer.Bytes()) || a.OfferHash != s.offer.Hash() || a.Answerer != s.bob.ID() || !a.Conn.equal(&s.answer.Conn) {
		t.Fatal("decoded answer differs")
	}
	abody, _ := a.encodeBody()
	if !bytes.Equal(abody, a.Bytes()[:len(a.Bytes())-SignatureSize]) {
		t.Fatal("answer re-encoding differs")
	}
	if Transcript(s.offer, s.answer) == Transcript(got, &Answer{raw: []byte("x")}) {
		t.Fatal("transcript ignores the answer")
	}
}

// Flipping any single bit of a signed token is rejected, exhaustively.
func TestEveryBitFlipRejected(t *testing.T) {
	t.Parallel()
	s := newScenario(t, func(p *OfferParams) { p.Recipient = ident(t, 2).ID() })
	for name, tok := range map[string][]byte{"offer": s.offer.Bytes(), "answer": s.answer.Bytes()} {
		for i := 0; i < len(tok)*8; i++ {
			bad := bytes.Clone(tok)
			bad[i/8] ^= 1 << (i % 8)
			var err error
			if name == "offer" {
				_, err = DecodeOffer(bad)
			} else {
				_, err = DecodeAnswer(bad)
			}
			if err == nil {
				t.Fatalf("%s with bit %d flipped was accepted", name, i)
			}
		}
	}
}

func TestTruncatedAndExtendedRejected(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil)
	tok := s.offer.Bytes()
	for n := 0; n < len(tok); n++ {
		if _, err := DecodeOffer(tok[:n]); err == nil {
			t.Fatalf("offer truncated to %d bytes accepted", n)
		}
	}
	if _, err := DecodeOffer(append(bytes.Clone(tok), 0)); err == nil {
		t.Fatal("offer with a trailing byte accepted")
	}
}

// Distinct errors for structural problems, checked on tokens that are
// correctly signed (so the signature is not what rejects them).
func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil)
	resign := func(mod func(body []byte) []byte) []byte {
		body := bytes.Clone(s.offer.Bytes()[:len(s.offer.Bytes())-SignatureSize])
		body = mod(body)
		return append(body, s.alice.Sign(identity.ContextOffer, body)...)
	}
	flagsAt := offerFixedSize - 2                        // flags, then purpose
	countAt := flagsAt + 4 + 32 + 1                      // after the channel options, the fingerprint and the role
	v1 := func(kind byte, ctx identity.Context) []byte { // a genuine version 1 token, as an older sp2p signed it
		author := s.alice.ID()
		body := append([]byte{1, kind}, author[:]...)
		body = append(body, bytes.Repeat([]byte{7}, 150)...)
		return append(body, s.alice.Sign(ctx, body)...)
	}
	cases := []struct {
		name string
		tok  []byte
		want error
	}{
		{"version 3", resign(func(b []byte) []byte { b[0] = 3; return b }), ErrUnsupportedVersion},
		{"version 1", v1(kindOffer, "sp2p v1 offer"), ErrOldVersion},
		{"version 1 answer", v1(kindAnswer, "sp2p v1 answer"), ErrOldVersion},
		{"kind 3", resign(func(b []byte) []byte { b[1] = 3; return b }), ErrMalformed},
		{"answer as offer", s.answer.Bytes(), ErrWrongKind},
		{"unknown flags", resign(func(b []byte) []byte { b[flagsAt] = 2; return b }), ErrMalformed},
		{"purpose 3", resign(func(b []byte) []byte { b[flagsAt+1] = 3; return b }), ErrMalformed},
		{"purpose 255", resign(func(b []byte) []byte { b[flagsAt+1] = 255; return b }), ErrMalformed},
		{"options", resign(func(b []byte) []byte { b[flagsAt+2] = 4; return b }), ErrMalformed},
		{"retransmits without partial reliability", resign(func(b []byte) []byte { b[flagsAt+3] = 1; return b }), ErrMalformed},
		{"lifetime too long", resign(func(b []byte) []byte { b[flagsAt-3] = 0xff; return b }), ErrLimit},
		{"lifetime zero", resign(func(b []byte) []byte { copy(b[flagsAt-4:], []byte{0, 0, 0, 0}); return b }), ErrLimit},
		{"no candidates", resign(func(b []byte) []byte { b[countAt] = 0; return b[:countAt+1] }), ErrMalformed},
		{"17 candidates", resign(func(b []byte) []byte { b[countAt] = 17; return b }), ErrLimit},
		{"candidate flag bit 7", resign(func(b []byte) []byte { b[countAt+1] |= 0x80; return b }), ErrMalformed},
		{"mDNS with the IPv6 bit", resign(func(b []byte) []byte { b[countAt+1] = 0x48; return b }), ErrMalformed},
		{"mDNS srflx", resign(func(b []byte) []byte { b[countAt+1] = 0x41; return b }), ErrMalformed},
		{"mDNS TCP", resign(func(b []byte) []byte { b[countAt+1] = 0x64; return b }), ErrMalformed},
		{"trailing byte in body", resign(func(b []byte) []byte { return append(b, 0) }), ErrMalformed},
		{"too long", make([]byte, MaxTokenSize+1), ErrLimit},
		{"signed by someone else", append(bytes.Clone(s.offer.Bytes()[:len(s.offer.Bytes())-SignatureSize]),
			s.mallory.Sign(identity.ContextOffer, s.offer.Bytes()[:len(s.offer.Bytes())-SignatureSize])...), ErrBadSignature},
		{"signed as an answer", append(bytes.Clone(s.offer.Bytes()[:len(s.offer.Bytes())-SignatureSize]),
			s.alice.Sign(identity.ContextAnswer, s.offer.Bytes()[:len(s.offer.Bytes())-SignatureSize])...), ErrBadSignature},
		{"signed under version 1's context", append(bytes.Clone(s.offer.Bytes()[:len(s.offer.Bytes())-SignatureSize]),
			s.alice.Sign("sp2p v1 offer", s.offer.Bytes()[:len(s.offer.Bytes())-SignatureSize])...), ErrBadSignature},
	}
	for _, c := range cases {
		_, err := DecodeOffer(c.tok)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// A damaged version 1 token, or a version 2 token whose version byte
	// became 1, is not called an older sp2p's.
	for name, tok := range map[string][]byte{
		"damaged version 1": func() []byte { b := v1(kindOffer, "sp2p v1 offer"); b[40] ^= 1; return b }(),
		"version byte 1":    func() []byte { b := bytes.Clone(s.offer.Bytes()); b[0] = 1; return b }(),
	} {
		_, err := DecodeOffer(tok)
		if !errors.Is(err, ErrUnsupportedVersion) || errors.Is(err, ErrOldVersion) || strings.Contains(err.Error(), "older") {
			t.Errorf("%s: %v", name, err)
		}
	}
	_, err := DecodeOffer(v1(kindOffer, "sp2p v1 offer"))
	if msg := err.Error(); !strings.Contains(msg, "version 1, from an older sp2p") || !strings.Contains(msg, "reads version 2") || !strings.Contains(msg, "ask for a new token") {
		t.Errorf("version 1 message: %s", msg)
	}
}

func TestConnDescLimits(t *testing.T) {
	t.Parallel()
	tooMany := testConn(RoleActPass)
	for i := range MaxCandidates + 1 {
		tooMany.Candidates = append(tooMany.Candidates, Candidate{Type: Host, Addr: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(1000+i))})
	}
	mapped := testConn(RoleActPass)
	mapped.Candidates = []Candidate{{Type: Host, Addr: netip.MustParseAddrPort("[::ffff:10.0.0.1]:5")}}
	dup := testConn(RoleActPass, "10.0.0.1")
	dup.Candidates = append(dup.Candidates, dup.Candidates[0])
	mdns := testConn(RoleActPass)
	mdns.Candidates = []Candidate{{Type: Host, Name: MDNSName{1}, Addr: netip.AddrPortFrom(netip.Addr{}, 5)}}
	withAddr, srflx, tcp, port0 := testConn(RoleActPass), testConn(RoleActPass), testConn(RoleActPass), testConn(RoleActPass)
	withAddr.Candidates = []Candidate{{Type: Host, Name: MDNSName{1}, Addr: netip.MustParseAddrPort("10.0.0.1:5")}}
	srflx.Candidates = []Candidate{{Type: ServerReflexive, Name: MDNSName{1}, Addr: netip.AddrPortFrom(netip.Addr{}, 5)}}
	tcp.Candidates = []Candidate{{Type: Host, TCP: true, TCPType: TCPPassive, Name: MDNSName{1}, Addr: netip.AddrPortFrom(netip.Addr{}, 5)}}
	port0.Candidates = []Candidate{{Type: Host, Name: MDNSName{1}}}
	dupName := testConn(RoleActPass)
	dupName.Candidates = append(dupName.Candidates, mdns.Candidates[0], mdns.Candidates[0])
	eph := [EphemeralSize]byte{9}
	cases := map[string]ConnDesc{
		"mDNS name with an address": withAddr,
		"mDNS srflx":                srflx,
		"mDNS TCP":                  tcp,
		"mDNS port 0":               port0,
		"duplicate mDNS name":       dupName,
		"no address, no name":       func() ConnDesc { d := testConn(RoleActPass); d.Candidates = []Candidate{{Type: Host}}; return d }(),
		"other ICE credentials": func() ConnDesc {
			d := testConn(RoleActPass, "10.0.0.1")
			d.withCredentials(eph)
			d.ICEPwd = d.ICEPwd[1:] + "A"
			return d
		}(),
		"too many candidates": tooMany,
		"no candidates":       testConn(RoleActPass),
		"ipv4-mapped":         mapped,
		"duplicate":           dup,
		"ufrag chars":         func() ConnDesc { d := testConn(RoleActPass, "10.0.0.1"); d.ICEUfrag = "ab cd"; return d }(),
		"long pwd":            func() ConnDesc { d := testConn(RoleActPass, "10.0.0.1"); d.ICEPwd = strings.Repeat("a", 65); return d }(),
		"udp with tcptype": func() ConnDesc {
			d := testConn(RoleActPass, "10.0.0.1")
			d.Candidates[0].TCPType = TCPPassive
			return d
		}(),
	}
	for name, d := range cases {
		if d.ICEUfrag == "" {
			d.withCredentials(eph)
		}
		if _, err := d.appendTo(nil, eph); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := mdns.withCredentials(eph); err != nil {
		t.Fatal(err)
	}
	if _, err := mdns.appendTo(nil, eph); err != nil {
		t.Errorf("an mDNS candidate: %v", err)
	}
	// A token with the maximum number of candidates, all IPv6, still fits.
	maxed := testConn(RoleActPass)
	for i := range MaxCandidates {
		maxed.Candidates = append(maxed.Candidates, Candidate{Type: Relay, TCP: true, TCPType: TCPPassive,
			Addr: netip.AddrPortFrom(netip.MustParseAddr("2001:db8::1"), uint16(1000+i))})
	}
	o, err := NewOffer(ident(t, 1), OfferParams{Conn: maxed, Recipient: ident(t, 2).ID()})
	if err != nil {
		t.Fatalf("maximal offer: %v", err)
	}
	if len(o.Bytes()) > MaxTokenSize {
		t.Fatalf("maximal offer is %d bytes", len(o.Bytes()))
	}
	if _, err := ParseOffer(o.Text()); err != nil {
		t.Fatal(err)
	}
	t.Logf("maximal offer: %d bytes, %d characters", len(o.Bytes()), len(o.Text()))
}

func TestVerifyOffer(t *testing.T) {
	t.Parallel()
	s := newScenario(t, func(p *OfferParams) { p.Recipient = ident(t, 2).ID() })
	ok := VerifyOptions{Now: t0.Add(time.Minute), Self: s.bob.ID()}
	if err := s.offer.Verify(ok); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		v    VerifyOptions
		want error
	}{
		{"expired", VerifyOptions{Now: t0.Add(DefaultLifetime), Self: s.bob.ID()}, ErrExpired},
		{"long expired", VerifyOptions{Now: t0.Add(48 * time.Hour), Self: s.bob.ID()}, ErrExpired},
		{"future", VerifyOptions{Now: t0.Add(-DefaultClockSkew - time.Second), Self: s.bob.ID()}, ErrNotYetValid},
		{"wrong recipient", VerifyOptions{Now: t0, Self: s.mallory.ID()}, ErrWrongRecipient},
		{"no self", VerifyOptions{Now: t0}, ErrWrongRecipient},
		{"unexpected inviter", VerifyOptions{Now: t0, Self: s.bob.ID(), Expect: s.mallory.ID()}, ErrUnexpectedPeer},
	}
	for _, c := range cases {
		if err := s.offer.Verify(c.v); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// Just inside the clock skew is fine.
	if err := s.offer.Verify(VerifyOptions{Now: t0.Add(-DefaultClockSkew), Self: s.bob.ID()}); err != nil {
		t.Errorf("inside the skew: %v", err)
	}
}

// An attacker who re-signs an offer's contents with their own identity
// produces a valid token, but it is refused by anyone who expects the real
// inviter, and it shows a different fingerprint to anyone who does not.
func TestResignedOfferRefusedWhenPinned(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil)
	forged := *s.offer
	forged.Inviter = s.mallory.ID()
	body, err := forged.encodeBody()
	if err != nil {
		t.Fatal(err)
	}
	raw := append(body, s.mallory.Sign(identity.ContextOffer, body)...)
	got, err := DecodeOffer(raw)
	if err != nil {
		t.Fatalf("mallory's re-signed offer does not decode: %v", err)
	}
	if got.Inviter.Fingerprint() == s.alice.ID().Fingerprint() {
		t.Fatal("the forged offer shows alice's fingerprint")
	}
	err = got.Verify(VerifyOptions{Now: t0, Expect: s.alice.ID()})
	if !errors.Is(err, ErrUnexpectedPeer) {
		t.Fatalf("pinned verify of a re-signed offer: %v", err)
	}
	// Keeping alice's ID but mallory's signature does not verify at all.
	forged.Inviter = s.alice.ID()
	body, _ = forged.encodeBody()
	if _, err := DecodeOffer(append(body, s.mallory.Sign(identity.ContextOffer, body)...)); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("alice's ID with mallory's signature: %v", err)
	}
}

func TestPendingSingleUse(t *testing.T) {
	t.Parallel()
	now := t0.Add(time.Minute)
	s := newScenario(t, nil)
	p := &Pending{Now: func() time.Time { return now }}
	if err := p.Add(s.offer); err != nil {
		t.Fatal(err)
	}
	other, err := NewAnswer(s.mallory, s.offer, AnswerParams{Conn: testConn(RoleActive, "10.1.1.1"), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Accept(s.answer, AcceptOptions{Expect: s.mallory.ID()}); !errors.Is(err, ErrUnexpectedPeer) {
		t.Fatalf("answer from an unexpected peer: %v", err)
	}
	got, err := p.Accept(s.answer, AcceptOptions{})
	if err != nil || got != s.offer {
		t.Fatalf("first answer: %v", err)
	}
	if _, err := p.Accept(s.answer, AcceptOptions{}); !errors.Is(err, ErrReplayed) {
		t.Fatalf("replayed answer: %v", err)
	}
	if _, err := p.Accept(other, AcceptOptions{}); !errors.Is(err, ErrAlreadyUsed) {
		t.Fatalf("second answer: %v", err)
	}
	stranger := newScenario(t, func(o *OfferParams) { o.Ephemeral[0] = 99 })
	if _, err := p.Accept(stranger.answer, AcceptOptions{}); !errors.Is(err, ErrUnknownOffer) {
		t.Fatalf("answer to an unknown offer: %v", err)
	}
}

func TestPendingExpiryRecipientAndTime(t *testing.T) {
	t.Parallel()
	var now time.Time
	clock := func() time.Time { return now }
	s := newScenario(t, func(o *OfferParams) { o.Recipient = ident(t, 2).ID() })
	p := &Pending{Now: clock}
	now = t0
	if err := p.Add(s.offer); err != nil {
		t.Fatal(err)
	}
	// A third party's answer to a --to invitation is refused and does not
	// use the invitation up.
	third, _ := NewAnswer(s.mallory, s.offer, AnswerParams{Conn: testConn(RoleActive, "10.1.1.1"), Now: t0})
	now = t0.Add(time.Minute)
	if _, err := p.Accept(third, AcceptOptions{}); !errors.Is(err, ErrWrongRecipient) {
		t.Fatalf("third-party answer: %v", err)
	}
	future, _ := NewAnswer(s.bob, s.offer, AnswerParams{Conn: testConn(RoleActive, "10.1.1.1"), Now: now.Add(DefaultClockSkew + time.Second)})
	if _, err := p.Accept(future, AcceptOptions{}); !errors.Is(err, ErrNotYetValid) {
		t.Fatalf("answer from the future: %v", err)
	}
	now = t0.Add(DefaultLifetime)
	if _, err := p.Accept(s.answer, AcceptOptions{}); !errors.Is(err, ErrExpired) {
		t.Fatalf("answer after expiry: %v", err)
	}
	// Long after expiry the offer is forgotten when others are added.
	now = t0.Add(DefaultLifetime + forgetAfter + time.Second)
	s2 := newScenario(t, func(o *OfferParams) { o.Now = now })
	if err := p.Add(s2.offer); err != nil {
		t.Fatal(err)
	}
	if p.Len() != 1 {
		t.Fatalf("%d offers remembered, want 1", p.Len())
	}
}

func TestPendingBounded(t *testing.T) {
	t.Parallel()
	p := &Pending{Max: 3, Now: func() time.Time { return t0 }}
	for i := range 4 {
		s := newScenario(t, func(o *OfferParams) { o.Ephemeral[0] = byte(i) })
		err := p.Add(s.offer)
		if i < 3 && err != nil || i == 3 && !errors.Is(err, ErrTooManyPending) {
			t.Fatalf("offer %d: %v", i, err)
		}
	}
}

// The ICE credentials and the invite id are derived from the ephemeral
// key, not carried: known answers (computed independently from RFC 5869),
// the encoder refuses others, and the decoder fills them in.
func TestDerivedCredentials(t *testing.T) {
	t.Parallel()
	var counting [EphemeralSize]byte
	for i := range counting {
		counting[i] = byte(i)
	}
	for _, c := range []struct {
		eph             [EphemeralSize]byte
		ufrag, pwd, iid string
	}{
		{[32]byte(bytes.Repeat([]byte{0xe1}, 32)), "+gxeWmLn", "QKCpvAPs/q2TVgG+wnPML5", "a9528e3ad7b3bc998493a33dbe91346e"},
		{counting, "rnNox5YX", "Uiy3/vykILLmFQKvOvPb+m", "99c6babc8caf31ff8a4eca8a27cf028d"},
	} {
		ufrag, pwd := ICECredentials(c.eph)
		iid := InviteIDOf(c.eph)
		if ufrag != c.ufrag || pwd != c.pwd || hex.EncodeToString(iid[:]) != c.iid {
			t.Errorf("ephemeral %x: %q %q %x, want %q %q %s", c.eph[:4], ufrag, pwd, iid, c.ufrag, c.pwd, c.iid)
		}
	}
	s := newScenario(t, nil)
	ufrag, pwd := ICECredentials(s.offer.Ephemeral)
	if len(ufrag) != ICEUfragLen || len(pwd) != ICEPwdLen || !isICEChars(ufrag+pwd) {
		t.Fatalf("credentials %q %q", ufrag, pwd)
	}
	got, err := DecodeOffer(s.offer.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if got.Conn.ICEUfrag != ufrag || got.Conn.ICEPwd != pwd || got.InviteID != InviteIDOf(s.offer.Ephemeral) {
		t.Fatal("the decoder did not derive the offer's credentials and invite id")
	}
	a, err := DecodeAnswer(s.answer.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if au, ap := ICECredentials(s.answer.Ephemeral); a.Conn.ICEUfrag != au || a.Conn.ICEPwd != ap || au == ufrag {
		t.Fatal("the answer's credentials are not derived from the answerer's key")
	}
	// Credentials of the right form that are not the derived ones.
	conn := testConn(RoleActPass, "10.0.0.1")
	conn.ICEUfrag, conn.ICEPwd = "AbCdEfGh", "0123456789abcdefghijKL"
	if _, err := NewOffer(s.alice, OfferParams{Conn: conn}); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "derived from the ephemeral key") {
		t.Errorf("offer with other credentials: %v", err)
	}
	conn.Role = RoleActive
	if _, err := NewAnswer(s.bob, s.offer, AnswerParams{Conn: conn}); !errors.Is(err, ErrMalformed) {
		t.Errorf("answer with other credentials: %v", err)
	}
	conn.ICEUfrag, conn.ICEPwd = ICECredentials([EphemeralSize]byte{7})
	if _, err := NewAnswer(s.bob, s.offer, AnswerParams{Ephemeral: [EphemeralSize]byte{7}, Conn: conn}); err != nil {
		t.Errorf("answer with the derived credentials: %v", err)
	}
}

// The purpose is signed, decoded, and checked by CheckPurpose.
func TestPurpose(t *testing.T) {
	t.Parallel()
	for _, p := range []Purpose{PurposeChat, PurposeStream, PurposeFiles} {
		s := newScenario(t, func(o *OfferParams) { o.Purpose = p })
		got, err := ParseOffer(s.offer.Text())
		if err != nil || got.Purpose != p {
			t.Fatalf("purpose %v: %v, %v", p, got.Purpose, err)
		}
		for _, want := range []Purpose{PurposeChat, PurposeStream, PurposeFiles} {
			err := got.CheckPurpose(want)
			if (want == p) != (err == nil) || err != nil && !errors.Is(err, ErrWrongPurpose) {
				t.Errorf("purpose %v, want %v: %v", p, want, err)
			}
		}
	}
	if _, err := NewOffer(ident(t, 1), OfferParams{Conn: testConn(RoleActPass, "10.0.0.1"), Purpose: 3}); !errors.Is(err, ErrMalformed) {
		t.Errorf("purpose 3: %v", err)
	}
	if PurposeFiles.String() != "files" || Purpose(9).String() != "Purpose(9)" {
		t.Error("Purpose.String")
	}
}

// mDNS names: exactly the canonical lower-case UUID form, round trip.
func TestMDNSName(t *testing.T) {
	t.Parallel()
	const name = "5ca05cb1-9f5f-4912-8329-24f191793d5a.local"
	n, ok := ParseMDNSName(name)
	if !ok || n.String() != name || n[0] != 0x5c || n[15] != 0x5a {
		t.Fatalf("%q: %v %x", name, ok, n)
	}
	for _, bad := range []string{
		"5CA05CB1-9F5F-4912-8329-24F191793D5A.local", "5ca05cb1-9f5f-4912-8329-24f191793d5a.LOCAL",
		"5ca05cb19f5f4912832924f191793d5a.local", "5ca05cb1-9f5f-4912-8329-24f191793d5a", "{5ca05cb1-9f5f-4912-8329-24f191793d5a}.local",
		"5ca05cb1-9f5f-4912-8329-24f191793d5g.local", "5ca05cb1-9f5f-4912-8329_24f191793d5a.local", "myhost.local",
		"00000000-0000-0000-0000-000000000000.local", "5ca05cb1-9f5f-4912-8329-24f191793d5a.local.", "",
	} {
		if _, ok := ParseMDNSName(bad); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}

// Creation times are 4 bytes of Unix seconds: 0 and 2^32-1 are encoded
// and decoded; before 1970 and from 2^32 on, no token can be made.
func TestBoundariesCreated(t *testing.T) {
	t.Parallel()
	for _, sec := range []int64{0, MaxCreated} {
		o, err := NewOffer(ident(t, 1), OfferParams{Conn: testConn(RoleActPass, "10.0.0.1"), Now: time.Unix(sec, 0)})
		if err != nil {
			t.Fatalf("created %d: %v", sec, err)
		}
		got, err := DecodeOffer(o.Bytes())
		if err != nil || got.Created.Unix() != sec {
			t.Fatalf("created %d: %v %v", sec, got, err)
		}
		a, err := NewAnswer(ident(t, 2), o, AnswerParams{Conn: testConn(RoleActive, "10.0.0.2"), Now: time.Unix(sec, 0)})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := DecodeAnswer(a.Bytes()); err != nil || got.Created.Unix() != sec {
			t.Fatalf("answer created %d: %v", sec, err)
		}
	}
	for _, sec := range []int64{-1, MaxCreated + 1, 1 << 40} {
		if _, err := NewOffer(ident(t, 1), OfferParams{Conn: testConn(RoleActPass, "10.0.0.1"), Now: time.Unix(sec, 0)}); !errors.Is(err, ErrLimit) {
			t.Errorf("offer created %d: %v", sec, err)
		}
		s := newScenario(t, nil)
		if _, err := NewAnswer(ident(t, 2), s.offer, AnswerParams{Conn: testConn(RoleActive, "10.0.0.2"), Now: time.Unix(sec, 0)}); !errors.Is(err, ErrLimit) {
			t.Errorf("answer created %d: %v", sec, err)
		}
	}
}
