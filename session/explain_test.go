package session

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/sp2p/sp2p/invite"
)

// Failures say what each side offered and the likely cause, as data the
// CLI turns into hints, and name no command or flag.
func TestExplainFailure(t *testing.T) {
	t.Parallel()
	c := func(typ invite.CandidateType) invite.Candidate {
		return invite.Candidate{Type: typ, Addr: netip.MustParseAddrPort("192.0.2.1:1000")}
	}
	host, srflx, relay := c(invite.Host), c(invite.ServerReflexive), c(invite.Relay)
	cases := []struct {
		local, remote []invite.Candidate
		cause         FailureCause
		want          string
	}{
		{[]invite.Candidate{host}, []invite.Candidate{host}, CauseNoPublicAddress, "offered host candidates, the peer host"},
		{[]invite.Candidate{host, srflx}, []invite.Candidate{host, srflx}, CauseStrictNAT, "symmetric NAT"},
		{[]invite.Candidate{host, srflx}, []invite.Candidate{host}, CauseNoPublicAddress, "no public"},
		{[]invite.Candidate{relay}, []invite.Candidate{relay}, CauseRelayFailed, "relay path failed"},
	}
	for _, tc := range cases {
		err := explainFailure(ErrConnectFailed, tc.local, tc.remote)
		var f *ConnectFailure
		if !errors.As(err, &f) || f.Cause != tc.cause || !errors.Is(err, ErrConnectFailed) {
			t.Errorf("%v: cause %v, want %v, wrapping ErrConnectFailed", err, f.Cause, tc.cause)
		}
		if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, "--") || strings.Contains(msg, "sp2p ") {
			t.Errorf("explanation %q: want %q and no flag or command", msg, tc.want)
		}
	}
}
