//go:build !js

package session

import (
	"context"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/sp2p/sp2p/invite"
)

// The inviter's purpose is signed in the offer and reported on both
// sides.
func TestPurposeCarried(t *testing.T) {
	t.Parallel()
	for _, purpose := range []invite.Purpose{invite.PurposeChat, invite.PurposeStream, invite.PurposeFiles} {
		oOpts := mem()
		oOpts.Purpose = purpose
		var seen invite.Purpose = 99
		p := connectObserved(t, oOpts, mem(), func(o *invite.Offer, _ *invite.Answer) { seen = o.Purpose })
		if seen != purpose || p.offerer.Purpose() != purpose || p.answerer.Purpose() != purpose {
			t.Errorf("purpose %v: offer %v, offerer %v, answerer %v", purpose, seen, p.offerer.Purpose(), p.answerer.Purpose())
		}
	}
}

// Both pion links use the ICE credentials derived from their token's
// ephemeral key (the tokens carry none, and the encoder refuses others),
// and connect with them.
func TestDerivedICECredentials(t *testing.T) {
	t.Parallel()
	var offer *invite.Offer
	var answer *invite.Answer
	p := connectObserved(t, loopback(), loopback(), func(o *invite.Offer, a *invite.Answer) { offer, answer = o, a })
	ou, op := invite.ICECredentials(offer.Ephemeral)
	au, ap := invite.ICECredentials(answer.Ephemeral)
	if offer.Conn.ICEUfrag != ou || offer.Conn.ICEPwd != op || answer.Conn.ICEUfrag != au || answer.Conn.ICEPwd != ap {
		t.Fatal("a description without the derived credentials")
	}
	ctx := context.Background()
	if err := p.offerer.Send(ctx, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if got, err := p.answerer.Receive(ctx); err != nil || string(got) != "hello" {
		t.Fatalf("received %q, %v", got, err)
	}
}

// withICECredentials rewrites both credential lines of a description
// (what the browser's link does to the browser's offer and answer before
// setting it as the local description, which browsers accept; native
// pion refuses such a change, so its link sets the credentials through
// the setting engine instead).
func TestWithICECredentials(t *testing.T) {
	t.Parallel()
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.CreateDataChannel("sp2p", nil); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	ufrag, pwd := invite.ICECredentials([invite.EphemeralSize]byte{5})
	if same := withICECredentials(offer.SDP, "", ""); same != offer.SDP {
		t.Fatal("empty credentials changed the description")
	}
	got := withICECredentials(offer.SDP, ufrag, pwd)
	if !strings.Contains(got, "\r\na=ice-ufrag:"+ufrag+"\r\n") || !strings.Contains(got, "\r\na=ice-pwd:"+pwd+"\r\n") ||
		strings.Count(got, "a=ice-ufrag:") != strings.Count(offer.SDP, "a=ice-ufrag:") || len(got) != len(offer.SDP)-len(extract(offer.SDP, "a=ice-ufrag:"))-len(extract(offer.SDP, "a=ice-pwd:"))+len(ufrag)+len(pwd) {
		t.Fatalf("rewritten description:\n%s", got)
	}
	lf := withICECredentials("v=0\na=ice-ufrag:x\na=ice-pwd:y\nm=application 9\na=ice-ufrag:x\na=ice-pwd:y", ufrag, pwd)
	if lf != "v=0\na=ice-ufrag:"+ufrag+"\na=ice-pwd:"+pwd+"\nm=application 9\na=ice-ufrag:"+ufrag+"\na=ice-pwd:"+pwd {
		t.Fatalf("LF line ends, session and media level: %q", lf)
	}
}

// extract returns the value of the first line of sdp that starts with
// prefix.
func extract(sdp, prefix string) string {
	_, rest, _ := strings.Cut(sdp, "\n"+prefix)
	v, _, _ := strings.Cut(rest, "\r\n")
	return v
}
