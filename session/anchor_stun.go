//go:build !js

package session

// The anchor's server-reflexive candidates. pion gathers them from a new
// socket of each link's own, whose NAT mapping dies with the link; only
// the anchor's sockets outlive a link, so an anchored link gathers no
// server-reflexive candidate through pion: the anchor asks the options'
// STUN servers for its own sockets' mappings (a Binding request, RFC 8489,
// sent from the socket itself) and the link adds them to its description.
// The responses are taken off the socket before pion's mux reads it.

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pion/stun/v4"
	pionnet "github.com/pion/transport/v5"

	"github.com/sp2p/sp2p/invite"
)

// STUN limits and timings of the anchor's queries.
const (
	// stunGatherTimeout bounds one query of the anchor's mappings (pion's
	// STUN gather timeout, as the options set it for unanchored links).
	stunGatherTimeout = 3 * time.Second
	// stunFirstRTO is the first retransmission interval of a Binding
	// request (RFC 8489 section 6.2.1: 500 ms, doubling).
	stunFirstRTO = 500 * time.Millisecond
	// maxSTUNServers bounds the servers asked per query (the addresses a
	// query sends to: one per server and address family).
	maxSTUNServers = 8
	// stunLinger is how long after a query its servers' responses are
	// still taken off the socket (late retransmissions), not passed on.
	stunLinger = 10 * time.Second
	// stunBindingSuccess and stunBindingError are the Binding response
	// types; stunAttrXORMapped is XOR-MAPPED-ADDRESS.
	stunBindingSuccess = 0x0101
	stunBindingError   = 0x0111
	stunAttrXORMapped  = 0x0020
)

// reflector holds an anchor socket's Binding requests in flight.
type reflector struct {
	mu      sync.Mutex
	pending map[[12]byte]*stunQuery
	servers map[netip.AddrPort]time.Time // until when responses from a server are taken
}

type stunQuery struct {
	server netip.AddrPort
	done   chan netip.AddrPort // one value: the mapping, or the zero AddrPort for an error response
}

func newReflector() *reflector {
	return &reflector{pending: map[[12]byte]*stunQuery{}, servers: map[netip.AddrPort]time.Time{}}
}

// take looks at a datagram from addr before the mux does and reports
// whether it was a response to one of the socket's Binding requests (or
// from a server the socket asked, with another transaction ID): those
// are not passed on. Data costs a comparison of a few bytes.
func (r *reflector) take(p []byte, from netip.AddrPort) bool {
	if len(p) < stunHeader || p[0] != 0x01 || (p[1] != 0x01 && p[1] != 0x11) || [4]byte(p[4:8]) != stunCookie {
		return false
	}
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	r.mu.Lock()
	defer r.mu.Unlock()
	until, ok := r.servers[from]
	if !ok || time.Now().After(until) {
		return false
	}
	q := r.pending[[12]byte(p[8:20])]
	if q == nil || q.server != from {
		return true // not ours (or late): dropped
	}
	mapped, typ, ok := stunMapped(p)
	if !ok {
		return true
	}
	if typ == stunBindingError {
		mapped = netip.AddrPort{}
	}
	delete(r.pending, [12]byte(p[8:20]))
	q.done <- mapped
	return true
}

// query sends a Binding request from c to server and waits for the
// mapping, retransmitting as RFC 8489 says, until ctx ends.
func (r *reflector) query(ctx context.Context, c *anchorConn, server netip.AddrPort) (netip.AddrPort, error) {
	var id [12]byte
	if _, err := rand.Read(id[:]); err != nil {
		return netip.AddrPort{}, err
	}
	m, err := stun.Build(stun.BindingRequest, stun.NewTransactionIDSetter(id), stun.Fingerprint)
	if err != nil {
		return netip.AddrPort{}, err
	}
	q := &stunQuery{server: server, done: make(chan netip.AddrPort, 1)}
	r.mu.Lock()
	now := time.Now()
	for s, until := range r.servers {
		if now.After(until) {
			delete(r.servers, s)
		}
	}
	r.pending[id] = q
	until := now.Add(stunLinger)
	if d, ok := ctx.Deadline(); ok {
		until = d.Add(stunLinger)
	}
	if until.After(r.servers[server]) {
		r.servers[server] = until
	}
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.pending, id)
		r.mu.Unlock()
	}()
	rto := stunFirstRTO
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case a := <-q.done:
			if !a.IsValid() {
				return netip.AddrPort{}, fmt.Errorf("%w: %v answered with an error", errSTUN, server)
			}
			return a, nil
		case <-t.C:
			if _, err := c.WriteToAddrPort(m.Raw, server); err != nil {
				return netip.AddrPort{}, fmt.Errorf("%w: sending to %v: %w", errSTUN, server, err)
			}
			t.Reset(rto)
			rto *= 2
		case <-ctx.Done():
			return netip.AddrPort{}, fmt.Errorf("%w: no answer from %v: %w", errSTUN, server, ctx.Err())
		}
	}
}

// errSTUN: a STUN server did not tell the anchor its mapping.
var errSTUN = errors.New("session: STUN query")

// stunMapped returns the XOR-MAPPED-ADDRESS of a Binding response and
// its type, false if p is not a well-formed one: the header's length must
// be a multiple of 4 and equal the rest of p, every attribute must fit in
// it, and the address must be a family 1 (IPv4, 8 bytes) or 2 (IPv6, 20
// bytes) one. An error response needs no address. It reads at most the
// message's own bytes.
func stunMapped(p []byte) (netip.AddrPort, int, bool) {
	if len(p) < stunHeader || [4]byte(p[4:8]) != stunCookie {
		return netip.AddrPort{}, 0, false
	}
	typ := int(p[0])<<8 | int(p[1])
	if typ != stunBindingSuccess && typ != stunBindingError {
		return netip.AddrPort{}, 0, false
	}
	size := int(p[2])<<8 | int(p[3])
	if size%4 != 0 || size != len(p)-stunHeader {
		return netip.AddrPort{}, 0, false
	}
	if typ == stunBindingError {
		return netip.AddrPort{}, typ, true
	}
	for rest := p[stunHeader:]; len(rest) >= 4; {
		at, n := int(rest[0])<<8|int(rest[1]), int(rest[2])<<8|int(rest[3])
		padded := (n + 3) &^ 3
		if padded > len(rest)-4 {
			return netip.AddrPort{}, 0, false
		}
		if at == stunAttrXORMapped {
			v := rest[4 : 4+n]
			if n < 4 {
				return netip.AddrPort{}, 0, false
			}
			port := uint16(v[2])<<8 | uint16(v[3]) ^ 0x2112
			var ip []byte
			switch {
			case v[1] == 1 && n == 8:
				ip = make([]byte, 4)
			case v[1] == 2 && n == 20:
				ip = make([]byte, 16)
			default:
				return netip.AddrPort{}, 0, false
			}
			key := p[4:20] // the cookie, then the transaction ID
			for i := range ip {
				ip[i] = v[4+i] ^ key[i]
			}
			a, _ := netip.AddrFromSlice(ip)
			return netip.AddrPortFrom(a.Unmap(), port), typ, true
		}
		rest = rest[4+padded:]
	}
	return netip.AddrPort{}, 0, false
}

// stunServers resolves the STUN servers of the options' ICE servers
// (stun: URLs over UDP; stuns: is TLS, which the anchor's UDP sockets do
// not speak), one IPv4 and (unless udp4Only) one IPv6 address each, at
// most maxSTUNServers addresses. A name that does not resolve is left out.
func stunServers(ctx context.Context, servers []ICEServer, udp4Only bool) []netip.AddrPort {
	var out []netip.AddrPort
	for _, s := range servers {
		for _, u := range s.URLs {
			uri, err := stun.ParseURI(u)
			if err != nil || uri.Scheme != stun.SchemeTypeSTUN {
				continue
			}
			var ips []netip.Addr
			if ip, err := netip.ParseAddr(strings.Trim(uri.Host, "[]")); err == nil {
				ips = []netip.Addr{ip.Unmap()}
			} else if ips, err = net.DefaultResolver.LookupNetIP(ctx, "ip", uri.Host); err != nil {
				continue
			}
			var v4, v6 bool
			for _, ip := range ips {
				ip = ip.Unmap()
				if (ip.Is4() && v4) || (!ip.Is4() && (v6 || udp4Only)) {
					continue
				}
				v4, v6 = v4 || ip.Is4(), v6 || !ip.Is4()
				a := netip.AddrPortFrom(ip, uint16(uri.Port))
				if !slices.Contains(out, a) {
					out = append(out, a)
				}
				if len(out) == maxSTUNServers {
					return out
				}
			}
		}
	}
	return out
}

// isSTUNURL reports whether u is a stun: or stuns: URL (not a TURN one).
func isSTUNURL(u string) bool {
	scheme, _, _ := strings.Cut(u, ":")
	scheme = strings.ToLower(scheme)
	return scheme == "stun" || scheme == "stuns"
}

// withoutSTUN returns the ICE servers less their STUN URLs: an anchored
// link's server-reflexive candidates come from the anchor.
func withoutSTUN(servers []ICEServer) []ICEServer {
	var out []ICEServer
	for _, s := range servers {
		s.URLs = slices.DeleteFunc(slices.Clone(s.URLs), isSTUNURL)
		if len(s.URLs) > 0 {
			out = append(out, s)
		}
	}
	return out
}

// reflexive asks each of servers (resolved from the options) for the
// mapping of the anchor's socket of its family and returns the mappings
// learnt within timeout, in the servers' order, without duplicates.
func (m *anchorMux) reflexive(ctx context.Context, servers []netip.AddrPort, timeout time.Duration) []netip.AddrPort {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	got := make([]netip.AddrPort, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		c := m.sock(s.Addr().Is4())
		if c == nil {
			continue
		}
		wg.Go(func() {
			a, err := c.refl.query(ctx, c, s)
			if err != nil {
				m.log.Debug("no server-reflexive address", "err", err)
				return
			}
			got[i] = a
		})
	}
	wg.Wait()
	var out []netip.AddrPort
	for _, a := range got {
		if a.IsValid() && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// sock is the anchor's socket of a family, nil if it has none.
func (m *anchorMux) sock(v4 bool) *anchorConn {
	for _, c := range m.socks {
		if (c.LocalAddr().(*net.UDPAddr).IP.To4() != nil) == v4 {
			return c
		}
	}
	return nil
}

// addReflexive adds the mappings to d as server-reflexive UDP candidates
// by the order and limits of the candidates' own (internal/sdp.FromSDP):
// after the host and peer-reflexive candidates, before the relay ones
// (RFC 8445's type preferences), leaving out one whose address a
// candidate of d already has (a mapping that is the host address is no
// new candidate), and at most invite.MaxCandidates in all, those of
// lowest preference dropped.
func addReflexive(d *invite.ConnDesc, mapped []netip.AddrPort) {
	for _, a := range mapped {
		if slices.ContainsFunc(d.Candidates, func(c invite.Candidate) bool { return !c.TCP && c.Addr == a }) {
			continue
		}
		i := slices.IndexFunc(d.Candidates, func(c invite.Candidate) bool { return c.Type == invite.Relay })
		if i < 0 {
			i = len(d.Candidates)
		}
		d.Candidates = slices.Insert(d.Candidates, i, invite.Candidate{Type: invite.ServerReflexive, Addr: a})
	}
	if len(d.Candidates) > invite.MaxCandidates {
		d.Candidates = d.Candidates[:invite.MaxCandidates]
	}
}

// reflexiveFor returns what a link made with opts on the anchor calls to
// learn the anchor's mappings while it gathers, nil when there is nothing
// to learn: no anchor sockets (a test network), a relay-only link, or no
// STUN server. Each call asks again (a NAT may have changed the mapping),
// bounded by stunGatherTimeout, name resolution included.
func (s *anchorState) reflexiveFor(opts *Options) func(context.Context) []netip.AddrPort {
	if s == nil || s.mux == nil || opts.RelayOnly || !slices.ContainsFunc(opts.ICEServers, func(s ICEServer) bool {
		return slices.ContainsFunc(s.URLs, isSTUNURL)
	}) {
		return nil
	}
	servers, udp4Only := slices.Clone(opts.ICEServers), opts.UDP4Only
	return func(ctx context.Context) []netip.AddrPort {
		ctx, cancel := context.WithTimeout(ctx, stunGatherTimeout)
		defer cancel()
		return s.mux.reflexive(ctx, stunServers(ctx, servers, udp4Only), stunGatherTimeout)
	}
}

// errOwnSocket: an anchored link opens no UDP socket of its own.
var errOwnSocket = errors.New("session: an anchored link's candidates are on the anchor's sockets")

// anchoredNet is the network of an anchored link: pion may open no UDP
// socket on an ephemeral port. With the anchor's mux, the only such
// sockets pion opens are those it gathers server-reflexive candidates
// from (one per STUN or UDP TURN server, even given TURN servers only),
// whose NAT mappings die with the link; TURN clients (ListenPacket) and
// mDNS (port 5353) are not affected.
type anchoredNet struct{ pionnet.Net }

// ListenUDP refuses an ephemeral port.
func (n anchoredNet) ListenUDP(network string, laddr *net.UDPAddr) (pionnet.UDPConn, error) {
	if laddr == nil || laddr.Port == 0 {
		return nil, errOwnSocket
	}
	return n.Net.ListenUDP(network, laddr)
}

// linkNet is the network of a link made on the anchor: n, without
// sockets of the link's own when the anchor has sockets.
func (s *anchorState) linkNet(n pionnet.Net) pionnet.Net {
	if s == nil || s.mux == nil {
		return n
	}
	return anchoredNet{n}
}
