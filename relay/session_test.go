//go:build !js

package relay

// Sessions through the relay: real pion sessions (package session) whose
// only path is this relay, a hostile one among them.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/session"
)

func startSessionRelay(t *testing.T, wrap func(net.PacketConn) net.PacketConn) *Server {
	t.Helper()
	srv, err := Start(Config{
		Listen: "127.0.0.1:0", RelayIP: net.IPv4(127, 0, 0, 1), MinPort: 40000, MaxPort: 49000,
		Users: map[string]string{"sp2p": "relay-secret"}, wrap: wrap,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func relayOptions(srv *Server) session.Options {
	return session.Options{LoopbackOnly: true, UDP4Only: true, RelayOnly: true,
		ICEServers: []session.ICEServer{{URLs: []string{srv.URL()}, Username: "sp2p", Credential: "relay-secret"}}}
}

type sessionPair struct{ offerer, answerer *session.Session }

// connectThrough connects two new identities with these options, in
// process, handing the tokens to observe.
func connectThrough(t *testing.T, o, a session.Options, observe func(*invite.Offer, *invite.Answer)) *sessionPair {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	alice, _ := identity.Generate()
	bob, _ := identity.Generate()
	x, y, err := session.ConnectInProcess(ctx, alice, bob, o, a, observe)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close(); y.Close() })
	return &sessionPair{x, y}
}

// Through sp2p's own TURN relay with --relay-only: the tokens carry only
// relay candidates, and the session works.
func TestRelayOnly(t *testing.T) {
	srv := startSessionRelay(t, nil)
	var offerCands, answerCands []invite.Candidate
	o, a := relayOptions(srv), relayOptions(srv)
	p := connectThrough(t, o, a, func(off *invite.Offer, ans *invite.Answer) {
		offerCands, answerCands = off.Conn.Candidates, ans.Conn.Candidates
	})
	for _, c := range append(offerCands, answerCands...) {
		if c.Type != invite.Relay {
			t.Fatalf("a token carries a %v candidate with --relay-only: %v", c.Type, c)
		}
	}
	if len(offerCands) == 0 || len(answerCands) == 0 {
		t.Fatal("no relay candidates")
	}
	ctx := context.Background()
	if err := p.offerer.Send(ctx, []byte("via the relay")); err != nil {
		t.Fatal(err)
	}
	if m, err := p.answerer.Receive(ctx); err != nil || string(m) != "via the relay" {
		t.Fatalf("%q %v", m, err)
	}
	if n := srv.Allocations()["sp2p"]; n < 2 {
		t.Fatalf("%d allocations on the relay", n)
	}
}

// hostileConn is a relayed connection that drops, duplicates and corrupts
// a share of the packets it relays.
type hostileConn struct {
	net.PacketConn
	n                       atomic.Int64
	dropped, duped, mangled atomic.Int64
}

func (h *hostileConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	switch n := h.n.Add(1); {
	case n < 100: // let the handshake through
	case n%37 == 0:
		h.dropped.Add(1)
		return len(p), nil
	case n%41 == 0:
		h.duped.Add(1)
		h.PacketConn.WriteTo(p, addr)
	case n%43 == 0:
		h.mangled.Add(1)
		q := append([]byte(nil), p...)
		q[len(q)/2] ^= 0x5a
		return h.PacketConn.WriteTo(q, addr)
	}
	return h.PacketConn.WriteTo(p, addr)
}

// A relay that drops, duplicates and corrupts relayed packets cannot get
// altered data through: the stream arrives exactly, or the session fails.
func TestHostileRelay(t *testing.T) {
	var conns []*hostileConn
	srv := startSessionRelay(t, func(c net.PacketConn) net.PacketConn {
		h := &hostileConn{PacketConn: c}
		conns = append(conns, h)
		return h
	})
	p := connectThrough(t, relayOptions(srv), relayOptions(srv), func(*invite.Offer, *invite.Answer) {})
	const size = 4 << 20
	data := make([]byte, size)
	rand.Read(data)
	want := sha256.Sum256(data)
	w, r := p.offerer.Conn(), p.answerer.Conn()
	go func() {
		w.Write(data)
		w.CloseWrite()
	}()
	h := sha256.New()
	n, err := io.Copy(h, r)
	var dropped, duped, mangled int64
	for _, c := range conns {
		dropped, duped, mangled = dropped+c.dropped.Load(), duped+c.duped.Load(), mangled+c.mangled.Load()
	}
	t.Logf("relay dropped %d, duplicated %d, corrupted %d packets; %d bytes arrived (%v)", dropped, duped, mangled, n, err)
	if dropped+duped+mangled == 0 {
		t.Fatal("the hostile relay did nothing")
	}
	if err == nil {
		if n != size || [32]byte(h.Sum(nil)) != want {
			t.Fatal("altered data was delivered")
		}
	}
}

// TURN over TCP, for a peer whose firewall blocks UDP: the offerer reaches
// the relay only by TCP (it is given no other server and no other
// candidates), the answerer by UDP, and the session works.
func TestRelayOverTCP(t *testing.T) {
	srv := startSessionRelay(t, nil)
	o, a := relayOptions(srv), relayOptions(srv)
	o.ICEServers = []session.ICEServer{{URLs: []string{srv.TCPURL()}, Username: "sp2p", Credential: "relay-secret"}}
	var offerCands []invite.Candidate
	p := connectThrough(t, o, a, func(off *invite.Offer, _ *invite.Answer) { offerCands = off.Conn.Candidates })
	if len(offerCands) == 0 {
		t.Fatal("the offer carries no candidates")
	}
	for _, c := range offerCands {
		if c.Type != invite.Relay {
			t.Fatalf("the offer carries a %v candidate with --relay-only: %v", c.Type, c)
		}
	}
	ctx := context.Background()
	if err := p.offerer.Send(ctx, []byte("over TCP to the relay")); err != nil {
		t.Fatal(err)
	}
	if m, err := p.answerer.Receive(ctx); err != nil || string(m) != "over TCP to the relay" {
		t.Fatalf("%q %v", m, err)
	}
}
