package relay

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// tcpListener accepts TURN-over-TCP connections for pion/turn. It bounds
// the connections per source address, closes a connection that has not
// made an authenticated allocation within Config.TCPAuthTimeout, closes one
// that has been silent for Config.TCPIdleTimeout, and remembers open
// connections so that Close can end them (pion/turn closes only the
// listener).
type tcpListener struct {
	net.Listener
	s *Server
}

func (l *tcpListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := sourceIP(c.RemoteAddr())
		l.s.mu.Lock()
		full := l.s.perSource[src] >= l.s.cfg.MaxTCPPerSource
		if !full {
			l.s.perSource[src]++
		}
		l.s.mu.Unlock()
		if full {
			l.s.log.Debug("relay: refusing a TCP connection: too many from its source", "source", src, "limit", l.s.cfg.MaxTCPPerSource)
			c.Close()
			continue
		}
		tc := &trackedConn{Conn: c, s: l.s, src: src}
		// The first authenticated allocation must come within the
		// handshake deadline, however many bytes arrive before it.
		c.SetReadDeadline(time.Now().Add(l.s.cfg.TCPAuthTimeout))
		l.s.mu.Lock()
		l.s.tcp[tc] = struct{}{}
		l.s.byRemote[c.RemoteAddr().String()] = tc
		l.s.mu.Unlock()
		return tc, nil
	}
}

func sourceIP(a net.Addr) netip.Addr {
	if t, ok := a.(*net.TCPAddr); ok {
		return sourceKey(t.AddrPort().Addr())
	}
	return netip.Addr{}
}

// sourceKey is what per-source limits count by: an IPv4 address, or an
// IPv6 address's /64 (one host or network usually holds a whole /64, so a
// limit per /128 would be no limit).
func sourceKey(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		p, err := a.Prefix(64)
		if err == nil {
			return p.Addr()
		}
	}
	return a
}

type trackedConn struct {
	net.Conn
	s      *Server
	src    netip.Addr
	authed atomic.Bool
	once   sync.Once
}

// authenticated marks the connection as having made an allocation: from
// now on only the idle timeout applies.
func (c *trackedConn) authenticated() {
	c.authed.Store(true)
	c.Conn.SetReadDeadline(time.Now().Add(c.s.cfg.TCPIdleTimeout))
}

func (c *trackedConn) Read(b []byte) (int, error) {
	if c.authed.Load() {
		c.Conn.SetReadDeadline(time.Now().Add(c.s.cfg.TCPIdleTimeout))
	}
	n, err := c.Conn.Read(b)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		if c.authed.Load() {
			c.s.log.Debug("relay: closing an idle TCP connection", "remote", c.RemoteAddr())
		} else {
			c.s.log.Debug("relay: closing a TCP connection that made no allocation in time", "remote", c.RemoteAddr())
		}
	}
	return n, err
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.s.mu.Lock()
		delete(c.s.tcp, c)
		if c.s.byRemote[c.RemoteAddr().String()] == c {
			delete(c.s.byRemote, c.RemoteAddr().String())
		}
		c.s.perSource[c.src]--
		if c.s.perSource[c.src] <= 0 {
			delete(c.s.perSource, c.src)
		}
		c.s.mu.Unlock()
	})
	return c.Conn.Close()
}
