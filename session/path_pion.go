//go:build !js

package session

import (
	"net/netip"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/sp2p/sp2p/link"
)

// inFlight is how recent a check without an answer yet may be before it
// counts as lost.
const inFlight = time.Second

// PathStats reads pion's statistics of the selected candidate pair. A
// check sent less than a second ago and not yet answered is not counted.
func (t *dcTransport) PathStats() (link.PathStats, bool) {
	sctp := t.pc.SCTP()
	if sctp == nil || sctp.Transport() == nil || sctp.Transport().ICETransport() == nil {
		return link.PathStats{}, false
	}
	if s := sctp.Transport().ICETransport().State(); s == webrtc.ICETransportStateClosed || s == webrtc.ICETransportStateFailed ||
		t.pc.ConnectionState() == webrtc.PeerConnectionStateClosed {
		// pion logs an error (to stderr) for the statistics of a closed
		// agent.
		return link.PathStats{}, false
	}
	st, ok := sctp.Transport().ICETransport().GetSelectedCandidatePairStats()
	if !ok {
		return link.PathStats{}, false
	}
	// pion leaves RequestsSent out of the selected pair's statistics; the
	// full report has it, under the same candidate IDs.
	for _, v := range t.pc.GetStats() {
		if ps, ok := v.(webrtc.ICECandidatePairStats); ok && ps.LocalCandidateID == st.LocalCandidateID && ps.RemoteCandidateID == st.RemoteCandidateID {
			st.RequestsSent = max(st.RequestsSent, ps.RequestsSent)
			st.LastRequestTimestamp = max(st.LastRequestTimestamp, ps.LastRequestTimestamp)
		}
	}
	p := link.PathStats{ChecksSent: st.RequestsSent, ChecksAnswered: st.ResponsesReceived}
	last := st.LastRequestTimestamp.Time()
	if p.ChecksSent > p.ChecksAnswered && st.LastRequestTimestamp > st.LastResponseTimestamp && time.Since(last) < inFlight {
		p.ChecksSent--
	}
	if st.CurrentRoundTripTime > 0 {
		p.RTT = time.Duration(st.CurrentRoundTripTime * float64(time.Second))
	}
	if pair, err := sctp.Transport().ICETransport().GetSelectedCandidatePair(); err == nil && pair != nil {
		p.Local, p.Remote = candidateAddr(pair.Local), candidateAddr(pair.Remote)
	}
	return p, true
}

// candidateAddr is a candidate's address and port: for a relay candidate
// the relay's, for a peer-reflexive one where it was seen from. Zero when
// the candidate has a name (mDNS) rather than an address.
func candidateAddr(c *webrtc.ICECandidate) netip.AddrPort {
	if c == nil {
		return netip.AddrPort{}
	}
	a, err := netip.ParseAddr(c.Address)
	if err != nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a.Unmap().WithZone(""), c.Port)
}
