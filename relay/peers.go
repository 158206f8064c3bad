package relay

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
)

// deniedPeers are the peer ranges the relay refuses unless Config.AllowPeers
// opens them: addresses that reach the relay host itself or its private
// networks, and addresses that are never a peer on the internet.
var deniedPeers = mustPrefixes(
	// IPv4
	"0.0.0.0/8",       // "this network"
	"10.0.0.0/8",      // private (RFC 1918)
	"100.64.0.0/10",   // carrier-grade NAT (RFC 6598)
	"127.0.0.0/8",     // loopback
	"169.254.0.0/16",  // link-local, cloud metadata (169.254.169.254)
	"172.16.0.0/12",   // private (RFC 1918)
	"192.0.0.0/24",    // IETF protocol assignments
	"192.0.2.0/24",    // documentation (TEST-NET-1)
	"192.88.99.0/24",  // 6to4 relay anycast
	"192.168.0.0/16",  // private (RFC 1918)
	"198.18.0.0/15",   // benchmarking
	"198.51.100.0/24", // documentation (TEST-NET-2)
	"203.0.113.0/24",  // documentation (TEST-NET-3)
	"224.0.0.0/4",     // multicast
	"240.0.0.0/4",     // reserved, and the broadcast address 255.255.255.255
	// IPv6 (IPv4-mapped, NAT64 and 6to4 addresses are judged by the IPv4
	// address they embed, see embeddedIPv4)
	"::/96",          // unspecified, loopback, IPv4-compatible
	"100::/64",       // discard
	"2001::/23",      // IETF protocol assignments, Teredo
	"2001:db8::/32",  // documentation
	"3fff::/20",      // documentation (RFC 9637)
	"64:ff9b:1::/48", // local-use NAT64
	"fc00::/7",       // unique local
	"fe80::/10",      // link-local
	"fec0::/10",      // site-local (deprecated)
	"ff00::/8",       // multicast
)

func mustPrefixes(s ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(s))
	for i, p := range s {
		out[i] = netip.MustParsePrefix(p)
	}
	return out
}

// ParsePeerRange parses a --allow-peer value: a CIDR range such as
// 10.0.0.0/8 or fd00::/8, or a single address.
func ParsePeerRange(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err == nil {
		return p.Masked(), nil
	}
	if a, aerr := netip.ParseAddr(s); aerr == nil {
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	return netip.Prefix{}, fmt.Errorf("%w %q: want a CIDR range such as 10.0.0.0/8 or fd00::/8, or an IP address (%w)", ErrBadPeerRange, s, err)
}

// embeddedIPv4 returns the IPv4 address that an IPv4-mapped, NAT64
// (64:ff9b::/96) or 6to4 (2002::/16) address carries.
func embeddedIPv4(a netip.Addr) (netip.Addr, bool) {
	if a.Is4In6() {
		return a.Unmap(), true
	}
	b := a.As16()
	if netip.MustParsePrefix("64:ff9b::/96").Contains(a) {
		return netip.AddrFrom4([4]byte(b[12:16])), true
	}
	if netip.MustParsePrefix("2002::/16").Contains(a) {
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}

// peerPolicy decides which peer addresses allocations may exchange packets
// with.
type peerPolicy struct {
	allow []netip.Prefix // opened by the operator; wins over everything
	own   []netip.Addr   // the relay host's interface and broadcast addresses
	self  netip.Addr     // RelayIP: only its live allocation ports

	mu    sync.Mutex
	ports map[uint16]int // live allocation ports on self
}

func newPeerPolicy(allow []netip.Prefix, relayIP net.IP) *peerPolicy {
	p := &peerPolicy{allow: allow, ports: map[uint16]int{}}
	p.self, _ = netip.AddrFromSlice(relayIP)
	p.self = p.self.Unmap()
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			n, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				p.own = append(p.own, ip.Unmap())
			}
			if v4 := n.IP.To4(); v4 != nil && len(n.Mask) == net.IPv4len {
				ones, _ := n.Mask.Size()
				if ones < 31 {
					var bc [4]byte
					for i := range bc {
						bc[i] = v4[i] | ^n.Mask[i]
					}
					p.own = append(p.own, netip.AddrFrom4(bc))
				}
			}
		}
	}
	return p
}

func (p *peerPolicy) allowed(a netip.Addr) bool {
	for _, r := range p.allow {
		if r.Contains(a) {
			return true
		}
	}
	return false
}

// publicPeer reports whether a is an address on the internet that is not
// the relay host's own.
func (p *peerPolicy) publicPeer(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() {
		return false
	}
	if v4, ok := embeddedIPv4(a); ok && !p.publicPeer(v4) {
		return false
	}
	for _, r := range deniedPeers {
		if r.Contains(a) {
			return false
		}
	}
	for _, o := range p.own {
		if o == a {
			return false
		}
	}
	return true
}

// permit is pion/turn's PermissionHandler: CreatePermission, ChannelBind
// and Connect to ip. The relay's own address is permitted at this level
// (peers that both use this relay talk relay-to-relay); sendTo then allows
// only its live allocation ports.
func (p *peerPolicy) permit(_ net.Addr, ip net.IP) bool {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	a = a.Unmap()
	return p.allowed(a) || a == p.self || p.publicPeer(a)
}

// sendTo reports whether a relayed packet may go to addr.
func (p *peerPolicy) sendTo(addr net.Addr) bool {
	u, ok := addr.(*net.UDPAddr)
	if !ok {
		return false
	}
	ap := u.AddrPort()
	a := ap.Addr().Unmap()
	if p.allowed(a) {
		return true
	}
	if a == p.self {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.ports[ap.Port()] > 0
	}
	return p.publicPeer(a)
}

func (p *peerPolicy) addPort(port uint16, delta int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ports[port] += delta
	if p.ports[port] <= 0 {
		delete(p.ports, port)
	}
}
