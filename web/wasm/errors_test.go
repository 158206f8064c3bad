//go:build js && wasm

package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/link"
	"github.com/sp2p/sp2p/session"
	"github.com/sp2p/sp2p/transfer"
)

// Every Go sentinel maps to the code sp2p.d.ts gives it, also when
// wrapped, and the detail is the Go error's text on one line.
func TestErrorCodes(t *testing.T) {
	for _, c := range []struct {
		err  error
		code string
	}{
		{invite.ErrMalformed, "malformed"},
		{invite.ErrBadSignature, "bad-signature"},
		{fmt.Errorf("%w: version 2 (this program reads version 1)", invite.ErrUnsupportedVersion), "unsupported-version"},
		{invite.ErrWrongKind, "wrong-kind"},
		{invite.ErrExpired, "expired"},
		{invite.ErrNotYetValid, "not-yet-valid"},
		{invite.ErrWrongRecipient, "wrong-recipient"},
		{invite.ErrUnexpectedPeer, "unexpected-peer"},
		{invite.ErrUnknownOffer, "unknown-offer"},
		{invite.ErrAlreadyUsed, "already-used"},
		{invite.ErrReplayed, "replayed"},
		{invite.ErrLimit, "limit"},
		{fmt.Errorf("%w: files", errWrongPurpose), "wrong-purpose"},
		{fmt.Errorf("%w: this invitation is for sending files, not a chat", invite.ErrWrongPurpose), "wrong-purpose"},
		{session.ErrConnectFailed, "connect-failed"},
		{&session.ConnectFailure{Cause: session.CauseNoPublicAddress, Err: session.ErrConnectFailed}, "connect-failed"},
		{fmt.Errorf("%w: %w", link.ErrConnectFailed, link.ErrHandshakeFailed), "handshake-failed"},
		{session.ErrKeyConfirmation, "handshake-failed"},
		{session.ErrCertificateMismatch, "handshake-failed"},
		{session.ErrRefused, "refused"},
		{session.ErrPeerGaveUp, "peer-gave-up"},
		{session.ErrPeerClosed, "peer-closed"},
		{session.ErrPeerLost, "peer-lost"},
		{session.ErrTransportEnd, "peer-lost"},
		{session.ErrClosed, "closed"},
		{identity.ErrWrongPassphrase, "bad-passphrase"},
		{identity.ErrNoPassphrase, "bad-passphrase"},
		{transfer.ErrDeclined, "declined"},
		{transfer.ErrIntegrity, "integrity"},
		{transfer.ErrIncomplete, "transfer-failed"},
		{&transfer.RemoteError{Report: "x", Kinds: []error{transfer.ErrIntegrity}}, "integrity"},
		{errTooLarge, "transfer-failed"},
		{errors.New("something else"), "internal"},
	} {
		for _, err := range []error{c.err, fmt.Errorf("outer:\n %w", c.err)} {
			e := classify(err, noToken)
			if e.Code != c.code {
				t.Errorf("%v: code %q, want %q", err, e.Code, c.code)
			}
			if e.Detail != oneLine(err.Error()) || strings.Contains(e.Detail, "\n") {
				t.Errorf("%v: detail %q", err, e.Detail)
			}
			if e.Message == "" {
				t.Errorf("%v: no message", err)
			}
		}
	}
}

// The messages keep the CLI's meanings.
func TestErrorMessages(t *testing.T) {
	for _, c := range []struct {
		err  error
		role tokenRole
		want string
	}{
		{invite.ErrMalformed, offerToken, "the invitation token was damaged or altered in copying"},
		{invite.ErrBadSignature, answerToken, "the answer token was damaged or altered in copying"},
		{invite.ErrExpired, offerToken, "expired: ask for a new one"},
		{invite.ErrExpired, answerToken, "expired: make a new one"},
		{invite.ErrWrongKind, answerToken, "not an answer"},
		{invite.ErrWrongKind, offerToken, "not an invitation"},
		{fmt.Errorf("%w: version 2 (this program reads version 1)", invite.ErrUnsupportedVersion), offerToken, "version 2 (this program reads version 1)"},
		{&session.ConnectFailure{Cause: session.CauseNoPublicAddress, Err: session.ErrConnectFailed}, noToken, "STUN"},
		{session.ErrCertificateMismatch, noToken, "do not retry over this network"},
	} {
		if got := classify(c.err, c.role).Message; !strings.Contains(got, c.want) {
			t.Errorf("%v (%s): message %q, want it to contain %q", c.err, c.role, got, c.want)
		}
	}
	// An error the bridge made itself passes through.
	e := invalid("lifetime out of range", nil)
	if got := classify(fmt.Errorf("wrapped: %w", e), noToken); got != e {
		t.Errorf("apiError not passed through: %+v", got)
	}
}

func TestTokenText(t *testing.T) {
	for in, want := range map[string]string{
		"  SP2P:ABC  \n":                     "SP2P:ABC",
		"http://localhost:8080/#SP2P:ABC":    "SP2P:ABC",
		"HTTP://127.0.0.1:8080/x?y#SP2P:ABC": "SP2P:ABC",
		"https://example.org/#SP2P:ABC":      "SP2P:ABC",
		"http://localhost:8080/":             "http://localhost:8080/",
		"ABC":                                "ABC",
	} {
		if got := tokenText(in); got != want {
			t.Errorf("tokenText(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPurpose(t *testing.T) {
	for in, want := range map[string]string{"": "chat", "chat": "chat", "files": "files"} {
		if got, err := parsePurpose(in); err != nil || got != want {
			t.Errorf("parsePurpose(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := parsePurpose("video"); classify(err, noToken).Code != "invalid" {
		t.Errorf("parsePurpose(video): %v", err)
	}
}
