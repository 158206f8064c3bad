package main

import (
	"errors"
	"fmt"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/session"
	"github.com/sp2p/sp2p/transfer"
)

// libraryHints turns what the libraries' errors say (sentinels and error
// types with data; they name no flag or command) into the CLI's advice,
// printed as "sp2p: hint: …" lines after the error.
func libraryHints(err error) []string {
	var hints []string
	var cf *session.ConnectFailure
	if errors.As(err, &cf) {
		switch cf.Cause {
		case session.CauseRelayFailed:
			hints = append(hints, "check the --turn URL and --turn-user/password on both sides, and that the relay's port is open (UDP, or TCP with ?transport=tcp)")
		case session.CauseStrictNAT:
			hints = append(hints, "a TURN relay is needed: run `sp2p relay` on a reachable machine (or use coturn), then give both sides --turn")
		case session.CauseNoPublicAddress:
			hints = append(hints, "add --stun stun:HOST:PORT on both sides, or a TURN relay (`sp2p relay`, --turn); on one machine, --loopback")
		}
	}
	switch {
	case errors.Is(err, identity.ErrNoIdentity):
		hints = append(hints, "create one with: sp2p keygen (or give another with --identity)")
	case errors.Is(err, identity.ErrExists):
		hints = append(hints, "add --force to replace it; the old identity is then lost for good")
	case errors.Is(err, identity.ErrUnknownPeer):
		hints = append(hints, "see the known peers with: sp2p peers list")
	}
	var pc *identity.PeerConflictError
	if errors.As(err, &pc) {
		hints = append(hints, fmt.Sprintf("if the peer really has a new identity, check it with them, then run: sp2p peers remove %s", pc.Name))
	}
	if errors.Is(err, transfer.ErrExists) {
		hints = append(hints, "the receiving side can add --overwrite to replace files that exist")
	}
	if errors.Is(err, session.ErrCertificateMismatch) {
		hints = append(hints, "do not retry over this network; compare fingerprints and safety codes with the peer by phone or in person")
	}
	return hints
}
