package memlink

// Anchors, moves, and connecting two endpoints whichever comes second.

import "net/netip"

// anchorState is what an anchor keeps for memlink: the certificate and
// the address, the same for every link of the anchor until Move.
type anchorState struct {
	cert [32]byte
	addr netip.AddrPort
}

func (*anchorState) Close() error { return nil }

// Move gives the anchor whose links are at addr a new address (a host
// that changed networks): its open channel fails on its side (reads and
// writes return an error, as the moved host's own link notices), while
// on the peer's side it goes silent (what either sends is lost), as a
// path whose far end went away. Later links of the anchor have the new
// address. It returns the new address, or false when no anchor is at
// addr.
func (n *Network) Move(addr netip.AddrPort) (netip.AddrPort, bool) {
	n.mu.Lock()
	a := n.anchors[addr]
	if a == nil || n.nextPort == 0 {
		n.mu.Unlock()
		return netip.AddrPort{}, false
	}
	na := netip.AddrPortFrom(addr.Addr(), n.nextPort)
	n.nextPort++
	delete(n.anchors, addr)
	n.anchors[na] = a
	e := n.endpoints[addr]
	delete(n.endpoints, addr)
	n.mu.Unlock()
	st, err := a.State(nil)
	if err == nil {
		n.mu.Lock()
		st.(*anchorState).addr = na
		n.mu.Unlock()
	}
	if e != nil {
		e.mu.Lock()
		ch := e.ch
		e.mu.Unlock()
		if ch != nil {
			ch.breakLocal()
		}
	}
	return na, true
}
