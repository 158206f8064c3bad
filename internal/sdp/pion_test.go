//go:build !js

package sdp

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/invite"
)

// randomEphemeral stands for a token's ephemeral X25519 public key: the
// link's ICE credentials are derived from it.
func randomEphemeral(t testing.TB) [invite.EphemeralSize]byte {
	var e [invite.EphemeralSize]byte
	if _, err := rand.Read(e[:]); err != nil {
		t.Fatal(err)
	}
	return e
}

// newLoopbackPC returns a pion PeerConnection that gathers UDP4 host
// candidates on loopback only, with the ICE credentials derived from eph
// (as sp2p sessions set them).
func newLoopbackPC(t testing.TB, eph [invite.EphemeralSize]byte) *webrtc.PeerConnection {
	t.Helper()
	var se webrtc.SettingEngine
	se.SetICECredentials(invite.ICECredentials(eph))
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

// gather sets desc as the local description and waits for all candidates.
func gather(t testing.TB, pc *webrtc.PeerConnection, desc webrtc.SessionDescription) string {
	t.Helper()
	done := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(desc); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("ICE gathering did not complete")
	}
	return pc.LocalDescription().SDP
}

// compactRoundTrip takes a pion SDP through the compact form, a signed
// token's bytes and back to SDP.
func compactRoundTrip(t testing.TB, sdp string, eph [invite.EphemeralSize]byte, mutate func(*invite.ConnDesc)) (string, *invite.ConnDesc) {
	t.Helper()
	d, _, err := FromSDP(sdp)
	if err != nil {
		t.Fatalf("FromSDP: %v\n%s", err, sdp)
	}
	if mutate != nil {
		mutate(d)
	}
	// Through a real signed token, as the description travels.
	signer, err := identity.FromSeed(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	role := d.Role
	d.Role = invite.RoleActPass // offers carry actpass; the answer's role is restored below
	o, err := invite.NewOffer(signer, invite.OfferParams{Ephemeral: eph, Conn: *d})
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := invite.ParseOffer(o.Text())
	if err != nil {
		t.Fatal(err)
	}
	back := &parsed.Conn
	back.Role, d.Role = role, role
	if !equalDesc(back, d) {
		t.Fatalf("compact form did not round-trip:\n%+v\n%+v", back, d)
	}
	out, err := ToSDP(back)
	if err != nil {
		t.Fatal(err)
	}
	return out, d
}

// connectThroughCompact connects two real PeerConnections whose offer and
// answer went through the compact form, and returns the message that
// arrived on the data channel (or an error).
func connectThroughCompact(t *testing.T, mutateOffer func(*invite.ConnDesc)) (string, error) {
	ephO, ephA := randomEphemeral(t), randomEphemeral(t)
	return connectPCs(t, newLoopbackPC(t, ephO), newLoopbackPC(t, ephA), ephO, ephA, mutateOffer, nil)
}

// connectPCs connects two PeerConnections made with the ICE credentials
// of ephO and ephA through the compact form.
func connectPCs(t *testing.T, offerer, answerer *webrtc.PeerConnection, ephO, ephA [invite.EphemeralSize]byte, mutateOffer, mutateAnswer func(*invite.ConnDesc)) (string, error) {
	dc, err := offerer.CreateDataChannel("sp2p", nil)
	if err != nil {
		t.Fatal(err)
	}
	received := make(chan string, 1)
	answerer.OnDataChannel(func(d *webrtc.DataChannel) {
		d.OnMessage(func(m webrtc.DataChannelMessage) { received <- string(m.Data) })
	})
	dc.OnOpen(func() { dc.SendText("hello through a token") })
	failed := make(chan webrtc.PeerConnectionState, 2)
	for _, pc := range []*webrtc.PeerConnection{offerer, answerer} {
		pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
			if s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateClosed {
				failed <- s
			}
		})
	}

	offer, err := offerer.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	offerSDP, offerDesc := compactRoundTrip(t, gather(t, offerer, offer), ephO, mutateOffer)
	if offerDesc.Role != invite.RoleActPass || len(offerDesc.Candidates) == 0 {
		t.Fatalf("offer description %+v", offerDesc)
	}
	if err := answerer.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offerSDP}); err != nil {
		t.Fatalf("pion refused the rebuilt offer: %v\n%s", err, offerSDP)
	}
	answer, err := answerer.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	answerSDP, answerDesc := compactRoundTrip(t, gather(t, answerer, answer), ephA, mutateAnswer)
	if answerDesc.Role != invite.RoleActive && answerDesc.Role != invite.RolePassive {
		t.Fatalf("answer role %v", answerDesc.Role)
	}
	if err := offerer.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answerSDP}); err != nil {
		t.Fatalf("pion refused the rebuilt answer: %v\n%s", err, answerSDP)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	select {
	case m := <-received:
		return m, nil
	case s := <-failed:
		return "", errors.New("connection " + s.String())
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Two real pion PeerConnections connect on loopback with descriptions that
// went through the compact form and back.
func TestPionConnectsThroughCompactForm(t *testing.T) {
	t.Parallel()
	msg, err := connectThroughCompact(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if msg != "hello through a token" {
		t.Fatalf("received %q", msg)
	}
}

// The DTLS fingerprint in the token binds the transport: an offer whose
// fingerprint was replaced (a substituted certificate) does not connect.
func TestPionRefusesWrongFingerprint(t *testing.T) {
	t.Parallel()
	msg, err := connectThroughCompact(t, func(d *invite.ConnDesc) { d.Fingerprint[0] ^= 1 })
	if err == nil {
		t.Fatalf("connected with a wrong DTLS fingerprint; received %q", msg)
	}
	t.Logf("with a wrong fingerprint: %v", err)
}

func equalDesc(a, b *invite.ConnDesc) bool {
	return a.ICEUfrag == b.ICEUfrag && a.ICEPwd == b.ICEPwd && a.Fingerprint == b.Fingerprint &&
		a.Role == b.Role && slices.Equal(a.Candidates, b.Candidates)
}

func ident(t testing.TB, b byte) *identity.Identity {
	t.Helper()
	id, err := identity.FromSeed(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return id
}
