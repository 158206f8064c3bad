//go:build !js

package session

// This file and tune.go are the only places that touch pion's native
// build (link_js.go is the browser's). They make the default link.Link:
// everything above it (the handshake, the record layer, the Session API)
// talks to a link and the message channel it opens.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/datachannel"
	"github.com/pion/ice/v4"
	pionnet "github.com/pion/transport/v5"
	"github.com/pion/webrtc/v4"

	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/link"
)

// peerConn is a pion PeerConnection with sp2p's one negotiated data
// channel.
type peerConn struct {
	pc     *webrtc.PeerConnection
	dc     *webrtc.DataChannel
	opened chan struct{} // closed once the channel is open and detached
	raw    datachannel.ReadWriteCloserDeadliner
	failed chan struct{} // closed when the connection fails or closes
	once   sync.Once

	extraChannels atomic.Int64 // in-band channels the peer opened (and we closed)

	remoteFingerprint [32]byte    // from the peer's signed token, set by setRemote
	iceConnected      atomic.Bool // ICE reached the peer at least once
	mangleLocal       func(*invite.ConnDesc)
	onNetwork         func(link.Event)
	// reflexive, for a link on an anchor's sockets, learns their NAT
	// mappings (the link's server-reflexive candidates).
	reflexive func(context.Context) []netip.AddrPort
	// relays, for a relay-only link on an anchor with TURN servers, is
	// the anchor's allocations, checked before the link gathers.
	relays *anchorRelays
}

var _ link.Link = (*peerConn)(nil)

// pionLink makes the default link for opts: a pion PeerConnection on the
// host's network with sp2p's transport settings.
func pionLink(opts *Options) link.Maker {
	return func(cfg link.Config) (link.Link, error) {
		return newPeerConnTuned(opts, cfg, true)
	}
}

// Offer creates the offer and gathers every candidate.
func (p *peerConn) Offer(ctx context.Context) (*invite.ConnDesc, error) { return offerDesc(ctx, p) }

// Answer applies the offer, creates the answer and gathers every
// candidate.
func (p *peerConn) Answer(ctx context.Context, offer *invite.ConnDesc) (*invite.ConnDesc, error) {
	return answerDesc(ctx, p, offer)
}

func (p *peerConn) peerConnection() *webrtc.PeerConnection { return p.pc }

// Apply applies the answer.
func (p *peerConn) Apply(answer *invite.ConnDesc) error {
	return p.setRemote(webrtc.SDPTypeAnswer, answer)
}

// Open waits for the data channel.
func (p *peerConn) Open(ctx context.Context) (link.Channel, error) { return p.waitOpen(ctx) }

// Close closes the PeerConnection.
func (p *peerConn) Close() error { return p.pc.Close() }

// iceCredentials returns random ICE credentials of the size sp2p's derived
// ones have: an 8-character ufrag (48 bits) and a 22-character password
// (132 bits), from the ICE character set. Only a link made without
// credentials (a benchmark of the bare transport) uses them: a token
// carries none, so sessions set the ones derived from the ephemeral key.
func iceCredentials() (string, string, error) {
	b := make([]byte, 6+17)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	return base64.RawStdEncoding.EncodeToString(b[:6]), base64.RawStdEncoding.EncodeToString(b[6:])[:invite.MinPwdLen], nil
}

// linkSeq numbers the process's links in the debug log (a process with a
// room or a group makes many).
var linkSeq atomic.Uint64

// dtlsRetransmit is the DTLS handshake's first retransmission timeout
// (pion's default is 1 s).
const dtlsRetransmit = 200 * time.Millisecond

// newPeerConnTuned builds a PeerConnection for opts and cfg.
// cfg.ConnectTimeout is how long ICE may go without connectivity before
// giving up: for the answerer, the whole remaining lifetime of the
// invitation (people paste answers slowly). tuned=false keeps pion's
// default transport settings (for benchmarks against plain pion).
func newPeerConnTuned(opts *Options, cfg link.Config, tuned bool) (*peerConn, error) {
	ch, iceFailed := cfg.Channel, cfg.ConnectTimeout
	if iceFailed <= 0 {
		iceFailed = 30 * time.Second
	}
	ufrag, pwd := cfg.ICEUfrag, cfg.ICEPwd
	if ufrag == "" && pwd == "" {
		var err error
		if ufrag, pwd, err = iceCredentials(); err != nil {
			return nil, err
		}
	}
	anchor, err := pionAnchor(opts, cfg.Anchor)
	if err != nil {
		return nil, err
	}
	var se webrtc.SettingEngine
	se.DetachDataChannels()
	se.EnableDataChannelBlockWrite(true)
	se.SetICECredentials(ufrag, pwd)
	// A browser peer's host candidates are mDNS names (<uuid>.local):
	// resolve them, but gather none (tokens carry this side's addresses).
	// Where the multicast sockets cannot be opened or joined (no
	// multicast route, a namespace), pion goes on without mDNS: such
	// candidates are then not reachable, the others are.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeQueryOnly)
	if opts.testNet != nil {
		// pion's virtual network has no multicast (its mDNS reader would
		// spin on a socket it cannot read control messages from).
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	}
	se.SetSTUNGatherTimeout(3 * time.Second)
	se.SetICETimeouts(5*time.Second, iceFailed, 2*time.Second)
	types := []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
	if !opts.UDP4Only {
		types = append(types, webrtc.NetworkTypeUDP6)
	}
	se.SetNetworkTypes(types)
	if opts.LoopbackOnly || opts.IncludeLoopback {
		se.SetIncludeLoopbackCandidate(true)
	}
	if opts.LoopbackOnly {
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	}
	if tuned {
		// pion/sctp doubles its retransmission timeout up to 60 s. After a
		// few seconds of outage the next retransmission could then come
		// long after the network is back, and the heartbeat would call the
		// peer lost (seen in the namespace outage test). 3 s bounds it.
		se.SetSCTPRTOMax(3 * time.Second)
		// pion's DTLS retransmits a lost handshake flight after 1 s and
		// doubles the wait each time (up to 60 s): through 10 % loss,
		// where about one flight exchange in five loses a datagram, four
		// losses in a row cost 15 s and five 31 s (seen in the lossy
		// connect soak: DTLS connected 15 s after ICE on one side). The
		// flights are a few KiB and the doubling stays; starting at
		// 200 ms makes those 3 s and 6 s. A path whose round trip is
		// longer sends a flight more than once before the answer comes
		// (three times at 600 ms).
		se.SetDTLSRetransmissionInterval(dtlsRetransmit)
		// After a loss pion/sctp halves its congestion window down to four
		// packets, and after a retransmission timeout to one. With so few
		// packets in flight a lost packet is rarely followed by the three
		// later ones that fast retransmit and RACK need to detect it, so
		// most losses wait for a retransmission timeout, at least 1 s in
		// pion: 10 % loss cut a stream to 35-53 KiB/s. A floor of 16 KiB
		// (about TCP's initial window, RFC 6928) keeps enough in flight
		// for those to work: 300-650 KiB/s under the same loss
		// (TestLossyStreamIntact, BENCHMARKS.md).
		if !opts.noCwndFloor {
			se.SetSCTPMinCwnd(sctpMinCwnd)
		}
		var n pionnet.Net = opts.testNet
		if n == nil {
			var err error
			if n, err = newTunedNet(opts.faults); err != nil {
				return nil, fmt.Errorf("session: %w", err)
			}
		}
		se.SetNet(anchor.linkNet(n))
	}
	iceServers := opts.ICEServers
	var relays *anchorRelays
	if anchor != nil && anchor.mux != nil {
		// The anchor finds the server-reflexive candidates of its own
		// sockets (anchor_stun.go); pion's would be on sockets of the
		// link's own, whose NAT mappings die with it.
		iceServers = withoutSTUN(iceServers)
		if opts.RelayOnly && anchor.relays != nil {
			// A relay-only link uses the anchor's allocations on the UDP
			// TURN servers (anchor_turn.go), which outlive it; pion's
			// would be the link's own. TCP TURN stays pion's.
			iceServers = withoutUDPTURN(iceServers)
			relays = anchor.relays
		}
	}
	var servers []webrtc.ICEServer
	for _, s := range iceServers {
		servers = append(servers, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	conf := webrtc.Configuration{ICEServers: servers}
	if anchor != nil {
		anchor.configure(&se, &conf, iceFailed, relays != nil)
	}
	if opts.RelayOnly && relays == nil {
		// (A link on the anchor's relays gathers pion's "host"
		// candidates from the mux, which lists only the relayed
		// addresses, and pion's relay candidates of TCP TURN servers.)
		conf.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(conf)
	if err != nil {
		return nil, fmt.Errorf("session: creating the peer connection: %w", err)
	}
	p := &peerConn{pc: pc, opened: make(chan struct{}), failed: make(chan struct{}), mangleLocal: opts.mangleLocalDesc, onNetwork: cfg.OnNetwork, reflexive: anchor.reflexiveFor(opts), relays: relays}
	negotiated, id := true, uint16(0)
	ordered := !ch.Unordered
	init := &webrtc.DataChannelInit{Negotiated: &negotiated, ID: &id, Ordered: &ordered}
	if ch.PartialReliability {
		mr := uint16(ch.MaxRetransmits)
		init.MaxRetransmits = &mr
	}
	dc, err := pc.CreateDataChannel("sp2p", init)
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("session: creating the data channel: %w", err)
	}
	p.dc = dc
	// The connecting phases in the debug log, each with the time since
	// the link was made: ICE, then DTLS (the connection's state), then
	// SCTP (the channel opens). Through loss each retransmits with its
	// own timers.
	log, made := opts.logger().With("link", linkSeq.Add(1)), time.Now()
	since := func() time.Duration { return time.Since(made).Round(time.Millisecond) }
	dc.OnOpen(func() {
		log.Debug("link: data channel open", "after", since())
		raw, err := dc.DetachWithDeadline()
		if err != nil {
			p.fail()
			return
		}
		p.raw = raw
		close(p.opened)
	})
	// sp2p uses exactly one negotiated channel. Channels the peer opens
	// in-band are closed at once, so a hostile peer cannot make us hold
	// state for thousands of them.
	pc.OnDataChannel(func(extra *webrtc.DataChannel) {
		p.extraChannels.Add(1)
		extra.Close()
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		log.Debug("link: connection", "state", s.String(), "after", since())
		if s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateClosed {
			p.fail()
		}
	})
	// Report outages of an open connection and their end.
	var down atomic.Bool
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		log.Debug("link: ICE", "state", s.String(), "after", since())
		if s == webrtc.ICEConnectionStateConnected || s == webrtc.ICEConnectionStateCompleted {
			p.iceConnected.Store(true)
		}
		if p.onNetwork == nil || !isClosed(p.opened) {
			return
		}
		switch s {
		case webrtc.ICEConnectionStateDisconnected:
			if down.CompareAndSwap(false, true) {
				p.onNetwork(link.Interrupted)
			}
		case webrtc.ICEConnectionStateConnected, webrtc.ICEConnectionStateCompleted:
			if down.CompareAndSwap(true, false) {
				p.onNetwork(link.Recovered)
			}
		}
	})
	return p, nil
}

func (p *peerConn) fail() { p.once.Do(func() { close(p.failed) }) }

// gather gathers every candidate and returns this side's description.
func (p *peerConn) gather(ctx context.Context, desc webrtc.SessionDescription) (*invite.ConnDesc, error) {
	var mapped chan []netip.AddrPort
	if p.reflexive != nil {
		// Beside pion's gathering: both are bounded by the STUN gather
		// timeout.
		mapped = make(chan []netip.AddrPort, 1)
		go func() { mapped <- p.reflexive(ctx) }()
	}
	if p.relays != nil {
		p.relays.ensure(ctx)
	}
	d, err := gatherLocal(ctx, p.pc, desc, "check the network and the ICE servers")
	if err != nil {
		return nil, err
	}
	if p.relays != nil {
		relabelRelayed(d, p.relays.isRelayed)
	}
	if mapped != nil {
		addReflexive(d, <-mapped)
	}
	if p.mangleLocal != nil {
		p.mangleLocal(d)
	}
	return d, nil
}

// setRemote applies the peer's compact description and remembers its
// fingerprint (to tell a certificate mismatch from other failures).
func (p *peerConn) setRemote(typ webrtc.SDPType, d *invite.ConnDesc) error {
	p.remoteFingerprint = d.Fingerprint
	return applyRemote(p.pc, typ, d)
}

// connectError says why the connection failed: a certificate that does not
// match the signed token, a DTLS failure after ICE connected, or (the
// usual case) ICE itself.
func (p *peerConn) connectError() error {
	if cert := p.pc.SCTP().Transport().GetRemoteCertificate(); len(cert) > 0 {
		sum := sha256.Sum256(cert)
		if subtle.ConstantTimeCompare(sum[:], p.remoteFingerprint[:]) != 1 {
			return link.ErrCertificateMismatch
		}
	}
	// DTLS starts only once ICE has connected; the ICE callback that sets
	// iceConnected may not have run yet.
	if p.iceConnected.Load() || p.pc.SCTP().Transport().State() != webrtc.DTLSTransportStateNew {
		return fmt.Errorf("%w: %w", link.ErrConnectFailed, link.ErrHandshakeFailed)
	}
	return link.ErrConnectFailed
}

// waitOpen waits for the data channel to open and returns it.
func (p *peerConn) waitOpen(ctx context.Context) (*dcTransport, error) {
	select {
	case <-p.opened:
		return &dcTransport{rw: p.raw, pc: p.pc, dc: p.dc, peer: p}, nil
	case <-p.failed:
		return nil, p.connectError()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// dcTransport is a detached data channel.
type dcTransport struct {
	rw   datachannel.ReadWriteCloserDeadliner
	pc   *webrtc.PeerConnection
	dc   *webrtc.DataChannel
	peer *peerConn

	// The stream's write deadline: the one set by SetWriteDeadline, or,
	// while trying is set, one in the past for TryWriteMessage (left in
	// place between tries, because setting and clearing it allocates).
	dmu    sync.Mutex
	user   time.Time
	trying bool
}

// SetWriteDeadline bounds writes.
func (t *dcTransport) SetWriteDeadline(d time.Time) error {
	t.dmu.Lock()
	defer t.dmu.Unlock()
	t.user, t.trying = d, false
	return t.rw.SetWriteDeadline(d)
}

// TryWriteMessage writes p only if pion takes it without waiting
// (link.TryWriter). With blocking writes on, pion makes a write wait while
// the previous one is still in its pending queue (not yet taken by its
// write loop) and fails it at once with a deadline error if the write
// deadline has passed; so a write under a past deadline is a try.
func (t *dcTransport) TryWriteMessage(p []byte) (bool, error) {
	t.dmu.Lock()
	if !t.trying {
		if !t.user.IsZero() {
			// A deadline of the caller's (a Close cutting writes short)
			// stays in force: no try; reported busy.
			t.dmu.Unlock()
			return false, nil
		}
		t.rw.SetWriteDeadline(time.Unix(1, 0))
		t.trying = true
	}
	t.dmu.Unlock()
	if _, err := t.rw.Write(p); err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// ReadMessage reads one message.
func (t *dcTransport) ReadMessage(p []byte) (int, error) {
	n, _, err := t.rw.ReadDataChannel(p)
	return n, err
}

// KeepsShortReads is true: pion/sctp's ReadSCTP returns io.ErrShortBuffer
// for a message larger than the buffer and leaves the message queued.
func (t *dcTransport) KeepsShortReads() bool { return true }

// WriteMessage writes one message, blocking while pion's buffer is full.
func (t *dcTransport) WriteMessage(p []byte) error {
	t.dmu.Lock()
	if t.trying {
		t.rw.SetWriteDeadline(t.user)
		t.trying = false
	}
	t.dmu.Unlock()
	_, err := t.rw.Write(p)
	return err
}

// Close closes the channel and the PeerConnection.
func (t *dcTransport) Close() error {
	t.rw.Close()
	return t.pc.Close()
}

// nativeAnchors: the native pion link keeps a session's certificate and
// sockets in its link anchor, so native sessions resume.
const nativeAnchors = true
