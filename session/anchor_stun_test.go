//go:build !js

package session

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/link"
	"github.com/sp2p/sp2p/relay"
)

// fakeSTUN is a STUN server on loopback whose answers the test chooses:
// answer gets each request and the address it came from and returns the
// datagrams to send back.
type fakeSTUN struct {
	conn *net.UDPConn
	reqs chan [12]byte // the transaction IDs of the requests received
}

func startFakeSTUN(t testing.TB, answer func(req *stun.Message, from netip.AddrPort) [][]byte) *fakeSTUN {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeSTUN{conn: c, reqs: make(chan [12]byte, 64)}
	t.Cleanup(func() { c.Close() })
	go func() {
		b := make([]byte, 1500)
		for {
			n, from, err := c.ReadFromUDPAddrPort(b)
			if err != nil {
				return
			}
			m := &stun.Message{Raw: append([]byte(nil), b[:n]...)}
			if m.Decode() != nil || m.Type != stun.BindingRequest {
				continue
			}
			select {
			case s.reqs <- m.TransactionID:
			default:
			}
			for _, p := range answer(m, from) {
				c.WriteToUDPAddrPort(p, from)
			}
		}
	}()
	return s
}

func (s *fakeSTUN) addr() netip.AddrPort { return s.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// bindingResponse is a response of typ to a request of id saying mapped.
func bindingResponse(t testing.TB, typ stun.MessageType, id [12]byte, mapped netip.AddrPort) []byte {
	t.Helper()
	setters := []stun.Setter{typ, stun.NewTransactionIDSetter(id)}
	if typ == stun.BindingSuccess {
		setters = append(setters, &stun.XORMappedAddress{IP: mapped.Addr().AsSlice(), Port: int(mapped.Port())})
	} else {
		setters = append(setters, stun.CodeBadRequest)
	}
	m, err := stun.Build(append(setters, stun.Fingerprint)...)
	if err != nil {
		t.Fatal(err)
	}
	return m.Raw
}

// standaloneConn is an anchor socket on loopback without a mux: the test
// reads it as the mux would, and gets what the mux would get.
func standaloneConn(t testing.TB) (*anchorConn, chan []byte) {
	t.Helper()
	u, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	c := &anchorConn{UDPConn: u, knock: &knocker{anchor: &link.Anchor{}, links: map[string]bool{}}, refl: newReflector()}
	t.Cleanup(func() { u.Close() })
	passed := make(chan []byte, 16)
	go func() {
		b := make([]byte, 1500)
		for {
			n, _, err := c.ReadFromAddrPort(b)
			if err != nil {
				return
			}
			passed <- append([]byte(nil), b[:n]...)
		}
	}()
	return c, passed
}

// typePref is RFC 8445's type preference, the candidates' order.
var typePref = map[invite.CandidateType]int{invite.Host: 126, invite.PeerReflexive: 110, invite.ServerReflexive: 100, invite.Relay: 0}

var marker = []byte("marker: not STUN")

// The anchor's STUN query: the mapping of the matching success response
// is returned and the response is not passed to the mux; a response with
// another transaction ID, even from the server, is neither returned nor
// passed on; an error response fails the query; a silent server times out
// within the bound, after retransmissions of the same request.
func TestAnchorSTUNQuery(t *testing.T) {
	t.Parallel()
	mapped := netip.MustParseAddrPort("203.0.113.7:40000")
	other := netip.MustParseAddrPort("198.51.100.1:1")
	cases := []struct {
		name    string
		answer  func(t testing.TB, id [12]byte) [][]byte
		want    netip.AddrPort
		wantErr error
	}{
		{"matching", func(t testing.TB, id [12]byte) [][]byte {
			return [][]byte{bindingResponse(t, stun.BindingSuccess, id, mapped), marker}
		}, mapped, nil},
		{"other transaction", func(t testing.TB, id [12]byte) [][]byte {
			id[0] ^= 1
			return [][]byte{bindingResponse(t, stun.BindingSuccess, id, other), marker}
		}, netip.AddrPort{}, context.DeadlineExceeded},
		{"error response", func(t testing.TB, id [12]byte) [][]byte {
			return [][]byte{bindingResponse(t, stun.BindingError, id, netip.AddrPort{}), marker}
		}, netip.AddrPort{}, errSTUN},
		{"silent", func(testing.TB, [12]byte) [][]byte { return nil }, netip.AddrPort{}, context.DeadlineExceeded},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := startFakeSTUN(t, func(req *stun.Message, _ netip.AddrPort) [][]byte {
				return tc.answer(t, req.TransactionID)
			})
			c, passed := standaloneConn(t)
			const bound = 1200 * time.Millisecond
			ctx, cancel := context.WithTimeout(context.Background(), bound)
			defer cancel()
			start := time.Now()
			got, err := c.refl.query(ctx, c, srv.addr())
			took := time.Since(start)
			if got != tc.want || (tc.wantErr == nil) != (err == nil) || (err != nil && !errors.Is(err, tc.wantErr)) {
				t.Fatalf("query = %v, %v; want %v, %v", got, err, tc.want, tc.wantErr)
			}
			if took > bound+time.Second {
				t.Errorf("the query returned after %v, bound %v", took, bound)
			}
			if tc.name == "silent" {
				// Sent at 0, 500 ms and 1.5 s (after the bound): two.
				if n := len(srv.reqs); n < 2 {
					t.Errorf("%d requests sent to a silent server in %v, want retransmissions", n, bound)
				}
				ids := map[[12]byte]bool{}
				for range len(srv.reqs) {
					ids[<-srv.reqs] = true
				}
				if len(ids) != 1 {
					t.Errorf("retransmissions with %d transaction IDs, want 1", len(ids))
				}
				return
			}
			select {
			case p := <-passed:
				if !bytes.Equal(p, marker) {
					t.Fatalf("the server's response reached the mux: % x", p)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the datagram after the response never reached the mux")
			}
		})
	}
}

// A response to no query of the socket, from an address the socket did
// not ask, goes on to the mux (a peer's response to a connectivity check).
func TestAnchorSTUNPassesOthers(t *testing.T) {
	t.Parallel()
	c, passed := standaloneConn(t)
	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	resp := bindingResponse(t, stun.BindingSuccess, [12]byte{1, 2, 3}, netip.MustParseAddrPort("127.0.0.1:9"))
	if _, err := peer.WriteTo(resp, c.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-passed:
		if !bytes.Equal(p, resp) {
			t.Fatalf("passed % x", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a peer's binding response did not reach the mux")
	}
}

// The anchor learns its socket's mapping from a real STUN server (the
// relay package's, on loopback): the socket's own address and port.
func TestAnchorReflexiveFromRelay(t *testing.T) {
	t.Parallel()
	srv, err := relay.Start(relay.Config{
		Listen: "127.0.0.1:0", RelayIP: net.IPv4(127, 0, 0, 1),
		Users:  map[string]string{"u": "p"},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	opts := loopback()
	opts.ICEServers = []ICEServer{{URLs: []string{"stun:" + strings.TrimPrefix(strings.SplitN(srv.URL(), "?", 2)[0], "turn:")}}}
	var a link.Anchor
	defer a.Close()
	st, err := pionAnchor(&opts, &a)
	if err != nil {
		t.Fatal(err)
	}
	got := st.reflexiveFor(&opts)(context.Background())
	want := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(st.mux.ports()[0]))
	if len(got) != 1 || got[0] != want {
		t.Fatalf("mappings %v, want [%v]", got, want)
	}
	relayOnly := opts
	relayOnly.RelayOnly = true
	if st.reflexiveFor(&relayOnly) != nil {
		t.Error("a relay-only link asks for the anchor's mapping")
	}
}

// An anchored link's description carries the anchor's mapping as its
// server-reflexive candidate (here a port-preserving NAT's, as a fake
// server says it), after the host candidates and before the relay ones,
// and no server-reflexive candidate of a socket of its own; the STUN
// URLs are not given to pion.
func TestAnchoredLinkOffersAnchorMapping(t *testing.T) {
	t.Parallel()
	natIP := netip.MustParseAddr("203.0.113.7")
	srv := startFakeSTUN(t, func(req *stun.Message, from netip.AddrPort) [][]byte {
		return [][]byte{bindingResponse(t, stun.BindingSuccess, req.TransactionID, netip.AddrPortFrom(natIP, from.Port()))}
	})
	turnSrv, err := relay.Start(relay.Config{
		Listen: "127.0.0.1:0", RelayIP: net.IPv4(127, 0, 0, 1),
		Users:      map[string]string{"u": "p"},
		AllowPeers: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Logger:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer turnSrv.Close()
	opts := loopback()
	opts.ICEServers = []ICEServer{{URLs: []string{"stun:" + srv.addr().String(), turnSrv.URL()}, Username: "u", Credential: "p"}}
	var a link.Anchor
	defer a.Close()
	st, err := pionAnchor(&opts, &a)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 2 { // asked again for each link
		d, err := newLink(t, opts, link.Config{Anchor: &a}).Offer(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := invite.Candidate{Type: invite.ServerReflexive, Addr: netip.AddrPortFrom(natIP, uint16(st.mux.ports()[0]))}
		var srflx []invite.Candidate
		seen := map[invite.CandidateType]int{}
		last := invite.Host
		for _, c := range d.Candidates {
			seen[c.Type]++
			if c.Type == invite.ServerReflexive {
				srflx = append(srflx, c)
			}
			if typePref[c.Type] > typePref[last] {
				t.Errorf("candidates out of order: %v", d.Candidates)
			}
			last = c.Type
		}
		if len(srflx) != 1 || srflx[0] != want {
			t.Fatalf("link %d: server-reflexive candidates %v, want [%v] (all: %v)", i, srflx, want, d.Candidates)
		}
		if seen[invite.Host] == 0 || seen[invite.Relay] == 0 {
			t.Fatalf("link %d: candidates %v", i, d.Candidates)
		}
	}
	if n := len(srv.reqs); n != 2 {
		t.Errorf("%d STUN requests for two links, want 2 (one each, none from pion)", n)
	}
}

// addReflexive keeps FromSDP's order and limits.
func TestAddReflexive(t *testing.T) {
	t.Parallel()
	host := invite.Candidate{Type: invite.Host, Addr: netip.MustParseAddrPort("192.168.1.2:5000")}
	tcp := invite.Candidate{Type: invite.Host, TCP: true, TCPType: invite.TCPPassive, Addr: netip.MustParseAddrPort("203.0.113.7:5000")}
	rel := invite.Candidate{Type: invite.Relay, Addr: netip.MustParseAddrPort("198.51.100.9:3000")}
	m1, m2 := netip.MustParseAddrPort("203.0.113.7:5000"), netip.MustParseAddrPort("[2001:db8::7]:5000")
	srflx := func(a netip.AddrPort) invite.Candidate {
		return invite.Candidate{Type: invite.ServerReflexive, Addr: a}
	}

	d := &invite.ConnDesc{Candidates: []invite.Candidate{host, tcp, rel}}
	addReflexive(d, []netip.AddrPort{m1, m2, host.Addr, m1})
	want := []invite.Candidate{host, tcp, srflx(m1), srflx(m2), rel}
	if !slices.Equal(d.Candidates, want) {
		t.Fatalf("got %v, want %v", d.Candidates, want)
	}

	full := &invite.ConnDesc{}
	for i := range invite.MaxCandidates - 1 {
		full.Candidates = append(full.Candidates, invite.Candidate{Type: invite.Host, Addr: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(1000+i))})
	}
	full.Candidates = append(full.Candidates, rel)
	addReflexive(full, []netip.AddrPort{m1})
	if len(full.Candidates) != invite.MaxCandidates || full.Candidates[invite.MaxCandidates-1] != srflx(m1) {
		t.Fatalf("at the limit: %v", full.Candidates)
	}
}

// stunMapped reads pion's encoding of XOR-MAPPED-ADDRESS (IPv4, IPv6)
// and refuses malformed responses.
func TestStunMapped(t *testing.T) {
	t.Parallel()
	for _, a := range []string{"203.0.113.7:40000", "[2001:db8::7]:1", "0.0.0.0:0"} {
		want := netip.MustParseAddrPort(a)
		p := bindingResponse(t, stun.BindingSuccess, [12]byte{9, 8, 7}, want)
		if got, typ, ok := stunMapped(p); !ok || typ != stunBindingSuccess || got != want {
			t.Errorf("stunMapped(%v) = %v, %#x, %v", want, got, typ, ok)
		}
		for _, bad := range [][]byte{p[:len(p)-1], append(append([]byte(nil), p...), 0, 0, 0, 0), p[:19]} {
			if _, _, ok := stunMapped(bad); ok {
				t.Errorf("accepted a truncated or padded response (%d bytes)", len(bad))
			}
		}
	}
	noAddr, err := stun.Build(stun.BindingSuccess, stun.TransactionID, stun.NewSoftware("x"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := stunMapped(noAddr.Raw); ok {
		t.Error("accepted a success response without XOR-MAPPED-ADDRESS")
	}
	bad, err := stun.Build(stun.BindingSuccess, stun.TransactionID, stun.RawAttribute{Type: stun.AttrXORMappedAddress, Value: []byte{0, 3, 0, 1, 1, 2, 3, 4}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := stunMapped(bad.Raw); ok {
		t.Error("accepted an address of family 3")
	}
	req, _ := stun.Build(stun.BindingRequest, stun.TransactionID)
	if _, _, ok := stunMapped(req.Raw); ok {
		t.Error("accepted a request")
	}
}

// FuzzStunMapped: any bytes give a clear no or an address that pion's own
// decoder agrees with.
func FuzzStunMapped(f *testing.F) {
	f.Add(bindingResponse(f, stun.BindingSuccess, [12]byte{1}, netip.MustParseAddrPort("203.0.113.7:40000")))
	f.Add(bindingResponse(f, stun.BindingSuccess, [12]byte{2}, netip.MustParseAddrPort("[2001:db8::7]:1")))
	f.Add(bindingResponse(f, stun.BindingError, [12]byte{3}, netip.AddrPort{}))
	f.Fuzz(func(t *testing.T, p []byte) {
		a, typ, ok := stunMapped(p)
		if !ok || typ != stunBindingSuccess {
			return
		}
		m := &stun.Message{Raw: append([]byte(nil), p...)}
		if m.Decode() != nil {
			return
		}
		var x stun.XORMappedAddress
		if x.GetFrom(m) != nil {
			return
		}
		ip, _ := netip.AddrFromSlice(x.IP)
		if want := netip.AddrPortFrom(ip.Unmap(), uint16(x.Port)); want != a {
			t.Fatalf("stunMapped = %v, pion reads %v", a, want)
		}
	})
}

// stunMapped reads RFC 5769's sample responses (testdata/stun_rfc5769.txt):
// the vectors of another implementation than the one the other tests
// encode with.
func TestStunMappedRFC5769(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("testdata/stun_rfc5769.txt")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for line := range strings.Lines(string(raw)) {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		hexMsg, addr, _ := strings.Cut(line, " ")
		p, err := hex.DecodeString(hexMsg)
		if err != nil {
			t.Fatal(err)
		}
		want := netip.MustParseAddrPort(addr)
		if got, typ, ok := stunMapped(p); !ok || typ != stunBindingSuccess || got != want {
			t.Errorf("stunMapped = %v, %#x, %v; want %v", got, typ, ok, want)
		}
		n++
	}
	if n != 2 {
		t.Fatalf("%d vectors, want 2", n)
	}
}
