package session

// What the native and the browser pion links share: pion's WebRTC API is
// the same in both builds for these calls.

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pion/webrtc/v4"

	"github.com/sp2p/sp2p/internal/sdp"
	"github.com/sp2p/sp2p/invite"
)

// gatherLocal sets the local description and waits until all candidates
// are gathered (sp2p does not trickle: everything travels in one token),
// then returns the compact description. noCandidates says what to check
// when none is usable.
func gatherLocal(ctx context.Context, pc *webrtc.PeerConnection, desc webrtc.SessionDescription, noCandidates string) (*invite.ConnDesc, error) {
	done := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(desc); err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	select {
	case <-done:
	case <-ctx.Done():
		return nil, fmt.Errorf("session: gathering candidates: %w", ctx.Err())
	}
	d, _, err := sdp.FromSDP(pc.LocalDescription().SDP)
	if err != nil {
		if errors.Is(err, invite.ErrMalformed) {
			return nil, fmt.Errorf("session: no usable candidates (%s): %w", noCandidates, err)
		}
		return nil, err
	}
	return d, nil
}

// applyRemote applies the peer's compact description.
func applyRemote(pc *webrtc.PeerConnection, typ webrtc.SDPType, d *invite.ConnDesc) error {
	s, err := sdp.ToSDP(d)
	if err != nil {
		return err
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: typ, SDP: s}); err != nil {
		return fmt.Errorf("session: applying the peer's connection description: %w", err)
	}
	return nil
}

// describer is what each pion link does to produce its description:
// gather (with its own advice and test hooks) and apply the peer's.
type describer interface {
	peerConnection() *webrtc.PeerConnection
	gather(ctx context.Context, desc webrtc.SessionDescription) (*invite.ConnDesc, error)
	setRemote(typ webrtc.SDPType, d *invite.ConnDesc) error
}

// offerDesc creates the offer and gathers every candidate (Link.Offer).
func offerDesc(ctx context.Context, d describer) (*invite.ConnDesc, error) {
	sdp, err := d.peerConnection().CreateOffer(nil)
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	return d.gather(ctx, sdp)
}

// answerDesc applies the offer, creates the answer and gathers every
// candidate (Link.Answer).
func answerDesc(ctx context.Context, d describer, offer *invite.ConnDesc) (*invite.ConnDesc, error) {
	if err := d.setRemote(webrtc.SDPTypeOffer, offer); err != nil {
		return nil, err
	}
	sdp, err := d.peerConnection().CreateAnswer(nil)
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	return d.gather(ctx, sdp)
}

// withICECredentials returns sdp with the values of its a=ice-ufrag and
// a=ice-pwd lines (session and media level) replaced by ufrag and pwd:
// for a link, such as the browser's, that cannot be told its credentials
// before it writes its description. Empty credentials leave sdp as it is.
func withICECredentials(sdp, ufrag, pwd string) string {
	if ufrag == "" && pwd == "" {
		return sdp
	}
	lines := strings.SplitAfter(sdp, "\n")
	for i, line := range lines {
		body := strings.TrimRight(line, "\r\n")
		eol := line[len(body):]
		switch {
		case strings.HasPrefix(body, "a=ice-ufrag:"):
			lines[i] = "a=ice-ufrag:" + ufrag + eol
		case strings.HasPrefix(body, "a=ice-pwd:"):
			lines[i] = "a=ice-pwd:" + pwd + eol
		}
	}
	return strings.Join(lines, "")
}
