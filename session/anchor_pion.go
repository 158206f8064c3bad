//go:build !js

package session

// What the successive pion links of one session share (link.Anchor): one
// DTLS certificate, so that every link has the same fingerprint, and the
// local UDP sockets, so that every link is found at the same ports. The
// sockets are bound to the unspecified address (0.0.0.0, [::]), so they
// outlive a change of the host's addresses, and shared by the links
// through pion's UDP mux, which routes each datagram to the link whose
// ICE username fragment it names (or whose peer's address it came from).

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	pionnet "github.com/pion/transport/v5"
	"github.com/pion/webrtc/v4"

	"github.com/sp2p/sp2p/link"
)

// errAnchorKind: the anchor holds another link kind's state.
var errAnchorKind = errors.New("session: the link anchor holds another kind of link's state")

// anchorState is a pion link's state in a link.Anchor.
type anchorState struct {
	cert webrtc.Certificate
	// mux is nil when the links run on a test network (pion vnet): the
	// certificate is kept, the sockets are the vnet's.
	mux *anchorMux
	// relays is the anchor's TURN allocations (anchor_turn.go), nil
	// without a mux or without a UDP TURN server.
	relays *anchorRelays
}

// Close closes the sockets and releases the allocations; links still
// open on them fail.
func (s *anchorState) Close() error {
	if s.mux == nil {
		return nil
	}
	return errors.Join(s.relays.close(), s.mux.close())
}

// pionAnchor returns the state of cfg's anchor for a pion link made with
// opts, making it on first use (nil without an anchor).
func pionAnchor(opts *Options, a *link.Anchor) (*anchorState, error) {
	if a == nil {
		return nil, nil
	}
	st, err := a.State(func() (io.Closer, error) { return newAnchorState(opts, a) })
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	s, ok := st.(*anchorState)
	if !ok {
		return nil, errAnchorKind
	}
	return s, nil
}

func newAnchorState(opts *Options, a *link.Anchor) (*anchorState, error) {
	// The certificate's key (ECDSA P-256, as pion's default) lives as
	// long as the session: its fingerprint is what the peer's signed
	// token names.
	cert, err := generateCertificate()
	if err != nil {
		return nil, fmt.Errorf("session: making the DTLS certificate: %w", err)
	}
	s := &anchorState{cert: cert}
	if opts.testNet != nil {
		return s, nil
	}
	if s.mux, err = newAnchorMux(opts, a); err != nil {
		return nil, err
	}
	s.relays = newAnchorRelays(opts, s.mux.knock)
	return s, nil
}

// anchorMux is the anchor's UDP sockets (one per address family) behind
// one ice.UDPMux. It gathers the host candidates the link's options ask
// for: pion's mux on an unspecified socket lists every address of every
// up interface, loopback included, and ignores the IP filter.
type anchorMux struct {
	v4, v6       *ice.UDPMuxDefault
	socks        []*anchorConn
	knock        *knocker
	loopbackOnly bool
	loopback     bool
	log          *slog.Logger
}

var _ ice.UDPMux = (*anchorMux)(nil)

func newAnchorMux(opts *Options, a *link.Anchor) (*anchorMux, error) {
	n, err := processNet()
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	k := &knocker{anchor: a, links: map[string]bool{}}
	m := &anchorMux{knock: k, loopbackOnly: opts.LoopbackOnly, loopback: opts.LoopbackOnly || opts.IncludeLoopback, log: opts.logger()}
	families := []string{"udp4"}
	if !opts.UDP4Only {
		families = append(families, "udp6")
	}
	for _, fam := range families {
		ip := net.IPv4zero
		if fam == "udp6" {
			ip = net.IPv6unspecified
		}
		u, err := net.ListenUDP(fam, &net.UDPAddr{IP: ip})
		if err != nil {
			if fam == "udp6" && m.v4 != nil {
				// A host without IPv6 (or a namespace with it off) still
				// gets IPv4 links.
				opts.logger().Debug("no IPv6 socket for the session's links", "err", err)
				continue
			}
			m.close()
			return nil, fmt.Errorf("session: opening the session's UDP socket: %w", err)
		}
		u.SetReadBuffer(socketBuffer)
		u.SetWriteBuffer(socketBuffer)
		c := &anchorConn{UDPConn: u, faults: opts.faults, knock: k, refl: newReflector()}
		m.socks = append(m.socks, c)
		mux := ice.NewUDPMuxDefault(ice.UDPMuxParams{
			UDPConn: c,
			Net:     n,
			Logger:  muxLogger(opts.logger()),
		})
		if fam == "udp4" {
			m.v4 = mux
		} else {
			m.v6 = mux
		}
	}
	return m, nil
}

// GetConn returns the link's connection on the socket of addr's family.
func (m *anchorMux) GetConn(ufrag string, addr net.Addr) (net.PacketConn, error) {
	u, ok := addr.(*net.UDPAddr)
	if !ok {
		return nil, fmt.Errorf("session: not a UDP address: %v", addr)
	}
	m.knock.linkMade(ufrag)
	if u.IP.To4() != nil {
		if m.v4 == nil {
			return nil, errors.New("session: no IPv4 socket")
		}
		return m.v4.GetConn(ufrag, addr)
	}
	if m.v6 == nil {
		return nil, errors.New("session: no IPv6 socket")
	}
	return m.v6.GetConn(ufrag, addr)
}

// RemoveConnByUfrag forgets a closed link.
func (m *anchorMux) RemoveConnByUfrag(ufrag string) {
	m.knock.linkGone(ufrag)
	for _, mux := range []*ice.UDPMuxDefault{m.v4, m.v6} {
		if mux != nil {
			mux.RemoveConnByUfrag(ufrag)
		}
	}
}

// GetListenAddresses lists the host candidates: this host's current
// addresses (read again for every link, so a link made after an address
// change has the new ones) at the socket's port, by the options' loopback
// rules.
func (m *anchorMux) GetListenAddresses() []net.Addr {
	var out []net.Addr
	for _, mux := range []*ice.UDPMuxDefault{m.v4, m.v6} {
		if mux == nil {
			continue
		}
		for _, a := range mux.GetListenAddresses() {
			u, ok := a.(*net.UDPAddr)
			if !ok || u.IP.IsUnspecified() || (u.IP.To4() != nil) != (mux == m.v4) {
				// The dual-stack listing of the v6 socket also names IPv4
				// addresses, which that socket does not receive on.
				continue
			}
			if lo := u.IP.IsLoopback(); (m.loopbackOnly && !lo) || (lo && !m.loopback) {
				continue
			}
			out = append(out, u)
		}
	}
	return out
}

// Close does nothing: a link's agent does not own the anchor's sockets
// (it removes its connection with RemoveConnByUfrag).
func (m *anchorMux) Close() error { return nil }

func (m *anchorMux) close() error {
	var errs []error
	for _, mux := range []*ice.UDPMuxDefault{m.v4, m.v6} {
		if mux != nil {
			errs = append(errs, mux.Close())
		}
	}
	if m.v4 == nil && m.v6 == nil {
		for _, c := range m.socks {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}

// ports returns the local port of each socket (tests).
func (m *anchorMux) ports() []int {
	var p []int
	for _, c := range m.socks {
		p = append(p, c.LocalAddr().(*net.UDPAddr).Port)
	}
	return p
}

// anchorConn is one of the anchor's sockets as the mux reads it: it calls
// the anchor's knock, takes the responses to the anchor's STUN queries
// off it, and drops datagrams as a test's faults say.
type anchorConn struct {
	*net.UDPConn
	faults *netFaults
	knock  *knocker
	refl   *reflector
}

// ReadFromAddrPort reads the next datagram (the mux's allocation-free
// path, ice.AddrPortReaderWriter).
func (c *anchorConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	for {
		n, addr, err := c.UDPConn.ReadFromUDPAddrPort(b)
		if err != nil {
			return n, addr, err
		}
		if c.faults != nil && c.faults.cut.Load() {
			continue
		}
		if c.refl.take(b[:n], addr) {
			continue
		}
		c.knock.check(b[:n])
		return n, addr, nil
	}
}

// ReadFrom reads the next datagram.
func (c *anchorConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.ReadFromAddrPort(b)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(addr), nil
}

// WriteToAddrPort sends a datagram.
func (c *anchorConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	if c.faults != nil && c.faults.drop() {
		return len(b), nil
	}
	return c.UDPConn.WriteToUDPAddrPort(b, addr)
}

// WriteTo sends a datagram.
func (c *anchorConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.faults != nil && c.faults.drop() {
		return len(b), nil
	}
	return c.UDPConn.WriteTo(b, addr)
}

// knocker calls the anchor's knock function (link.Anchor.SetKnock) for
// the first connectivity check naming its fragment while no link of the
// anchor has that fragment. It is called once per fragment: a second
// SetKnock with the fragment that knocked does not call again (a session
// knocks for a new fragment at every attempt).
type knocker struct {
	anchor *link.Anchor
	mu     sync.Mutex
	fired  string          // the fragment whose function was called
	links  map[string]bool // the fragments of the anchor's links
}

func (k *knocker) linkMade(ufrag string) {
	k.mu.Lock()
	k.links[ufrag] = true
	k.mu.Unlock()
}

func (k *knocker) linkGone(ufrag string) {
	k.mu.Lock()
	delete(k.links, ufrag)
	k.mu.Unlock()
}

// check looks at one received datagram. Only a STUN message (first byte
// below 4, the magic cookie at bytes 4 to 7) is parsed, so data costs a
// comparison of five bytes.
func (k *knocker) check(p []byte) {
	if len(p) < stunHeader || p[0] >= 4 || [4]byte(p[4:8]) != stunCookie {
		return
	}
	ufrag, fn := k.anchor.Knock()
	if ufrag == "" || fn == nil {
		return
	}
	user, ok := stunUsername(p)
	if !ok || len(user) <= len(ufrag) || string(user[:len(ufrag)]) != ufrag || user[len(ufrag)] != ':' {
		return
	}
	k.mu.Lock()
	first := k.fired != ufrag && !k.links[ufrag]
	if first {
		k.fired = ufrag
	}
	k.mu.Unlock()
	if first {
		go fn() // not on the socket's read loop
	}
}

// STUN (RFC 8489) as the knock reads it.
const (
	stunHeader       = 20
	stunBindingReq   = 0x0001
	stunAttrUsername = 0x0006
	// stunMaxUsername is RFC 8489's bound on USERNAME (513 bytes).
	stunMaxUsername = 513
)

var stunCookie = [4]byte{0x21, 0x12, 0xa4, 0x42}

// stunUsername returns the USERNAME of a STUN binding request, false if p
// is not a well-formed one: the header's length must be a multiple of 4
// and equal the rest of p, every attribute must fit in it, and USERNAME
// must be at most 513 bytes. It reads at most the message's own bytes.
func stunUsername(p []byte) ([]byte, bool) {
	if len(p) < stunHeader || [4]byte(p[4:8]) != stunCookie {
		return nil, false
	}
	if typ := int(p[0])<<8 | int(p[1]); typ != stunBindingReq {
		return nil, false
	}
	size := int(p[2])<<8 | int(p[3])
	if size%4 != 0 || size != len(p)-stunHeader {
		return nil, false
	}
	for rest := p[stunHeader:]; len(rest) >= 4; {
		typ, n := int(rest[0])<<8|int(rest[1]), int(rest[2])<<8|int(rest[3])
		padded := (n + 3) &^ 3
		if padded > len(rest)-4 {
			return nil, false
		}
		if typ == stunAttrUsername {
			if n > stunMaxUsername {
				return nil, false
			}
			return rest[4 : 4+n], true
		}
		rest = rest[4+padded:]
	}
	return nil, false
}

// generateCertificate makes a DTLS certificate as pion does by default.
func generateCertificate() (webrtc.Certificate, error) {
	key, err := ecdsaKey()
	if err != nil {
		return webrtc.Certificate{}, err
	}
	c, err := webrtc.GenerateCertificate(key)
	if err != nil {
		return webrtc.Certificate{}, err
	}
	return *c, nil
}

// muxLogger sends the mux's warnings and errors to log at debug level:
// pion warns once per socket that a mux on an unspecified address lists
// every interface, which is what the anchor wants (it filters the list).
func muxLogger(log *slog.Logger) logging.LeveledLogger {
	return slogPion{log.With("pion", "ice-mux")}
}

// slogPion is a pion logger writing to slog at debug level.
type slogPion struct{ log *slog.Logger }

func (l slogPion) Trace(string)          {}
func (l slogPion) Tracef(string, ...any) {}
func (l slogPion) Debug(string)          {}
func (l slogPion) Debugf(string, ...any) {}
func (l slogPion) Info(string)           {}
func (l slogPion) Infof(string, ...any)  {}
func (l slogPion) Warn(m string)         { l.log.Debug(m) }
func (l slogPion) Warnf(f string, a ...any) {
	l.log.Debug(fmt.Sprintf(f, a...))
}
func (l slogPion) Error(m string) { l.log.Debug(m) }
func (l slogPion) Errorf(f string, a ...any) {
	l.log.Debug(fmt.Sprintf(f, a...))
}

// Compile-time checks of what the mux relies on.
var (
	_ ice.AddrPortReaderWriter = (*anchorConn)(nil)
	_ net.PacketConn           = (*anchorConn)(nil)
	_ pionnet.Net              = (*liveNet)(nil)
)

func ecdsaKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

// configure makes a link use the anchor: its certificate, its sockets (on
// the host's network), and connectivity checks that go on for the connect
// timeout (at most a minute), not pion's seven (1.6 s): a resuming side may start seconds
// before its peer listens, and a pair pion gave up on stays failed even
// when the peer's own checks arrive later. A link on the anchor's relays
// (relayed) has their relayed addresses for its only addresses.
func (s *anchorState) configure(se *webrtc.SettingEngine, conf *webrtc.Configuration, connect time.Duration, relayed bool) {
	conf.Certificates = []webrtc.Certificate{s.cert}
	switch {
	case s.mux != nil && relayed:
		se.SetICEUDPMux(&relayMux{anchorMux: s.mux, relays: s.relays})
	case s.mux != nil:
		se.SetICEUDPMux(s.mux)
	}
	se.SetICEMaxBindingRequests(uint16(min(connect, maxCheckingFor) / iceCheckInterval))
}

// maxCheckingFor bounds how long a link's pairs are checked while it
// connects (every iceCheckInterval, each): an invitation's answerer may
// wait minutes for its answer to be pasted, and a resuming side needs
// seconds.
const maxCheckingFor = time.Minute

// iceCheckInterval is pion's interval between checks of a pair while
// connecting.
const iceCheckInterval = 200 * time.Millisecond
