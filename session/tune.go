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

// tunedNet is pion's standard network with larger UDP socket buffers.
type tunedNet struct{ *stdnet.Net }

func newTunedNet() (pionnet.Net, error) {
	n, err := stdnet.NewNet()
	if err != nil {
		return nil, err
	}
	return tunedNet{n}, nil
}

func tuneUDP(c any) {
	if u, ok := c.(*net.UDPConn); ok {
		u.SetReadBuffer(socketBuffer)
		u.SetWriteBuffer(socketBuffer)
	}
}

// ListenUDP opens a UDP socket with the larger buffers.
func (n tunedNet) ListenUDP(network string, laddr *net.UDPAddr) (pionnet.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err == nil {
		tuneUDP(c)
	}
	return c, err
}

// ListenPacket opens a packet socket with the larger buffers.
func (n tunedNet) ListenPacket(network, address string) (net.PacketConn, error) {
	c, err := n.Net.ListenPacket(network, address)
	if err == nil {
		tuneUDP(c)
	}
	return c, err
}
