package relay

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"

	"golang.org/x/time/rate"
)

// Unauthenticated replies over UDP go to an address nobody has proven to
// own, so they are a reflection source. The relay's UDP socket is wrapped
// so that
//   - an unauthenticated request (no MESSAGE-INTEGRITY) gets a reply only
//     if it is a Binding request or an Allocate request carrying
//     REQUESTED-TRANSPORT (at least 28 bytes); other unauthenticated
//     requests are dropped unanswered;
//   - replies without MESSAGE-INTEGRITY are rate-limited per destination
//     address and in total.
const (
	stunHeaderLen        = 20
	stunMagicCookie      = 0x2112A442
	attrMessageIntegrity = 0x0008
	attrMIntegritySHA256 = 0x001C
	attrRequestedTransp  = 0x0019
	methodBinding        = 0x001
	methodAllocate       = 0x003
	classRequest         = 0
	classErrorResponse   = 3

	// UnauthRepliesPerSecond and UnauthReplyBurst bound the replies without
	// MESSAGE-INTEGRITY sent to one IP address; UnauthRepliesTotal and
	// UnauthReplyTotalBurst bound them over all addresses.
	UnauthRepliesPerSecond = 10
	UnauthReplyBurst       = 20
	UnauthRepliesTotal     = 1000
	UnauthReplyTotalBurst  = 2000
	unauthTracked          = 4096
)

// stunMessage splits a STUN message into its class, method and
// attributes; ok is false for anything else (ChannelData, junk).
func stunMessage(b []byte) (class, method int, attrs map[uint16][]byte, order []uint16, ok bool) {
	if len(b) < stunHeaderLen || b[0]&0xC0 != 0 || binary.BigEndian.Uint32(b[4:8]) != stunMagicCookie {
		return 0, 0, nil, nil, false
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if n%4 != 0 || stunHeaderLen+n != len(b) {
		return 0, 0, nil, nil, false
	}
	t := int(binary.BigEndian.Uint16(b[0:2]))
	class = (t>>4)&1 | (t>>7)&2
	method = t&0xF | (t>>1)&0x70 | (t>>2)&0xF80
	attrs = map[uint16][]byte{}
	for p := stunHeaderLen; p < len(b); {
		if p+4 > len(b) {
			return 0, 0, nil, nil, false
		}
		at, al := binary.BigEndian.Uint16(b[p:]), int(binary.BigEndian.Uint16(b[p+2:]))
		end := p + 4 + al
		if end > len(b) {
			return 0, 0, nil, nil, false
		}
		if _, dup := attrs[at]; !dup {
			attrs[at] = b[p+4 : end]
			order = append(order, at)
		}
		p = end + (4-al%4)%4
	}
	return class, method, attrs, order, true
}

func authenticated(attrs map[uint16][]byte) bool {
	_, a := attrs[attrMessageIntegrity]
	_, b := attrs[attrMIntegritySHA256]
	return a || b
}

// guardedConn wraps the relay's UDP socket.
type guardedConn struct {
	net.PacketConn
	lim *replyLimiter
}

func (c *guardedConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		if err != nil || !dropUnauthenticated(b[:n]) {
			return n, addr, err
		}
	}
}

// dropUnauthenticated reports whether an incoming packet is an
// unauthenticated request that gets no reply.
func dropUnauthenticated(b []byte) bool {
	class, method, attrs, _, ok := stunMessage(b)
	if !ok || class != classRequest || authenticated(attrs) {
		return false
	}
	switch method {
	case methodBinding:
		return false
	case methodAllocate:
		_, has := attrs[attrRequestedTransp]
		return !has
	}
	return true
}

func (c *guardedConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	_, _, attrs, _, ok := stunMessage(b)
	if !ok || authenticated(attrs) {
		return c.PacketConn.WriteTo(b, addr)
	}
	u, isUDP := addr.(*net.UDPAddr)
	if !isUDP || !c.lim.allow(sourceKey(u.AddrPort().Addr())) {
		return len(b), nil // dropped, as the network might
	}
	return c.PacketConn.WriteTo(b, addr)
}

// replyLimiter holds per-address token buckets (bounded in number) and a
// total one.
type replyLimiter struct {
	mu    sync.Mutex
	total *rate.Limiter
	per   map[netip.Addr]*rate.Limiter
}

func newReplyLimiter() *replyLimiter {
	return &replyLimiter{
		total: rate.NewLimiter(UnauthRepliesTotal, UnauthReplyTotalBurst),
		per:   map[netip.Addr]*rate.Limiter{},
	}
}

func (l *replyLimiter) allow(a netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	r, ok := l.per[a]
	if !ok {
		if len(l.per) >= unauthTracked {
			// Forget addresses whose bucket has refilled: they are
			// where a fresh one would start.
			for k, v := range l.per {
				if v.Tokens() >= UnauthReplyBurst {
					delete(l.per, k)
				}
			}
			if len(l.per) >= unauthTracked {
				return false
			}
		}
		r = rate.NewLimiter(UnauthRepliesPerSecond, UnauthReplyBurst)
		l.per[a] = r
	}
	return r.Allow() && l.total.Allow()
}
