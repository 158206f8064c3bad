//go:build !js

package session

// Tests of the anchor's TURN allocations (anchor_turn.go) with the
// repository's own relay on loopback.

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"

	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/link"
	"github.com/sp2p/sp2p/relay"
)

// startTURN starts a relay on loopback that relays between loopback
// addresses, with user "u" (password "p").
func startTURN(t testing.TB) *relay.Server {
	t.Helper()
	srv, err := relay.Start(relay.Config{
		Listen: "127.0.0.1:0", RelayIP: net.IPv4(127, 0, 0, 1),
		Users:      map[string]string{"u": "p"},
		AllowPeers: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Logger:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func relayOnlyOpts(turnURL string) Options {
	o := loopback()
	o.RelayOnly = true
	o.ICEServers = []ICEServer{{URLs: []string{turnURL}, Username: "u", Credential: "p"}}
	return o
}

// relayCandidate returns d's only candidate, which must be a relay one.
func relayCandidate(t testing.TB, d *invite.ConnDesc) netip.AddrPort {
	t.Helper()
	if len(d.Candidates) != 1 || d.Candidates[0].Type != invite.Relay || d.Candidates[0].TCP {
		t.Fatalf("a relay-only anchored link offers %v, not exactly one UDP relay candidate", d.Candidates)
	}
	return d.Candidates[0].Addr
}

// connectPair connects a link of aa (offerer) with one of ab and
// returns A's offer and where A's channel's path runs from.
func connectPair(t testing.TB, ctx context.Context, opts Options, aa, ab *link.Anchor) (*invite.ConnDesc, *invite.ConnDesc, netip.AddrPort) {
	t.Helper()
	a := newLink(t, opts, link.Config{Anchor: aa})
	b := newLink(t, opts, link.Config{Anchor: ab})
	offer, err := a.Offer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	answer, err := b.Answer(ctx, offer)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Apply(answer); err != nil {
		t.Fatal(err)
	}
	ca, cb := openBoth(t, ctx, a, b)
	roundTrip(t, ca, cb)
	p, ok := ca.(link.PathReporter).PathStats()
	if !ok {
		t.Fatal("no path")
	}
	a.Close()
	b.Close()
	return offer, answer, p.Local
}

// Two relay-only links of one anchor offer the same relay candidate (one
// allocation, not one per link), a pair connects through it, and a second
// pair on the same anchors after the first closed connects through the
// same allocations: the server holds one allocation per anchor all along.
func TestAnchorKeepsTURNAllocation(t *testing.T) {
	t.Parallel()
	srv := startTURN(t)
	opts := relayOnlyOpts(srv.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var aa, ab link.Anchor
	defer aa.Close()
	defer ab.Close()

	var first netip.AddrPort
	for i := range 2 {
		l := newLink(t, opts, link.Config{Anchor: &aa})
		d, err := l.Offer(ctx)
		if err != nil {
			t.Fatal(err)
		}
		c := relayCandidate(t, d)
		if i == 0 {
			first = c
		} else if c != first {
			t.Fatalf("the second link of the anchor offers %v, the first %v", c, first)
		}
		l.Close()
	}
	if n := srv.Allocations()["u"]; n != 1 {
		t.Fatalf("the server holds %d allocations after two links of one anchor", n)
	}

	for round := range 2 {
		offer, answer, local := connectPair(t, ctx, opts, &aa, &ab)
		if a := relayCandidate(t, offer); a != first {
			t.Fatalf("round %d: A offers %v, not the anchor's %v", round, a, first)
		}
		relayCandidate(t, answer)
		if local != first {
			t.Fatalf("round %d: A's path runs from %v, not from its relayed address %v", round, local, first)
		}
		if n := srv.Allocations()["u"]; n != 2 {
			t.Fatalf("round %d: the server holds %d allocations for two anchors", round, n)
		}
	}
	st, err := pionAnchor(&opts, &aa)
	if err != nil {
		t.Fatal(err)
	}
	if n := st.relays.made.Load(); n != 1 {
		t.Fatalf("anchor A made %d allocations", n)
	}
}

// When A's allocation fails (its socket is gone, as when the host's
// address changes under it), A's next link gets a new one, and the
// resumed pair connects from A's new relayed address to B's relayed
// address where it was, B's allocation kept.
func TestAnchorTURNAllocationReplaced(t *testing.T) {
	t.Parallel()
	srv := startTURN(t)
	opts := relayOnlyOpts(srv.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	var aa, ab link.Anchor
	defer aa.Close()
	defer ab.Close()
	offer, answer, seenByA, seenByB := firstLinks(t, ctx, opts, opts, &aa, &ab)
	oldA, oldB := relayCandidate(t, offer), relayCandidate(t, answer)

	sa, err := pionAnchor(&opts, &aa)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := pionAnchor(&opts, &ab)
	if err != nil {
		t.Fatal(err)
	}
	cur := sa.relays.current()
	if len(cur) != 1 {
		t.Fatalf("anchor A has %d allocations", len(cur))
	}
	cur[0].sock.Close()

	ca, cb := resume(t, ctx, opts, opts, &aa, &ab, offer, answer, seenByA, seenByB, 0)
	roundTrip(t, ca, cb)
	pa, _ := ca.(link.PathReporter).PathStats()
	pb, _ := cb.(link.PathReporter).PathStats()
	if pa.Local == oldA || !pa.Local.IsValid() {
		t.Fatalf("A's new path runs from %v (its old relayed address %v)", pa.Local, oldA)
	}
	if pb.Local != oldB || pa.Remote != oldB {
		t.Fatalf("B's relayed address moved: path A %v, B %v; B's old relayed address %v", pa, pb, oldB)
	}
	if a, b := sa.relays.made.Load(), sb.relays.made.Load(); a != 2 || b != 1 {
		t.Fatalf("allocations made: A %d, B %d", a, b)
	}
}

// A TURN server that never answers does not hold up a relay-only
// anchored link past the allocation's bound: the offer fails with "no
// usable candidates" before the caller's deadline.
func TestAnchorTURNServerSilent(t *testing.T) {
	t.Parallel()
	silent, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	opts := relayOnlyOpts("turn:" + silent.LocalAddr().String() + "?transport=udp")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var a link.Anchor
	defer a.Close()
	_, err = newLink(t, opts, link.Config{Anchor: &a}).Offer(ctx)
	if err == nil || errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		t.Fatalf("offer with a silent TURN server: %v (context: %v)", err, ctx.Err())
	}
}

func TestWithoutUDPTURN(t *testing.T) {
	t.Parallel()
	in := []ICEServer{
		{URLs: []string{"turn:198.51.100.1:3478?transport=udp", "turn:198.51.100.1:3478", "turn:198.51.100.1:3478?transport=tcp", "stun:198.51.100.1"}, Username: "u"},
		{URLs: []string{"turn:198.51.100.2"}},
	}
	out := withoutUDPTURN(in)
	if len(out) != 1 || len(out[0].URLs) != 2 || out[0].URLs[0] != "turn:198.51.100.1:3478?transport=tcp" || out[0].URLs[1] != "stun:198.51.100.1" || out[0].Username != "u" {
		t.Fatalf("withoutUDPTURN: %+v", out)
	}
	if got := turnServersOf(in); len(got) != 2 || got[0].host != "198.51.100.1" || got[0].port != 3478 || got[1].port != 3478 {
		t.Fatalf("turnServersOf: %+v", got)
	}
	if len(in[0].URLs) != 4 {
		t.Fatal("withoutUDPTURN changed its input")
	}
}

// A connectivity check relayed to the anchor's relayed address for a
// fragment no link has calls the anchor's knock (as one to its sockets
// does): the side that did not move makes its new link when the moved
// side's first check arrives through the relay.
func TestAnchorTURNKnock(t *testing.T) {
	t.Parallel()
	srv := startTURN(t)
	opts := relayOnlyOpts(srv.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var aa, ab link.Anchor
	defer aa.Close()
	defer ab.Close()
	// The first pair makes A's permission for the relay's address.
	offer, _, _ := connectPair(t, ctx, opts, &aa, &ab)
	relayedA := relayCandidate(t, offer)

	// The moved side: a new allocation of its own on the same server.
	sock, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	server := strings.TrimSuffix(strings.TrimPrefix(srv.URL(), "turn:"), "?transport=udp")
	client, err := turn.NewClient(&turn.ClientConfig{TURNServerAddr: server, Username: "u", Password: "p", Conn: sock})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := client.Listen(); err != nil {
		t.Fatal(err)
	}
	moved, err := client.AllocateWithContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer moved.Close()
	send := func(user string) {
		t.Helper()
		m, err := stun.Build(stun.BindingRequest, stun.TransactionID, stun.NewUsername(user), stun.NewShortTermIntegrity("pwd"), stun.Fingerprint)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := moved.WriteTo(m.Raw, net.UDPAddrFromAddrPort(relayedA)); err != nil {
			t.Fatal(err)
		}
	}
	var calls atomic.Int32
	aa.SetKnock("knockR1", func() { calls.Add(1) })
	send("knockR2:peer")
	time.Sleep(300 * time.Millisecond)
	if calls.Load() != 0 {
		t.Fatal("a check for another fragment knocked")
	}
	for deadline := time.Now().Add(5 * time.Second); calls.Load() == 0 && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		send("knockR1:peer") // (the first may race the permission)
	}
	if calls.Load() != 1 {
		t.Fatalf("knock function called %d times through the relay", calls.Load())
	}
}

// The candidates pion gathered at the anchor's relayed addresses become
// relay candidates after the others; a TCP candidate or one at another
// address stays as it was.
func TestRelabelRelayed(t *testing.T) {
	t.Parallel()
	relayed := netip.MustParseAddrPort("198.51.100.7:50000")
	host := netip.MustParseAddrPort("192.0.2.1:4000")
	d := &invite.ConnDesc{Candidates: []invite.Candidate{
		{Type: invite.Host, Addr: relayed},
		{Type: invite.Host, Addr: host},
		{Type: invite.Host, TCP: true, TCPType: invite.TCPPassive, Addr: relayed},
		{Type: invite.Relay, Addr: netip.MustParseAddrPort("198.51.100.8:3000")},
	}}
	relabelRelayed(d, func(a netip.AddrPort) bool { return a == relayed })
	want := []invite.Candidate{
		{Type: invite.Host, Addr: host},
		{Type: invite.Host, TCP: true, TCPType: invite.TCPPassive, Addr: relayed},
		{Type: invite.Relay, Addr: netip.MustParseAddrPort("198.51.100.8:3000")},
		{Type: invite.Relay, Addr: relayed},
	}
	if len(d.Candidates) != len(want) {
		t.Fatalf("relabelled: %v", d.Candidates)
	}
	for i := range want {
		if d.Candidates[i] != want[i] {
			t.Fatalf("relabelled: %v, want %v", d.Candidates, want)
		}
	}
}
