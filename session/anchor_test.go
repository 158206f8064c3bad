//go:build !js

package session

// Tests of the pion link's anchor (link.Config.Anchor): what lets a
// session move to a new link and be found where it was.

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/link"
	"github.com/sp2p/sp2p/relay"
)

// Two fixed sets of ICE credentials for the second links (a session
// derives them from its resume secret).
const (
	resumeUfragA, resumePwdA = "hanchorA", "hanchorResumePasswordA"
	resumeUfragB, resumePwdB = "hanchorB", "hanchorResumePasswordB"
)

func newLink(t testing.TB, opts Options, cfg link.Config) link.Link {
	t.Helper()
	l, err := pionLink(&opts)(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func hostPorts(d *invite.ConnDesc) []int {
	var p []int
	for _, c := range d.Candidates {
		if c.Type == invite.Host {
			p = append(p, int(c.Addr.Port()))
		}
	}
	slices.Sort(p)
	return slices.Compact(p)
}

// Two successive links of one anchor have the same fingerprint and the
// same host candidate ports (the anchor's sockets); two links without an
// anchor have neither in common.
func TestAnchorKeepsFingerprintAndPort(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	offer := func(cfg link.Config) *invite.ConnDesc {
		l := newLink(t, loopback(), cfg)
		d, err := l.Offer(ctx)
		if err != nil {
			t.Fatal(err)
		}
		l.Close()
		return d
	}
	var a link.Anchor
	defer a.Close()
	d1, d2 := offer(link.Config{Anchor: &a}), offer(link.Config{Anchor: &a})
	if d1.Fingerprint != d2.Fingerprint {
		t.Error("two links of one anchor have different certificates")
	}
	p1, p2 := hostPorts(d1), hostPorts(d2)
	if len(p1) == 0 || !slices.Equal(p1, p2) {
		t.Errorf("host candidate ports %v, then %v", p1, p2)
	}
	st, err := pionAnchor(&Options{}, &a)
	if err != nil {
		t.Fatal(err)
	}
	if want := st.mux.ports(); !slices.Equal(p1, want) {
		t.Errorf("host candidate ports %v, the anchor's sockets are at %v", p1, want)
	}
	for _, c := range d1.Candidates {
		if !c.Addr.Addr().IsLoopback() {
			t.Errorf("candidate %v of a loopback-only link", c)
		}
	}

	n1, n2 := offer(link.Config{}), offer(link.Config{})
	if n1.Fingerprint == n2.Fingerprint {
		t.Error("two links without an anchor have the same certificate")
	}
	if q1, q2 := hostPorts(n1), hostPorts(n2); slices.Equal(q1, q2) || slices.Equal(q1, p1) {
		t.Errorf("links without an anchor at ports %v and %v (anchor's: %v)", q1, q2, p1)
	}

	a.Close()
	if _, err := pionLink(&Options{})(link.Config{Anchor: &a}); err == nil {
		t.Error("a link made with a closed anchor")
	}
}

// predict is what a resuming side builds of its peer's next description
// from what it knew: the peer's original description (fingerprint, role,
// candidates) with the new credentials, and the address where it last
// reached the peer.
func predict(orig *invite.ConnDesc, ufrag, pwd string, seen ...netip.AddrPort) *invite.ConnDesc {
	d := *orig
	d.ICEUfrag, d.ICEPwd = ufrag, pwd
	d.Candidates = slices.Clone(orig.Candidates)
	for _, a := range seen {
		if a.IsValid() && !slices.ContainsFunc(d.Candidates, func(c invite.Candidate) bool { return c.Addr == a }) {
			d.Candidates = append(d.Candidates, invite.Candidate{Type: invite.PeerReflexive, Addr: a})
		}
	}
	return &d
}

// roundTrip sends one message each way.
func roundTrip(t testing.TB, a, b link.Channel) {
	t.Helper()
	buf := make([]byte, 64)
	for _, c := range [][2]link.Channel{{a, b}, {b, a}} {
		if err := c[0].WriteMessage([]byte("over the new link")); err != nil {
			t.Fatal(err)
		}
		n, err := c[1].ReadMessage(buf)
		if err != nil || string(buf[:n]) != "over the new link" {
			t.Fatalf("read %q, %v", buf[:n], err)
		}
	}
}

// firstLinks connects A1 (offerer) and B1 (answerer) on their anchors
// through an ordinary offer and answer, and returns both descriptions and
// where each side reached the other.
func firstLinks(t testing.TB, ctx context.Context, oa, ob Options, aa, ab *link.Anchor) (offer, answer *invite.ConnDesc, seenByA, seenByB netip.AddrPort) {
	t.Helper()
	a1 := newLink(t, oa, link.Config{Anchor: aa})
	b1 := newLink(t, ob, link.Config{Anchor: ab})
	offer, err := a1.Offer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if answer, err = b1.Answer(ctx, offer); err != nil {
		t.Fatal(err)
	}
	if err := a1.Apply(answer); err != nil {
		t.Fatal(err)
	}
	ca, cb := openBoth(t, ctx, a1, b1)
	roundTrip(t, ca, cb)
	pa, okA := ca.(link.PathReporter).PathStats()
	pb, okB := cb.(link.PathReporter).PathStats()
	if !okA || !okB || !pa.Remote.IsValid() || !pa.Local.IsValid() || pa.Remote != pb.Local || pb.Remote != pa.Local {
		t.Fatalf("path addresses: A %v (%v), B %v (%v)", pa, okA, pb, okB)
	}
	a1.Close()
	b1.Close()
	return offer, answer, pa.Remote, pb.Remote
}

func openBoth(t testing.TB, ctx context.Context, a, b link.Link) (link.Channel, link.Channel) {
	t.Helper()
	type res struct {
		c   link.Channel
		err error
	}
	ra, rb := make(chan res, 1), make(chan res, 1)
	go func() { c, err := a.Open(ctx); ra <- res{c, err} }()
	go func() { c, err := b.Open(ctx); rb <- res{c, err} }()
	x, y := <-ra, <-rb
	if x.err != nil || y.err != nil {
		t.Fatalf("open: A %v, B %v", x.err, y.err)
	}
	return x.c, y.c
}

// resume makes A2 and B2 on the anchors with new credentials, each
// applying the description it predicts of the other, A's part done
// aFirst before B's (negative: after), and returns their channels once
// open.
func resume(t testing.TB, ctx context.Context, oa, ob Options, aa, ab *link.Anchor, offer, answer *invite.ConnDesc, seenByA, seenByB netip.AddrPort, aFirst time.Duration) (link.Channel, link.Channel) {
	t.Helper()
	a2 := newLink(t, oa, link.Config{Anchor: aa, ICEUfrag: resumeUfragA, ICEPwd: resumePwdA})
	b2 := newLink(t, ob, link.Config{Anchor: ab, ICEUfrag: resumeUfragB, ICEPwd: resumePwdB})
	errs := make(chan error, 2)
	wait := func(d time.Duration) {
		if d > 0 {
			time.Sleep(d)
		}
	}
	go func() {
		wait(-aFirst)
		if _, err := a2.Offer(ctx); err != nil {
			errs <- err
			return
		}
		errs <- a2.Apply(predict(answer, resumeUfragB, resumePwdB, seenByA))
	}()
	go func() {
		wait(aFirst)
		_, err := b2.Answer(ctx, predict(offer, resumeUfragA, resumePwdA, seenByB))
		errs <- err
	}()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	return openBoth(t, ctx, a2, b2)
}

// A1 and B1 connect, close; A2 and B2, made on the same anchors with new
// credentials, each apply the description they predict of the other (no
// signalling between them): they connect, also when one side does its part
// two seconds before the other.
func TestAnchoredLinkFoundWherePredicted(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		aFirst time.Duration
	}{{"together", 0}, {"A first", 2 * time.Second}, {"B first", -2 * time.Second}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var aa, ab link.Anchor
			defer aa.Close()
			defer ab.Close()
			offer, answer, seenByA, seenByB := firstLinks(t, ctx, loopback(), loopback(), &aa, &ab)
			start := time.Now()
			ca, cb := resume(t, ctx, loopback(), loopback(), &aa, &ab, offer, answer, seenByA, seenByB, c.aFirst)
			roundTrip(t, ca, cb)
			t.Logf("second links open %v after they were made", time.Since(start).Round(time.Millisecond))
		})
	}
}

// Without the anchor's certificate, the same prediction fails: the
// fingerprint the peer expects is the first link's.
func TestUnanchoredLinkNotFoundWherePredicted(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var aa, ab, other link.Anchor
	defer aa.Close()
	defer ab.Close()
	defer other.Close()
	offer, answer, seenByA, seenByB := firstLinks(t, ctx, loopback(), loopback(), &aa, &ab)
	a2 := newLink(t, loopback(), link.Config{Anchor: &aa, ICEUfrag: resumeUfragA, ICEPwd: resumePwdA, ConnectTimeout: 5 * time.Second})
	// B's next link on a fresh anchor: another certificate and sockets.
	b2 := newLink(t, loopback(), link.Config{Anchor: &other, ICEUfrag: resumeUfragB, ICEPwd: resumePwdB, ConnectTimeout: 5 * time.Second})
	if _, err := a2.Offer(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a2.Apply(predict(answer, resumeUfragB, resumePwdB, seenByA)); err != nil {
		t.Fatal(err)
	}
	if _, err := b2.Answer(ctx, predict(offer, resumeUfragA, resumePwdA, seenByB)); err != nil {
		t.Fatal(err)
	}
	octx, ocancel := context.WithTimeout(ctx, 10*time.Second)
	defer ocancel()
	c, err := a2.Open(octx)
	if err == nil {
		c.Close()
		t.Fatal("A's next link opened to a peer with another certificate than the predicted one")
	}
	if !errors.Is(err, link.ErrCertificateMismatch) {
		t.Fatalf("A's next link failed with %v, not the certificate mismatch", err)
	}
}

// The knock: a connectivity check for the fragment set with SetKnock
// calls its function once; checks for other fragments, a fragment that
// only begins with it, other STUN messages and data do not.
func TestAnchorKnock(t *testing.T) {
	t.Parallel()
	var a link.Anchor
	defer a.Close()
	opts := loopback()
	st, err := pionAnchor(&opts, &a)
	if err != nil {
		t.Fatal(err)
	}
	to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: st.mux.ports()[0]}
	c, err := net.DialUDP("udp4", nil, to)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	send := func(p []byte) {
		t.Helper()
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	check := func(typ stun.MessageType, user string) []byte {
		m, err := stun.Build(typ, stun.TransactionID, stun.NewUsername(user), stun.NewShortTermIntegrity("pwd"), stun.Fingerprint)
		if err != nil {
			t.Fatal(err)
		}
		return m.Raw
	}
	var calls, other atomic.Int32
	a.SetKnock("knockA1", func() { calls.Add(1) })
	waitCalls := func(want int32) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); calls.Load() < want && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		}
		time.Sleep(200 * time.Millisecond) // any extra call would come now
		if got := calls.Load(); got != want {
			t.Fatalf("knock function called %d times, want %d", got, want)
		}
	}
	send(check(stun.BindingRequest, "other:knockA1"))
	send(check(stun.BindingRequest, "knockA1x:peer"))
	send(check(stun.BindingRequest, "knockA"))
	send(check(stun.BindingSuccess, "knockA1:peer"))
	send([]byte("knockA1:peer, not STUN"))
	send(append([]byte{0x17, 0xfe, 0xfd}, make([]byte, 40)...)) // DTLS-like
	waitCalls(0)
	send(check(stun.BindingRequest, "knockA1:peer"))
	waitCalls(1)
	send(check(stun.BindingRequest, "knockA1:peer"))
	send(check(stun.BindingRequest, "knockA1:another"))
	waitCalls(1)
	a.SetKnock("knockA2", func() { other.Add(1) })
	send(check(stun.BindingRequest, "knockA1:peer"))
	send(check(stun.BindingRequest, "knockA2:peer"))
	for deadline := time.Now().Add(5 * time.Second); other.Load() < 1 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
	}
	if other.Load() != 1 || calls.Load() != 1 {
		t.Fatalf("after a second SetKnock: %d calls of the new function, %d of the old", other.Load(), calls.Load())
	}
	a.SetKnock("", nil)
	send(check(stun.BindingRequest, "knockA2:peer"))
	time.Sleep(200 * time.Millisecond)
	if other.Load() != 1 {
		t.Fatal("knock function called after SetKnock(\"\", nil)")
	}

	// While a link of the anchor has the fragment, checks for it are
	// that link's, not a knock; once it is closed, they knock.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l := newLink(t, opts, link.Config{Anchor: &a, ICEUfrag: "knockL1", ICEPwd: resumePwdA})
	if _, err := l.Offer(ctx); err != nil {
		t.Fatal(err)
	}
	var third atomic.Int32
	a.SetKnock("knockL1", func() { third.Add(1) })
	send(check(stun.BindingRequest, "knockL1:peer"))
	time.Sleep(200 * time.Millisecond)
	if third.Load() != 0 {
		t.Fatal("a check for an existing link's fragment knocked")
	}
	l.Close()
	send(check(stun.BindingRequest, "knockL1:peer"))
	for deadline := time.Now().Add(5 * time.Second); third.Load() < 1 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
	}
	if third.Load() != 1 {
		t.Fatalf("after the link closed: %d knocks", third.Load())
	}
}

// An anchored link gathers its host candidates on the anchor's socket,
// its relay candidates as any link does (pion's allocation of its own,
// unless it is relay-only), and no server-reflexive candidate of a socket
// of its own: on loopback the anchor's mapping is its host candidate
// (anchor_stun_test.go has one behind a NAT), so there is none. Two
// relay-only anchored links connect through the relay alone (through the
// anchors' allocations, anchor_turn_test.go).
func TestAnchoredLinkGathersSrflxAndRelay(t *testing.T) {
	t.Parallel()
	srv, err := relay.Start(relay.Config{
		Listen: "127.0.0.1:0", RelayIP: net.IPv4(127, 0, 0, 1),
		Users:      map[string]string{"u": "p"},
		AllowPeers: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Logger:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	stunURL := "stun:" + strings.TrimPrefix(strings.SplitN(srv.URL(), "?", 2)[0], "turn:")
	opts := loopback()
	opts.ICEServers = []ICEServer{{URLs: []string{stunURL}}, {URLs: []string{srv.URL()}, Username: "u", Credential: "p"}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var aa, ab link.Anchor
	defer aa.Close()
	defer ab.Close()
	st, err := pionAnchor(&opts, &aa)
	if err != nil {
		t.Fatal(err)
	}
	d, err := newLink(t, opts, link.Config{Anchor: &aa}).Offer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	types := map[invite.CandidateType]int{}
	for _, c := range d.Candidates {
		types[c.Type]++
		if c.Type == invite.Host && int(c.Addr.Port()) != st.mux.ports()[0] {
			t.Errorf("host candidate %v not on the anchor's socket (port %d)", c, st.mux.ports()[0])
		}
	}
	if types[invite.Host] == 0 || types[invite.ServerReflexive] != 0 || types[invite.Relay] == 0 {
		t.Fatalf("candidates %v", d.Candidates)
	}

	relayOnly := opts
	relayOnly.RelayOnly = true
	a1 := newLink(t, relayOnly, link.Config{Anchor: &aa})
	b1 := newLink(t, relayOnly, link.Config{Anchor: &ab})
	offer, err := a1.Offer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range offer.Candidates {
		if c.Type != invite.Relay {
			t.Fatalf("relay-only anchored link offers %v", c)
		}
	}
	answer, err := b1.Answer(ctx, offer)
	if err != nil {
		t.Fatal(err)
	}
	if err := a1.Apply(answer); err != nil {
		t.Fatal(err)
	}
	ca, cb := openBoth(t, ctx, a1, b1)
	roundTrip(t, ca, cb)
	if p, _ := ca.(link.PathReporter).PathStats(); p.Local.Addr() != netip.MustParseAddr("127.0.0.1") || p.Local.Port() == 0 {
		t.Errorf("relay path %v", p)
	}
}
