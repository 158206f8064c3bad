//go:build !js

package sdp

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/sp2p/sp2p/internal/qr"
	"github.com/sp2p/sp2p/invite"
)

// Size is a feature: an offer with two host candidates fits 400 characters
// and a QR code of version 13 or lower at medium error correction. The
// figures are logged next to pion's raw SDP for a comparable connection
// (SECURITY.md quotes them).
func TestTokenSize(t *testing.T) {
	t.Parallel()
	// Real pion output: credentials and fingerprint as a session makes them.
	pc := newLoopbackPC(t)
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
	// Two IPv4 host candidates, as on a laptop with Wi-Fi and a wired link.
	desc.Candidates = []invite.Candidate{desc.Candidates[0], {Type: invite.Host, Addr: desc.Candidates[0].Addr}}
	desc.Candidates[1].Addr = netipAddrPort("192.168.178.23", 51234)
	o, err := invite.NewOffer(ident(t, 1), invite.OfferParams{Conn: *desc})
	if err != nil {
		t.Fatal(err)
	}
	text := o.Text()
	version, err := qr.Version(text)
	if err != nil {
		t.Fatal(err)
	}
	withTo, _ := invite.NewOffer(ident(t, 1), invite.OfferParams{Conn: *desc, Recipient: ident(t, 2).ID()})
	versionTo, _ := qr.Version(withTo.Text())
	ans, _ := invite.NewAnswer(ident(t, 2), o, invite.AnswerParams{Conn: invite.ConnDesc{ICEUfrag: desc.ICEUfrag, ICEPwd: desc.ICEPwd, Fingerprint: desc.Fingerprint, Role: invite.RoleActive, Candidates: desc.Candidates}})
	ansVersion, _ := qr.Version(ans.Text())
	rawSDP := twoHostSDP(sdp)
	t.Logf("offer, 2 host candidates: %d bytes, %d characters, QR version %d (M)", len(o.Bytes()), len(text), version)
	t.Logf("offer with --to: %d bytes, %d characters, QR version %d; answer: %d bytes, %d characters, QR version %d", len(withTo.Bytes()), len(withTo.Text()), versionTo, len(ans.Bytes()), len(ans.Text()), ansVersion)
	t.Logf("pion's SDP for the same offer: %d bytes, %d characters as base64", len(rawSDP), base64.StdEncoding.EncodedLen(len(rawSDP)))
	if len(text) > 400 {
		t.Errorf("offer text is %d characters, limit 400", len(text))
	}
	if version > 13 {
		t.Errorf("offer QR code is version %d, limit 13", version)
	}
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
