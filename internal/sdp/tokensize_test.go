//go:build !js

package sdp

import (
	"encoding/base64"
	"net/netip"
	"strings"
	"testing"

	"github.com/sp2p/sp2p/internal/qr"
	"github.com/sp2p/sp2p/invite"
)

// Size is a feature: an offer with one IPv4 and one IPv6 host candidate
// (a laptop on a dual-stack network) fits a QR code of version 11 or lower
// at medium error correction, and one with two IPv4 host candidates 340
// characters. The figures are logged next to pion's raw SDP for a
// comparable connection (SECURITY.md quotes them).
func TestTokenSize(t *testing.T) {
	t.Parallel()
	// Real pion output: credentials and fingerprint as a session makes them.
	eph := randomEphemeral(t)
	pc := newLoopbackPC(t, eph)
	if _, err := pc.CreateDataChannel("sp2p", nil); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	sdp := gather(t, pc, offer)
	desc, _, err := FromSDP(sdp)
	if err != nil {
		t.Fatal(err)
	}
	host := func(addr string) invite.Candidate {
		return invite.Candidate{Type: invite.Host, Addr: netip.MustParseAddrPort(addr)}
	}
	with := func(cands ...invite.Candidate) invite.ConnDesc {
		d := *desc
		d.Candidates = cands
		return d
	}
	measure := func(name, text string, n int) int {
		t.Helper()
		v, err := qr.Version(text)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bytes, %d characters, QR version %d (M)", name, n, len(text), v)
		return v
	}
	// Two IPv4 host candidates, as on a laptop with Wi-Fi and a wired link.
	twoV4 := with(host("127.0.0.1:50000"), host("192.168.178.23:51234"))
	o, err := invite.NewOffer(ident(t, 1), invite.OfferParams{Ephemeral: eph, Conn: twoV4})
	if err != nil {
		t.Fatal(err)
	}
	if v := measure("offer, 2 IPv4 host candidates", o.Text(), len(o.Bytes())); len(o.Text()) > 340 || v > 11 {
		t.Errorf("offer with two IPv4 host candidates: %d characters, QR version %d; limits 340 and 11", len(o.Text()), v)
	}
	dual, err := invite.NewOffer(ident(t, 1), invite.OfferParams{Ephemeral: eph, Conn: with(host("192.168.178.23:51234"), host("[2001:db8:1:2:3:4:5:6]:51235"))})
	if err != nil {
		t.Fatal(err)
	}
	if v := measure("offer, 1 IPv4 + 1 IPv6 host candidate", dual.Text(), len(dual.Bytes())); v > 11 {
		t.Errorf("offer with one IPv4 and one IPv6 host candidate: QR version %d, limit 11 (M)", v)
	}
	withTo, err := invite.NewOffer(ident(t, 1), invite.OfferParams{Ephemeral: eph, Conn: twoV4, Recipient: ident(t, 2).ID()})
	if err != nil {
		t.Fatal(err)
	}
	measure("the same offer with a recipient", withTo.Text(), len(withTo.Bytes()))
	// A browser's: its host address hidden behind an mDNS name, and its
	// address as a STUN server saw it.
	name, _ := invite.ParseMDNSName("5ca05cb1-9f5f-4912-8329-24f191793d5a.local")
	browser, err := invite.NewOffer(ident(t, 1), invite.OfferParams{Ephemeral: eph, Conn: with(
		invite.Candidate{Type: invite.Host, Name: name, Addr: netip.AddrPortFrom(netip.Addr{}, 51264)},
		invite.Candidate{Type: invite.ServerReflexive, Addr: netip.MustParseAddrPort("203.0.113.7:51264")})})
	if err != nil {
		t.Fatal(err)
	}
	measure("browser offer, 1 mDNS host + 1 IPv4 srflx candidate", browser.Text(), len(browser.Bytes()))
	answerConn := twoV4
	answerConn.Role = invite.RoleActive
	answerConn.ICEUfrag, answerConn.ICEPwd = "", "" // the answerer's, from its own key
	ans, err := invite.NewAnswer(ident(t, 2), o, invite.AnswerParams{Ephemeral: randomEphemeral(t), Conn: answerConn})
	if err != nil {
		t.Fatal(err)
	}
	measure("answer, 2 IPv4 host candidates", ans.Text(), len(ans.Bytes()))
	rawSDP := twoHostSDP(sdp)
	t.Logf("pion's SDP for the offer with 2 IPv4 host candidates: %d bytes, %d characters as base64", len(rawSDP), base64.StdEncoding.EncodedLen(len(rawSDP)))
}

// twoHostSDP approximates pion's SDP with a second host candidate by
// repeating the candidate lines with another address (pion lists each host
// candidate for components 1 and 2).
func twoHostSDP(sdp string) string {
	var extra []string
	for _, line := range strings.Split(sdp, "\r\n") {
		if strings.HasPrefix(line, "a=candidate:") {
			extra = append(extra, strings.Replace(line, "127.0.0.1", "192.168.178.23", 1))
		}
	}
	return strings.Replace(sdp, "a=end-of-candidates", strings.Join(extra, "\r\n")+"\r\na=end-of-candidates", 1)
}
