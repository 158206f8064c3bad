//go:build js && wasm

package main

import (
	"fmt"

	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/session"
)

// Purposes, as sp2p.d.ts names them. A token of sp2p's third purpose, a
// byte stream (`sp2p invite --pipe`), is refused: a page has no stream.
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

// setPurpose puts the purpose into the inviter's options, to be signed in
// the offer.
func setPurpose(opts *session.Options, p string) {
	opts.Purpose = invite.PurposeChat
	if p == purposeFiles {
		opts.Purpose = invite.PurposeFiles
	}
}

// offerPurpose is the purpose an offer names, or an error wrapping
// invite.ErrWrongPurpose for one a page cannot take.
func offerPurpose(o *invite.Offer) (string, error) {
	switch o.Purpose {
	case invite.PurposeChat:
		return purposeChat, nil
	case invite.PurposeFiles:
		return purposeFiles, nil
	}
	return "", fmt.Errorf("%w (a page takes chats and files)", o.CheckPurpose(invite.PurposeChat))
}
