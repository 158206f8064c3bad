package session

// What the native and the browser pion links share: pion's WebRTC API is
// the same in both builds for these calls.

import (
	"context"
	"errors"
	"fmt"

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
