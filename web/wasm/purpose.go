//go:build js && wasm

package main

import (
	"fmt"

	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/session"
)

// Purposes, as sp2p.d.ts names them.
const (
	purposeChat  = "chat"
	purposeFiles = "files"
)

// parsePurpose reads InvitationOptions.purpose ("" is "chat").
func parsePurpose(s string) (string, error) {
	switch s {
	case "", purposeChat:
		return purposeChat, nil
	case purposeFiles:
		return purposeFiles, nil
	}
	return "", invalid(fmt.Sprintf("unknown purpose %q: \"chat\" or \"files\"", s), nil)
}

// setPurpose puts the purpose into the inviter's options.
func setPurpose(opts *session.Options, p string) error {
	if p != purposeChat {
		return fmt.Errorf("%w: tokens of this version carry no purpose, so only chat invitations can be made", errWrongPurpose)
	}
	return nil
}

// offerPurpose is the purpose an offer names.
func offerPurpose(o *invite.Offer) string { return purposeChat }
