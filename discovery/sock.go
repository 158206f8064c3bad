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

	"github.com/sp2p/sp2p/ratelimit"
)

// inbound is one packet read from a socket.
type inbound struct {
	p     *packet
	from  netip.AddrPort
	size  int
	group bool // read from the group socket
}

// node holds the two sockets of a host or seeker: one bound to the
// group's port and joined to the group on every usable interface, one on
// an ephemeral port for sending beacons and probes and for the unicast
// exchange.
type node struct {
	cfg    Config
	group  *net.UDPConn
	gpc    *ipv4.PacketConn
	uni    *net.UDPConn
	upc    *ipv4.PacketConn
	ifaces []net.Interface
	dst    *net.UDPAddr
	limit  *ratelimit.Limiter[netip.Addr]
	in     chan inbound
	wg     sync.WaitGroup
	once   sync.Once
}

// Per-source budget for packets (a LAN peer doing its job sends a few).
var sourceLimits = ratelimit.Limits{
	MessagesPerSecond: 20, MessageBurst: 40,
	BytesPerSecond: 24 << 10, ByteBurst: 48 << 10,
	MaxPeers: 1024, IdleTimeout: time.Minute,
}

func usableInterfaces(names []string) ([]net.Interface, error) {
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
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
				out = append(out, ifi)
				break
			}
		}
	}
	return out, nil
}

func openNode(cfg Config) (*node, error) {
	cfg = cfg.withDefaults()
	if !cfg.Group.Is4() || !cfg.Group.IsMulticast() {
		return nil, fmt.Errorf("discovery: group %v is not an IPv4 multicast address", cfg.Group)
	}
	ifaces, err := usableInterfaces(cfg.Interfaces)
	if err != nil {
		return nil, err
	}
	if len(ifaces) == 0 {
		return nil, fmt.Errorf("%w: no interface is up with multicast and an IPv4 address", ErrMulticastBlocked)
	}
	lc := net.ListenConfig{Control: reuseAddr}
	gc, err := lc.ListenPacket(context.Background(), "udp4", fmt.Sprintf("0.0.0.0:%d", cfg.Port))
	if err != nil {
		return nil, fmt.Errorf("%w: cannot listen on UDP port %d: %w", ErrMulticastBlocked, cfg.Port, err)
	}
	n := &node{cfg: cfg, group: gc.(*net.UDPConn), dst: &net.UDPAddr{IP: cfg.Group.AsSlice(), Port: cfg.Port},
		limit: ratelimit.New[netip.Addr](sourceLimits, nil), in: make(chan inbound, 64)}
	n.gpc = ipv4.NewPacketConn(n.group)
	var joinErr error
	for _, ifi := range ifaces {
		if err := n.gpc.JoinGroup(&ifi, &net.UDPAddr{IP: cfg.Group.AsSlice()}); err != nil {
			joinErr = err
			continue
		}
		n.ifaces = append(n.ifaces, ifi)
	}
	if len(n.ifaces) == 0 {
		n.group.Close()
		return nil, fmt.Errorf("%w: no interface could join %v: %w", ErrMulticastBlocked, cfg.Group, joinErr)
	}
	uc, err := net.ListenUDP("udp4", &net.UDPAddr{})
	if err != nil {
		n.group.Close()
		return nil, fmt.Errorf("discovery: %w", err)
	}
	n.uni = uc
	n.upc = ipv4.NewPacketConn(uc)
	n.upc.SetMulticastTTL(1)
	n.upc.SetMulticastLoopback(true)
	n.wg.Add(2)
	go n.read(n.group, true)
	go n.read(n.uni, false)
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
		n.cfg.Logger.Debug("discovery: read", "from", from, "size", k, "group", group)
		p, err := decode(buf[:k])
		if err != nil {
			n.cfg.Logger.Debug("discovery: dropped a packet", "from", from, "err", err)
			continue
		}
		n.in <- inbound{p: p, from: netip.AddrPortFrom(src, from.Port()), size: k, group: group}
	}
}

// multicast sends b to the group on every joined interface. It fails with
// ErrMulticastBlocked when no interface took it.
func (n *node) multicast(b []byte) error {
	var last error
	sent := 0
	for i := range n.ifaces {
		if err := n.upc.SetMulticastInterface(&n.ifaces[i]); err != nil {
			last = err
			continue
		}
		if _, err := n.upc.WriteTo(b, nil, n.dst); err != nil {
			last = err
			continue
		}
		sent++
	}
	if sent == 0 {
		return fmt.Errorf("%w: sending to %v: %w", ErrMulticastBlocked, n.cfg.Group, last)
	}
	return nil
}

// unicast sends b to one address.
func (n *node) unicast(b []byte, to netip.AddrPort) error {
	_, err := n.uni.WriteToUDPAddrPort(b, to)
	return err
}

func (n *node) close() {
	n.once.Do(func() {
		n.group.Close()
		n.uni.Close()
		go func() { // drain so that the readers can end
			for range n.in {
			}
		}()
		n.wg.Wait()
		close(n.in)
	})
}

