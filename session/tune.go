//go:build !js

package session

import (
	"net"

	pionnet "github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
)

// socketBuffer is the UDP send and receive buffer sp2p asks for. The
// kernel's default (about 208 KiB) overflows on bursts at loopback and LAN
// speeds, and pion/sctp's 1 s minimum retransmission timeout turns each
// overflow into a one-second stall. The kernel caps the request at
// net.core.rmem_max / wmem_max.
const socketBuffer = 4 << 20

// sctpMinCwnd is the floor under SCTP's congestion window (see
// newPeerConnTuned).
const sctpMinCwnd = 16 << 10

// tunedNet is pion's standard network with larger UDP socket buffers.
// faults, set only by tests, simulates a bad network.
type tunedNet struct {
	*stdnet.Net
	faults *netFaults
}

func newTunedNet(faults *netFaults) (pionnet.Net, error) {
	n, err := stdnet.NewNet()
	if err != nil {
		return nil, err
	}
	return tunedNet{n, faults}, nil
}

func (n tunedNet) tune(c any) any {
	u, ok := c.(*net.UDPConn)
	if !ok {
		return c
	}
	u.SetReadBuffer(socketBuffer)
	u.SetWriteBuffer(socketBuffer)
	if n.faults != nil {
		return gatedConn{u, n.faults}
	}
	return c
}

// ListenUDP opens a UDP socket with the larger buffers. A multicast
// socket (pion's mDNS queries) is left as it is: the mDNS reader needs the
// bare *net.UDPConn (it reads control messages through
// golang.org/x/net/ipv4, which fails at once, and forever, on any wrapper,
// so its read loop would spin and never end), and faults are for the
// peers' traffic.
func (n tunedNet) ListenUDP(network string, laddr *net.UDPAddr) (pionnet.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	if laddr != nil && laddr.IP.IsMulticast() {
		return c, nil
	}
	return n.tune(c).(pionnet.UDPConn), nil
}

// ListenPacket opens a packet socket with the larger buffers.
func (n tunedNet) ListenPacket(network, address string) (net.PacketConn, error) {
	c, err := n.Net.ListenPacket(network, address)
	if err != nil {
		return nil, err
	}
	return n.tune(c).(net.PacketConn), nil
}

// gatedConn drops datagrams as its faults say: every datagram, in and
// out, during an outage; a random share of outgoing ones under loss.
type gatedConn struct {
	*net.UDPConn
	f *netFaults
}

func (g gatedConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if g.f.drop() {
		return len(p), nil
	}
	return g.UDPConn.WriteTo(p, addr)
}

func (g gatedConn) WriteToUDP(p []byte, addr *net.UDPAddr) (int, error) {
	if g.f.drop() {
		return len(p), nil
	}
	return g.UDPConn.WriteToUDP(p, addr)
}

func (g gatedConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := g.UDPConn.ReadFrom(p)
		if err != nil || !g.f.cut.Load() {
			return n, addr, err
		}
	}
}

func (g gatedConn) ReadFromUDP(p []byte) (int, *net.UDPAddr, error) {
	for {
		n, addr, err := g.UDPConn.ReadFromUDP(p)
		if err != nil || !g.f.cut.Load() {
			return n, addr, err
		}
	}
}
