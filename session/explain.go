package session

import (
	"fmt"
	"strings"

	"github.com/sp2p/sp2p/invite"
)

// FailureCause is the likely reason two sides could not connect, judged
// from the candidates their tokens carried.
type FailureCause int

// Causes of a ConnectFailure.
const (
	// CauseUnreachable: the peers could not reach each other, for no
	// reason the candidates show.
	CauseUnreachable FailureCause = iota
	// CauseRelayFailed: a relay candidate was offered and even the relay
	// path failed (the TURN server unreachable or the credentials wrong).
	CauseRelayFailed
	// CauseStrictNAT: both sides are behind NATs that allow no direct
	// connection (symmetric NAT or a strict firewall): a relay is needed.
	CauseStrictNAT
	// CauseNoPublicAddress: a side offered no server-reflexive address,
	// so a direct connection works only inside one network: a STUN
	// server (or a relay) is needed.
	CauseNoPublicAddress
)

func (c FailureCause) String() string {
	switch c {
	case CauseRelayFailed:
		return "even the relay path failed: check that the TURN server is reachable from both sides and the credentials are right"
	case CauseStrictNAT:
		return "both sides are behind NATs that do not allow a direct connection (likely symmetric NAT or a strict firewall): a TURN relay is needed"
	case CauseNoPublicAddress:
		return "a side has no public (server-reflexive) address, so a direct connection works only inside one network: a STUN server on both sides, or a TURN relay, is needed"
	}
	return "the peers could not reach each other"
}

// ConnectFailure is the error of a handshake whose connection could not
// be made: what each side's token offered, and the likely cause. It wraps
// the link's error (ErrConnectFailed, or a context error), so errors.Is
// still works; errors.As gives the details.
type ConnectFailure struct {
	Local, Remote []invite.CandidateType // the candidate types each side offered, in order of first appearance
	Cause         FailureCause
	Err           error
}

func (f *ConnectFailure) Error() string {
	return fmt.Sprintf("%v: this side offered %s candidates, the peer %s; %v", f.Err, kindNames(f.Local), kindNames(f.Remote), f.Cause)
}

func (f *ConnectFailure) Unwrap() error { return f.Err }

// candidateKinds lists the distinct candidate types of a token, in order.
func candidateKinds(cs []invite.Candidate) []invite.CandidateType {
	seen := map[invite.CandidateType]bool{}
	var out []invite.CandidateType
	for _, c := range cs {
		if !seen[c.Type] {
			seen[c.Type] = true
			out = append(out, c.Type)
		}
	}
	return out
}

func kindNames(ts []invite.CandidateType) string {
	names := map[invite.CandidateType]string{invite.Host: "host", invite.ServerReflexive: "server-reflexive", invite.PeerReflexive: "peer-reflexive", invite.Relay: "relay"}
	if len(ts) == 0 {
		return "no"
	}
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = names[t]
	}
	return strings.Join(out, ", ")
}

func hasType(cs []invite.Candidate, t invite.CandidateType) bool {
	for _, c := range cs {
		if c.Type == t {
			return true
		}
	}
	return false
}

// explainFailure wraps err, the failure to connect two sides with these
// candidates, in a ConnectFailure that says why in words a person can act
// on.
func explainFailure(err error, local, remote []invite.Candidate) error {
	f := &ConnectFailure{Local: candidateKinds(local), Remote: candidateKinds(remote), Err: err}
	switch {
	case hasType(local, invite.Relay) || hasType(remote, invite.Relay):
		f.Cause = CauseRelayFailed
	case hasType(local, invite.ServerReflexive) && hasType(remote, invite.ServerReflexive):
		f.Cause = CauseStrictNAT
	case !hasType(local, invite.ServerReflexive) || !hasType(remote, invite.ServerReflexive):
		f.Cause = CauseNoPublicAddress
	}
	return f
}
