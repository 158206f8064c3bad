package session

// This file is the only place that touches pion. Everything above it (the
// handshake, the record layer, the Session API) talks to a transport: a
// message-oriented duplex with backpressure. A browser build can provide
// its own.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/datachannel"
	"github.com/pion/ice/v4"
	pionnet "github.com/pion/transport/v5"
	"github.com/pion/webrtc/v4"

	"github.com/sp2p/sp2p/invite"
)

// transport carries records: one record per message, in both directions.
// writeMessage blocks while the send buffer is full (backpressure).
type transport interface {
	readMessage(p []byte) (int, error)
	writeMessage(p []byte) error
	close() error
}

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
}

// iceCredentials returns random ICE credentials of the compact size sp2p
// tokens carry: an 8-character ufrag (48 bits) and a 22-character password
// (132 bits), from the ICE character set.
func iceCredentials() (string, string, error) {
	b := make([]byte, 6+17)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	return base64.RawStdEncoding.EncodeToString(b[:6]), base64.RawStdEncoding.EncodeToString(b[6:])[:invite.MinPwdLen], nil
}

// newPeerConn builds a PeerConnection for opts. iceFailed is how long ICE
// may go without connectivity before giving up: for the answerer, the whole
// remaining lifetime of the invitation (people paste answers slowly).
func newPeerConn(opts *Options, ch invite.ChannelOptions, iceFailed time.Duration) (*peerConn, error) {
	return newPeerConnTuned(opts, ch, iceFailed, true)
}

// newPeerConnTuned builds the PeerConnection; tuned=false keeps pion's
// default transport settings (for benchmarks against plain pion).
func newPeerConnTuned(opts *Options, ch invite.ChannelOptions, iceFailed time.Duration, tuned bool) (*peerConn, error) {
	ufrag, pwd, err := iceCredentials()
	if err != nil {
		return nil, err
	}
	var se webrtc.SettingEngine
	se.DetachDataChannels()
	se.EnableDataChannelBlockWrite(true)
	se.SetICECredentials(ufrag, pwd)
	// Tokens carry IP addresses, not mDNS host names.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
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
			if n, err = newTunedNet(opts.faults); err != nil {
				return nil, fmt.Errorf("session: %w", err)
			}
		}
		se.SetNet(n)
	}
	var servers []webrtc.ICEServer
	for _, s := range opts.ICEServers {
		servers = append(servers, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	conf := webrtc.Configuration{ICEServers: servers}
	if opts.RelayOnly {
		conf.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(conf)
	if err != nil {
		return nil, fmt.Errorf("session: creating the peer connection: %w", err)
	}
	p := &peerConn{pc: pc, opened: make(chan struct{}), failed: make(chan struct{}), mangleLocal: opts.mangleLocalDesc}
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
	dc.OnOpen(func() {
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
		if s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateClosed {
			p.fail()
		}
	})
	// Report outages of an open connection and their end.
	var down atomic.Bool
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		if s == webrtc.ICEConnectionStateConnected || s == webrtc.ICEConnectionStateCompleted {
			p.iceConnected.Store(true)
		}
		if opts.OnNetwork == nil || !isClosed(p.opened) {
			return
		}
		switch s {
		case webrtc.ICEConnectionStateDisconnected:
			if down.CompareAndSwap(false, true) {
				opts.OnNetwork(NetworkInterrupted)
			}
		case webrtc.ICEConnectionStateConnected, webrtc.ICEConnectionStateCompleted:
			if down.CompareAndSwap(true, false) {
				opts.OnNetwork(NetworkRecovered)
			}
		}
	})
	return p, nil
}

func (p *peerConn) fail() { p.once.Do(func() { close(p.failed) }) }

// gather sets the local description and waits until all candidates are
// gathered (sp2p does not trickle: everything travels in one token).
func (p *peerConn) gather(ctx context.Context, desc webrtc.SessionDescription) (*invite.ConnDesc, error) {
	done := webrtc.GatheringCompletePromise(p.pc)
	if err := p.pc.SetLocalDescription(desc); err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	select {
	case <-done:
	case <-ctx.Done():
		return nil, fmt.Errorf("session: gathering candidates: %w", ctx.Err())
	}
	d, _, err := invite.FromSDP(p.pc.LocalDescription().SDP)
	if err != nil {
		if errors.Is(err, invite.ErrMalformed) {
			return nil, fmt.Errorf("session: no usable candidates (check the network and the ICE servers): %w", err)
		}
		return nil, err
	}
	if p.mangleLocal != nil {
		p.mangleLocal(d)
	}
	return d, nil
}

// setRemote applies the peer's compact description.
func (p *peerConn) setRemote(typ webrtc.SDPType, d *invite.ConnDesc) error {
	sdp, err := d.SDP()
	if err != nil {
		return err
	}
	p.remoteFingerprint = d.Fingerprint
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: typ, SDP: sdp}); err != nil {
		return fmt.Errorf("session: applying the peer's connection description: %w", err)
	}
	return nil
}

// ErrConnectFailed is returned when ICE or DTLS fail: the peers could not
// reach each other, or the DTLS handshake between them failed.
var ErrConnectFailed = errors.New("session: could not connect to the peer")

// ErrCertificateMismatch is returned when the peer was reached but
// presented a DTLS certificate whose fingerprint is not the one in its
// signed token. That is not a network problem: something between the
// peers may be trying to take the connection over (or the peer's software
// is broken). It does not wrap ErrConnectFailed.
var ErrCertificateMismatch = errors.New("session: the peer's DTLS certificate does not match the fingerprint in its signed token: the connection may be under attack (this is not a NAT or firewall problem); do not retry over this path before checking it")

// errDTLSFailed is the cause given when ICE connected but DTLS did not.
var errDTLSFailed = errors.New("the peer was reached, but the DTLS handshake failed: the peer may have refused this side's certificate (which is what interference on the path looks like) or the handshake was cut off; this is not a NAT problem")

// connectError says why the connection failed: a certificate that does not
// match the signed token, a DTLS failure after ICE connected, or (the
// usual case) ICE itself.
func (p *peerConn) connectError() error {
	if cert := p.pc.SCTP().Transport().GetRemoteCertificate(); len(cert) > 0 {
		sum := sha256.Sum256(cert)
		if subtle.ConstantTimeCompare(sum[:], p.remoteFingerprint[:]) != 1 {
			return ErrCertificateMismatch
		}
	}
	if p.iceConnected.Load() {
		return fmt.Errorf("%w: %w", ErrConnectFailed, errDTLSFailed)
	}
	return ErrConnectFailed
}

// waitOpen waits for the data channel to open and returns it as a
// transport.
func (p *peerConn) waitOpen(ctx context.Context) (transport, error) {
	select {
	case <-p.opened:
		return &dcTransport{rw: p.raw, pc: p.pc, dc: p.dc, peer: p}, nil
	case <-p.failed:
		return nil, p.connectError()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *peerConn) close() error { return p.pc.Close() }

// dcTransport is a detached data channel.
type dcTransport struct {
	rw   datachannel.ReadWriteCloserDeadliner
	pc   *webrtc.PeerConnection
	dc   *webrtc.DataChannel
	peer *peerConn
}

func (t *dcTransport) setWriteDeadline(d time.Time) error { return t.rw.SetWriteDeadline(d) }

func (t *dcTransport) readMessage(p []byte) (int, error) {
	n, _, err := t.rw.ReadDataChannel(p)
	return n, err
}

func (t *dcTransport) writeMessage(p []byte) error {
	_, err := t.rw.Write(p)
	return err
}

func (t *dcTransport) close() error {
	t.rw.Close()
	return t.pc.Close()
}
