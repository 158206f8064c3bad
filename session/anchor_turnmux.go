//go:build !js

package session

// How the anchor's allocations (anchor_turn.go) meet pion: the relayed
// connection as the allocation's mux reads it, the mux of a link on the
// allocations, and the relabelling of their addresses in the link's
// description.

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/turn/v5"

	"github.com/sp2p/sp2p/invite"
)

// relayedConn is an allocation's relayed connection as the mux reads it:
// it calls the anchor's knock, marks the allocation dead when it fails,
// drops datagrams as a test's faults say, and closes the client and its
// socket with it.
type relayedConn struct {
	net.PacketConn
	alloc  *turnAlloc
	knock  *knocker
	faults *netFaults
	client *turn.Client
	sock   net.PacketConn
	once   sync.Once
}

// ReadFrom reads the next datagram relayed from a peer.
func (c *relayedConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		if err != nil {
			c.alloc.dead.Store(true)
			return n, addr, err
		}
		if c.faults != nil && c.faults.cut.Load() {
			continue
		}
		c.knock.check(b[:n])
		return n, addr, nil
	}
}

// WriteTo sends a datagram through the relay (the TURN client makes the
// permission for addr's IP first).
func (c *relayedConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.faults != nil && c.faults.drop() {
		return len(b), nil
	}
	return c.PacketConn.WriteTo(b, addr)
}

// Close releases the allocation and closes the client and its socket.
func (c *relayedConn) Close() error {
	var err error
	c.once.Do(func() {
		err = c.PacketConn.Close()
		c.client.Close()
		c.sock.Close()
	})
	return err
}

// relabelRelayed makes the candidates of d at relayed addresses relay
// candidates, after the others (RFC 8445's type preferences): pion
// gathered them as addresses of the mux.
func relabelRelayed(d *invite.ConnDesc, isRelayed func(netip.AddrPort) bool) {
	var rest, relays []invite.Candidate
	for _, c := range d.Candidates {
		if !c.TCP && c.Type == invite.Host && isRelayed(c.Addr) {
			c.Type = invite.Relay
			relays = append(relays, c)
			continue
		}
		rest = append(rest, c)
	}
	if len(relays) == 0 {
		return
	}
	d.Candidates = append(rest, relays...)
}

// slogPionFactory makes slogPion loggers.
type slogPionFactory struct{ log *slog.Logger }

func (f slogPionFactory) NewLogger(scope string) logging.LeveledLogger {
	return slogPion{f.log.With("scope", scope)}
}

// relayMux is the mux of a relay-only link on the anchor's relays: its
// addresses are the relayed addresses of the anchor's allocations, and
// a connection on one is that allocation's.
type relayMux struct {
	*anchorMux
	relays *anchorRelays
}

var _ ice.UDPMux = (*relayMux)(nil)

// GetConn returns the link's connection on the allocation at addr.
func (m *relayMux) GetConn(ufrag string, addr net.Addr) (net.PacketConn, error) {
	a := m.relays.find(addr)
	if a == nil {
		return nil, fmt.Errorf("%w: %v is no relayed address of the session's", errTURN, addr)
	}
	m.knock.linkMade(ufrag)
	return a.mux.GetConn(ufrag, addr)
}

// RemoveConnByUfrag forgets a closed link.
func (m *relayMux) RemoveConnByUfrag(ufrag string) {
	m.anchorMux.RemoveConnByUfrag(ufrag)
	for _, a := range m.relays.current() {
		a.mux.RemoveConnByUfrag(ufrag)
	}
}

// GetListenAddresses lists the relayed addresses.
func (m *relayMux) GetListenAddresses() []net.Addr {
	var out []net.Addr
	for _, a := range m.relays.current() {
		out = append(out, a.relayed)
	}
	return out
}
