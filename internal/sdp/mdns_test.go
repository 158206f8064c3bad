//go:build !js

package sdp

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
	"github.com/sp2p/sp2p/invite"
)

// chromeOfferSDP is an offer as Chromium 156 writes it with its host
// addresses hidden (mDNS names), plus candidates sp2p cannot carry.
const chromeOfferSDP = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\na=extmap-allow-mixed\r\na=msid-semantic: WMS\r\n" +
	"m=application 51264 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n" +
	"a=candidate:3120204862 1 udp 2113937151 5ca05cb1-9f5f-4912-8329-24f191793d5a.local 51264 typ host generation 0 network-cost 999\r\n" +
	"a=candidate:3120204863 1 udp 2113939711 0F1E2D3C-4B5A-4968-8776-A5B4C3D2E1F0.local 51265 typ host generation 0 network-cost 999\r\n" +
	"a=candidate:3120204864 1 udp 2113937150 laptop.local 51266 typ host generation 0\r\n" +
	"a=candidate:3120204865 1 tcp 1518280447 5ca05cb1-9f5f-4912-8329-24f191793d5a.local 9 typ host tcptype active generation 0\r\n" +
	"a=candidate:842163049 1 udp 1677729535 203.0.113.7 51264 typ srflx raddr 0.0.0.0 rport 0 generation 0 network-cost 999\r\n" +
	"a=ice-ufrag:Xq3e\r\na=ice-pwd:8iW1fYlT0Qe4qS+Oq0Xz2v5t\r\na=ice-options:trickle\r\n" +
	"a=fingerprint:sha-256 0F:74:31:25:CB:A2:13:EC:28:6F:6D:2F:6D:0F:35:E3:0E:1E:8A:B2:D5:96:0C:F6:12:F3:2B:9E:43:C2:4A:76\r\n" +
	"a=setup:actpass\r\na=mid:0\r\na=sctp-port:5000\r\na=max-message-size:262144\r\n"

// A browser's mDNS host candidate is kept as an mDNS name and rendered
// back in canonical form; other host names, upper-case UUIDs and TCP mDNS
// candidates are dropped.
func TestFromSDPMDNS(t *testing.T) {
	t.Parallel()
	d, dropped, err := FromSDP(chromeOfferSDP)
	if err != nil {
		t.Fatal(err)
	}
	if dropped != 3 || len(d.Candidates) != 2 {
		t.Fatalf("dropped %d, kept %v", dropped, d.Candidates)
	}
	m := d.Candidates[0]
	if !m.IsMDNS() || m.Name.String() != "5ca05cb1-9f5f-4912-8329-24f191793d5a.local" || m.Addr.Port() != 51264 || m.Type != invite.Host || m.TCP {
		t.Fatalf("mDNS candidate %v", m)
	}
	if d.Candidates[1].IsMDNS() || d.Candidates[1].Type != invite.ServerReflexive {
		t.Fatalf("srflx candidate %v", d.Candidates[1])
	}
	out, err := ToSDP(d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, " udp ") || !strings.Contains(out, " 5ca05cb1-9f5f-4912-8329-24f191793d5a.local 51264 typ host\r\n") {
		t.Fatalf("rendered SDP:\n%s", out)
	}
	back, dropped, err := FromSDP(out)
	if err != nil || dropped != 0 || !equalDesc(back, d) {
		t.Fatalf("round trip: %v, dropped %d\n%+v\n%+v", err, dropped, back, d)
	}
	// pion accepts the rendered description with the mDNS candidate.
	var se webrtc.SettingEngine
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeQueryOnly)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetIncludeLoopbackCandidate(true)
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: out}); err != nil {
		t.Fatalf("pion refused an offer with an mDNS candidate: %v\n%s", err, out)
	}
}

// A peer that hides its host address behind an mDNS name, as browsers do
// (here pion gathering mDNS candidates), is reached through the compact
// form by a peer that resolves mDNS names (sp2p's native setting), when
// the machine has multicast on a network interface. The resolving side's
// own candidate is made unreachable, so only its checks to the resolved
// name can start the connection.
func TestPionResolvesMDNSCandidate(t *testing.T) {
	t.Parallel()
	mk := func(eph [invite.EphemeralSize]byte, mode ice.MulticastDNSMode) *webrtc.PeerConnection {
		var se webrtc.SettingEngine
		se.SetICECredentials(invite.ICECredentials(eph))
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
		se.SetICEMulticastDNSMode(mode)
		pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close() })
		return pc
	}
	ifaces, _ := net.Interfaces()
	multicast := false
	for _, ifc := range ifaces {
		multicast = multicast || ifc.Flags&net.FlagUp != 0 && ifc.Flags&net.FlagMulticast != 0 && ifc.Flags&net.FlagLoopback == 0
	}
	if !multicast {
		t.Skip("no network interface with multicast")
	}
	ephO, ephA := randomEphemeral(t), randomEphemeral(t)
	browser := mk(ephO, ice.MulticastDNSModeQueryAndGather)
	native := mk(ephA, ice.MulticastDNSModeQueryOnly)
	sawName := false
	msg, err := connectPCs(t, browser, native, ephO, ephA, func(d *invite.ConnDesc) {
		for _, c := range d.Candidates {
			sawName = sawName || c.IsMDNS()
		}
	}, func(d *invite.ConnDesc) {
		// TEST-NET-1: nothing answers there.
		d.Candidates = []invite.Candidate{{Type: invite.Host, Addr: netip.MustParseAddrPort("192.0.2.254:9")}}
	})
	if !sawName {
		t.Skip("pion gathered no mDNS candidate here")
	}
	if err != nil {
		t.Fatalf("no connection to an mDNS candidate: %v", err)
	}
	if msg != "hello through a token" {
		t.Fatalf("received %q", msg)
	}
}
