package relay

import (
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/pion/turn/v5"
)

// allocGenerator is the relay address generator that every allocation goes
// through. It refuses TCP allocations (RFC 6062) and outgoing TCP
// connections, reserves a place in the user's quota atomically before the
// relayed socket is made (released when the socket closes), and filters
// every packet the relayed socket sends.
type allocGenerator struct {
	turn.RelayAddressGenerator
	s    *Server
	wrap func(net.PacketConn) net.PacketConn // tests only
}

func (g *allocGenerator) AllocatePacketConn(conf turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	if !g.s.reserve(conf.UserID) {
		return nil, nil, fmt.Errorf("%w: user %q has %d", ErrQuota, conf.UserID, g.s.cfg.MaxAllocationsPerUser)
	}
	c, a, err := g.RelayAddressGenerator.AllocatePacketConn(conf)
	if err != nil {
		g.s.release(conf.UserID)
		return nil, nil, err
	}
	if g.wrap != nil {
		c = g.wrap(c)
	}
	port := uint16(0)
	if u, ok := a.(*net.UDPAddr); ok {
		port = uint16(u.Port)
	}
	g.s.peers.addPort(port, 1)
	return &relayedConn{PacketConn: c, g: g, user: conf.UserID, port: port}, a, nil
}

func (g *allocGenerator) AllocateListener(turn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	return nil, nil, ErrTCPAllocation
}

func (g *allocGenerator) AllocateConn(turn.AllocateConnConfig) (net.Conn, error) {
	return nil, ErrTCPAllocation
}

// relayedConn is an allocation's relayed socket.
type relayedConn struct {
	net.PacketConn
	g    *allocGenerator
	user string
	port uint16
	once sync.Once
}

// WriteTo sends to a peer the policy allows, and drops the rest (pion
// reaches here for Send indications and ChannelData once a permission
// exists; this is the second check, which also sees the port).
func (c *relayedConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if !c.g.s.peers.sendTo(addr) {
		return 0, fmt.Errorf("%w: %v", ErrPeerRefused, addr)
	}
	return c.PacketConn.WriteTo(b, addr)
}

func (c *relayedConn) Close() error {
	c.once.Do(func() {
		c.g.s.peers.addPort(c.port, -1)
		c.g.s.release(c.user)
	})
	return c.PacketConn.Close()
}

// reserve takes one of user's allocations if the quota has room.
func (s *Server) reserve(user string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inUse[user] >= s.cfg.MaxAllocationsPerUser {
		return false
	}
	s.inUse[user]++
	return true
}

func (s *Server) release(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inUse[user]--
	if s.inUse[user] <= 0 {
		delete(s.inUse, user)
	}
}

// slowGenerator makes relayed sockets slowly (tests: it widens any window
// between a quota check and the allocation it admits).
type slowGenerator struct {
	turn.RelayAddressGenerator
	delay time.Duration
}

func (g slowGenerator) AllocatePacketConn(conf turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	time.Sleep(g.delay)
	return g.RelayAddressGenerator.AllocatePacketConn(conf)
}
