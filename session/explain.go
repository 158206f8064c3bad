package session

import (
	"fmt"
	"strings"

	"github.com/sp2p/sp2p/invite"
)

// candidateKinds summarises a token's candidates for people: "host,
// server-reflexive" and so on.
func candidateKinds(cs []invite.Candidate) string {
	names := map[invite.CandidateType]string{invite.Host: "host", invite.ServerReflexive: "server-reflexive", invite.PeerReflexive: "peer-reflexive", invite.Relay: "relay"}
	seen := map[invite.CandidateType]bool{}
	var out []string
	for _, c := range cs {
		if !seen[c.Type] {
			seen[c.Type] = true
			out = append(out, names[c.Type])
		}
	}
	if len(out) == 0 {
		return "none"
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

// explainFailure says, in words a person can act on, why ICE could not
// connect two sides with these candidates.
func explainFailure(local, remote []invite.Candidate) string {
	tried := fmt.Sprintf("this side offered %s candidates, the peer %s", candidateKinds(local), candidateKinds(remote))
	var cause string
	switch {
	case hasType(local, invite.Relay) || hasType(remote, invite.Relay):
		cause = "even the relay path failed: check that the TURN server is reachable from both sides and the credentials are right"
	case hasType(local, invite.ServerReflexive) && hasType(remote, invite.ServerReflexive):
		cause = "both sides are behind NATs that do not allow a direct connection (likely symmetric NAT or a strict firewall): a TURN relay is needed, see `sp2p relay` and --turn"
	case !hasType(local, invite.ServerReflexive) || !hasType(remote, invite.ServerReflexive):
		cause = "a side has no public (server-reflexive) address, so a direct connection works only inside one network: add --stun stun:HOST:PORT on both sides, or a TURN relay (`sp2p relay`, --turn)"
	default:
		cause = "the peers could not reach each other"
	}
	return tried + "; " + cause
}
