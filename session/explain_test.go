package session

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/sp2p/sp2p/invite"
)

func TestExplainFailure(t *testing.T) {
	t.Parallel()
	c := func(typ invite.CandidateType) invite.Candidate {
		return invite.Candidate{Type: typ, Addr: netip.MustParseAddrPort("192.0.2.1:1000")}
	}
	host, srflx, relay := c(invite.Host), c(invite.ServerReflexive), c(invite.Relay)
	cases := []struct {
		local, remote []invite.Candidate
		want          []string
	}{
		{[]invite.Candidate{host}, []invite.Candidate{host}, []string{"offered host candidates, the peer host", "--stun"}},
		{[]invite.Candidate{host, srflx}, []invite.Candidate{host, srflx}, []string{"server-reflexive", "symmetric NAT", "sp2p relay"}},
		{[]invite.Candidate{host, srflx}, []invite.Candidate{host}, []string{"no public", "--stun"}},
		{[]invite.Candidate{relay}, []invite.Candidate{relay}, []string{"relay path failed", "credentials"}},
	}
	for _, tc := range cases {
		got := explainFailure(tc.local, tc.remote)
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("explanation %q lacks %q", got, w)
			}
		}
	}
}
