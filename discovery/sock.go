//go:build !js

package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/sp2p/sp2p/ratelimit"
)

// inbound is one packet read from a socket.
type inbound struct {
	p     *packet
	from  netip.AddrPort
	size  int
	group bool         // read from a group socket
	via   *net.UDPConn // the socket it came in on: replies leave from it
}

// family is one IP version's pair of sockets: one bound to the group's
// port and joined to the group on every usable interface, one on an
// ephemeral port for sending beacons and probes and for the unicast
// exchange.
type family struct {
	v6     bool
	group  *net.UDPConn
	uni    *net.UDPConn
	p4     *ipv4.PacketConn // uni, IPv4
	p6     *ipv6.PacketConn // uni, IPv6
	old    []*net.UDPConn   // earlier uni sockets, still answering (rotate)
	ifaces []net.Interface
	dst    *net.UDPAddr
}

// maxRotations bounds the unicast sockets a host opens: one per epoch, all
// kept open until Close (an exchange that began on one goes on there),
// and no new one after this many (with the default epoch, longer than a
// host announces).
const maxRotations = 32

// node holds the sockets of a host or seeker: IPv4, and IPv6 where an
// interface has it.
type node struct {
	cfg   Config
	fams  []*family
	limit *ratelimit.Limiter[netip.Addr]
	in    chan inbound
	wg    sync.WaitGroup
	once  sync.Once
}

// Per-source budget for packets (a LAN peer doing its job sends a few).
var sourceLimits = ratelimit.Limits{
	MessagesPerSecond: 20, MessageBurst: 40,
	BytesPerSecond: 24 << 10, ByteBurst: 48 << 10,
	MaxPeers: 1024, IdleTimeout: time.Minute,
}

// usableInterfaces are the interfaces that are up, can multicast and have
// an address of the family.
func usableInterfaces(names []string, v6 bool) ([]net.Interface, error) {
	all, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("%w: listing interfaces: %w", ErrMulticastBlocked, err)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var out []net.Interface
	for _, ifi := range all {
		if len(want) > 0 && !want[ifi.Name] {
			continue
		}
		if ifi.Flags&net.FlagUp == 0 || ifi.Flags&net.FlagMulticast == 0 {
			continue
		}
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && (ipn.IP.To4() != nil) != v6 {
				out = append(out, ifi)
				break
			}
		}
	}
	return out, nil
}

func openFamily(cfg *Config, v6 bool) (*family, error) {
	group, network, any := cfg.Group, "udp4", "0.0.0.0"
	if v6 {
		group, network, any = cfg.Group6, "udp6", "::"
	}
	ifaces, err := usableInterfaces(cfg.Interfaces, v6)
	if err != nil {
		return nil, err
	}
	if len(ifaces) == 0 {
		return nil, fmt.Errorf("%w: no interface is up with multicast and an %s address", ErrMulticastBlocked, map[bool]string{false: "IPv4", true: "IPv6"}[v6])
	}
	lc := net.ListenConfig{Control: reuseAddr}
	gc, err := lc.ListenPacket(context.Background(), network, net.JoinHostPort(any, fmt.Sprint(cfg.Port)))
	if err != nil {
		return nil, fmt.Errorf("%w: cannot listen on UDP port %d: %w", ErrMulticastBlocked, cfg.Port, err)
	}
	f := &family{v6: v6, group: gc.(*net.UDPConn), dst: &net.UDPAddr{IP: group.AsSlice(), Port: cfg.Port}}
	var joinErr error
	for _, ifi := range ifaces {
		if v6 {
			joinErr = ipv6.NewPacketConn(f.group).JoinGroup(&ifi, &net.UDPAddr{IP: group.AsSlice()})
		} else {
			joinErr = ipv4.NewPacketConn(f.group).JoinGroup(&ifi, &net.UDPAddr{IP: group.AsSlice()})
		}
		if joinErr == nil {
			f.ifaces = append(f.ifaces, ifi)
		}
	}
	if len(f.ifaces) == 0 {
		f.group.Close()
		return nil, fmt.Errorf("%w: no interface could join %v: %w", ErrMulticastBlocked, group, joinErr)
	}
	if err := f.newUni(); err != nil {
		f.group.Close()
		return nil, err
	}
	return f, nil
}

// newUni opens a fresh unicast socket (a new ephemeral port) for sending
// to the group and for the exchange.
func (f *family) newUni() error {
	network := "udp4"
	if f.v6 {
		network = "udp6"
	}
	uc, err := net.ListenUDP(network, &net.UDPAddr{})
	if err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	f.uni = uc
	if f.v6 {
		f.p6 = ipv6.NewPacketConn(uc)
		f.p6.SetMulticastHopLimit(1)
		f.p6.SetMulticastLoopback(true)
	} else {
		f.p4 = ipv4.NewPacketConn(uc)
		f.p4.SetMulticastTTL(1)
		f.p4.SetMulticastLoopback(true)
	}
	return nil
}

// rotate gives every family a fresh unicast socket, so that beacons of two
// epochs do not even share a UDP port; the earlier ones stay open for the
// exchanges that began on them.
func (n *node) rotate() {
	for _, f := range n.fams {
		if len(f.old) >= maxRotations {
			continue
		}
		prev := f.uni
		if err := f.newUni(); err != nil {
			n.cfg.Logger.Debug("discovery: keeping the old socket", "err", err)
			continue
		}
		f.old = append(f.old, prev)
		n.wg.Add(1)
		go n.read(f.uni, false)
	}
}

func openNode(cfg Config) (*node, error) {
	cfg = cfg.withDefaults()
	if !cfg.Group.Is4() || !cfg.Group.IsMulticast() {
		return nil, fmt.Errorf("discovery: group %v is not an IPv4 multicast address", cfg.Group)
	}
	if !cfg.Group6.Is6() || !cfg.Group6.IsMulticast() {
		return nil, fmt.Errorf("discovery: group %v is not an IPv6 multicast address", cfg.Group6)
	}
	n := &node{cfg: cfg, limit: ratelimit.New[netip.Addr](sourceLimits, nil), in: make(chan inbound, 64)}
	var errs []error
	for _, v6 := range []bool{false, true} {
		if v6 && cfg.IPv4Only {
			continue
		}
		f, err := openFamily(&cfg, v6)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		n.fams = append(n.fams, f)
	}
	if len(n.fams) == 0 {
		return nil, errors.Join(errs...)
	}
	for _, f := range n.fams {
		n.wg.Add(2)
		go n.read(f.group, true)
		go n.read(f.uni, false)
	}
	return n, nil
}

// read decodes packets from c into n.in, dropping what breaks the format
// or a source's budget, until c is closed.
func (n *node) read(c *net.UDPConn, group bool) {
	defer n.wg.Done()
	buf := make([]byte, MaxPacket+1)
	for {
		k, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		src := from.Addr().Unmap()
		if d, err := n.limit.Reserve(src, k); err != nil || d > 0 {
			continue
		}
		p, err := decode(buf[:k])
		if err != nil {
			n.cfg.Logger.Debug("discovery: dropped a packet", "from", from, "err", err)
			continue
		}
		n.in <- inbound{p: p, from: netip.AddrPortFrom(src, from.Port()), size: k, group: group, via: c}
	}
}

// multicast sends b to the group on every joined interface of every
// family. It fails with ErrMulticastBlocked when no interface took it.
func (n *node) multicast(b []byte) error {
	var last error
	sent := 0
	for _, f := range n.fams {
		for i := range f.ifaces {
			var err error
			if f.v6 {
				if err = f.p6.SetMulticastInterface(&f.ifaces[i]); err == nil {
					_, err = f.p6.WriteTo(b, nil, f.dst)
				}
			} else {
				if err = f.p4.SetMulticastInterface(&f.ifaces[i]); err == nil {
					_, err = f.p4.WriteTo(b, nil, f.dst)
				}
			}
			if err != nil {
				last = err
				continue
			}
			sent++
		}
	}
	if sent == 0 {
		return fmt.Errorf("%w: sending to the group: %w", ErrMulticastBlocked, last)
	}
	return nil
}

// reply sends b back to where in came from, from the socket it came in on.
func (n *node) reply(b []byte, in inbound) error {
	_, err := in.via.WriteToUDPAddrPort(b, in.from)
	return err
}

// unicast sends b to one address, from the current socket of its family.
func (n *node) unicast(b []byte, to netip.AddrPort) error {
	v6 := !to.Addr().Is4()
	for _, f := range n.fams {
		if f.v6 == v6 {
			_, err := f.uni.WriteToUDPAddrPort(b, to)
			return err
		}
	}
	return fmt.Errorf("discovery: no socket for %v", to)
}

func (n *node) close() {
	n.once.Do(func() {
		for _, f := range n.fams {
			f.group.Close()
			f.uni.Close()
			for _, c := range f.old {
				c.Close()
			}
		}
		go func() { // drain so that the readers can end
			for range n.in {
			}
		}()
		n.wg.Wait()
		close(n.in)
	})
}
