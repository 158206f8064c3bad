//go:build js && wasm

package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/link"
	"github.com/sp2p/sp2p/session"
	"github.com/sp2p/sp2p/transfer"
)

// apiError is what the bridge rejects with: sp2p.js turns it into an
// SP2PError. Code is one of sp2p.d.ts's ErrorCode values, Message what a
// person reads, Detail the Go error's text (which never holds a secret).
type apiError struct {
	Code    string
	Message string
	Detail  string
}

func (e *apiError) Error() string { return e.Message }

// errWrongPurpose is a session or token used for what it is not for.
var errWrongPurpose = errors.New("sp2p: the token or session is for another use")

// invalid makes an "invalid" error with a message for a person.
func invalid(msg string, err error) *apiError {
	d := msg
	if err != nil {
		d = err.Error()
	}
	return &apiError{Code: "invalid", Message: msg, Detail: oneLine(d)}
}

// tokenRole says which token an error is about, for its message.
type tokenRole string

const (
	offerToken  tokenRole = "invitation"
	answerToken tokenRole = "answer"
	noToken     tokenRole = ""
)

// classify maps err, from the libraries, to the API's error: the code of
// the sentinel it wraps (errors.Is; the most specific first) and the
// message the CLI would print for it, in the same words where there are
// any (cmd/sp2p/tokenerr.go, hints.go).
func classify(err error, role tokenRole) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	e := &apiError{Detail: oneLine(err.Error())}
	what := string(role)
	if what == "" {
		what = "token"
	}
	set := func(code, msg string) *apiError { e.Code, e.Message = code, msg; return e }
	switch {
	// Tokens.
	case errors.Is(err, invite.ErrUnsupportedVersion):
		return set("unsupported-version", fmt.Sprintf("this %s token was made by another version of sp2p (%s): use the same version on both sides", what, versionDetail(err)))
	case errors.Is(err, invite.ErrWrongKind):
		if role == answerToken {
			return set("wrong-kind", "that is an invitation token, not an answer: paste the answer token the invitee sent back")
		}
		return set("wrong-kind", "that is an answer token, not an invitation: paste the invitation (offer) token")
	case errors.Is(err, invite.ErrMalformed), errors.Is(err, invite.ErrLimit):
		code := "malformed"
		if errors.Is(err, invite.ErrLimit) {
			code = "limit"
		}
		return set(code, fmt.Sprintf("the %s token was damaged or altered in copying (a character changed, lost or added on the way): copy it again in full", what))
	case errors.Is(err, invite.ErrBadSignature):
		return set("bad-signature", fmt.Sprintf("the %s token was damaged or altered in copying (its signature does not verify): copy it again in full", what))
	case errors.Is(err, invite.ErrExpired):
		if role == answerToken {
			return set("expired", "this invitation has expired: make a new one")
		}
		return set("expired", "this invitation has expired: ask for a new one")
	case errors.Is(err, invite.ErrNotYetValid):
		return set("not-yet-valid", fmt.Sprintf("that %s was made in the future: check the clocks on both machines", what))
	case errors.Is(err, invite.ErrWrongRecipient):
		if role == answerToken {
			return set("wrong-recipient", "that answer comes from someone this invitation is not for")
		}
		return set("wrong-recipient", "this invitation is for someone else")
	case errors.Is(err, invite.ErrUnexpectedPeer):
		if role == answerToken {
			return set("unexpected-peer", "that answer comes from someone this invitation is not for")
		}
		return set("unexpected-peer", "this invitation comes from someone other than the peer you expect")
	case errors.Is(err, invite.ErrUnknownOffer):
		return set("unknown-offer", "that answer is for another invitation (an older one?): the invitee must accept the token of this one")
	case errors.Is(err, invite.ErrReplayed), errors.Is(err, invite.ErrAlreadyUsed):
		code := "already-used"
		if errors.Is(err, invite.ErrReplayed) {
			code = "replayed"
		}
		return set(code, "that answer was used already: each answer connects once")
	case errors.Is(err, invite.ErrTooManyPending):
		return set("limit", "too many invitations are open: close some first")
	case errors.Is(err, invite.ErrWrongPurpose):
		return set("wrong-purpose", "this invitation is for another use: "+afterSentinel(err, invite.ErrWrongPurpose))
	case errors.Is(err, errWrongPurpose):
		return set("wrong-purpose", "this session is for another use: "+afterSentinel(err, errWrongPurpose))

	// Connecting.
	case errors.Is(err, session.ErrRefused):
		return set("refused", "the inviter refused the connection")
	case errors.Is(err, session.ErrPeerGaveUp):
		return set("peer-gave-up", "the inviter gave up before connecting")
	case errors.Is(err, session.ErrCertificateMismatch):
		return set("handshake-failed", "the peer's certificate does not match its signed token: the connection may be under attack; do not retry over this network, and compare fingerprints and safety codes with the peer by phone or in person")
	case errors.Is(err, session.ErrKeyConfirmation), errors.Is(err, link.ErrHandshakeFailed):
		return set("handshake-failed", "the peer was reached but the secure handshake with it failed")
	case errors.Is(err, session.ErrConnectFailed):
		msg := "could not connect to the peer"
		var cf *session.ConnectFailure
		if errors.As(err, &cf) {
			switch cf.Cause {
			case session.CauseRelayFailed:
				msg += ": even the relay failed (check the TURN server's address and credentials on both sides)"
			case session.CauseStrictNAT:
				msg += ": both sides are behind strict NATs; a TURN relay is needed (iceServers)"
			case session.CauseNoPublicAddress:
				msg += ": a side has no public address; add a STUN server (iceServers), or a TURN relay"
			}
		}
		return set("connect-failed", msg)

	// Sessions.
	case errors.Is(err, session.ErrClosed), errors.Is(err, context.Canceled):
		return set("closed", "this was closed")
	case errors.Is(err, session.ErrPeerLost):
		return set("peer-lost", "the connection to the peer was lost")
	case errors.Is(err, session.ErrPeerClosed):
		return set("peer-closed", "the peer closed the session")
	case errors.Is(err, session.ErrReceiveOverflow):
		return set("limit", "the peer sent more than this page could hold while it was not reading")
	case errors.Is(err, session.ErrProtocol), errors.Is(err, session.ErrPenalized), errors.Is(err, session.ErrLimiter):
		return set("peer-closed", "the session ended: the peer broke the protocol or its limits")
	case errors.Is(err, session.ErrRecordTime):
		return set("peer-lost", "the session ended: the clocks of the two machines differ too much (are both clocks right?)")

	// The identity.
	case errors.Is(err, identity.ErrWrongPassphrase):
		return set("bad-passphrase", "wrong passphrase for the identity")
	case errors.Is(err, identity.ErrNoPassphrase):
		return set("bad-passphrase", "the identity file is protected by a passphrase: give it")
	case errors.Is(err, identity.ErrWorkFactor):
		return set("limit", "the identity file asks for more memory to unlock than sp2p allows")
	case errors.Is(err, identity.ErrCorruptFile):
		return set("malformed", "that is not an sp2p identity file, or it is damaged")

	// Files.
	case errors.Is(err, transfer.ErrDeclined):
		return set("declined", "the receiver declined the files")
	case errors.Is(err, transfer.ErrIntegrity):
		return set("integrity", "a file did not arrive intact (its SHA-256 does not match): send it again")
	case errors.Is(err, transfer.ErrNoSpace):
		return set("transfer-failed", fmt.Sprintf("the files are larger than this page can hold (%d MiB at most)", maxReceive>>20))
	case isTransferError(err):
		return set("transfer-failed", "the file transfer failed: "+e.Detail)
	case errors.Is(err, context.DeadlineExceeded):
		return set("connect-failed", "it took too long")
	}
	return set("internal", "something went wrong inside sp2p (please report it): "+e.Detail)
}

func isTransferError(err error) bool {
	for _, s := range []error{transfer.ErrBadManifest, transfer.ErrUnsafeName, transfer.ErrExists, transfer.ErrIncomplete, transfer.ErrProtocol, transfer.ErrNoSpace, transfer.ErrDiskFull, transfer.ErrChanged, errTooLarge} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// versionDetail is the part of an unsupported-version error that names
// both versions, "version 2 (this program reads version 1)".
func versionDetail(err error) string {
	s := err.Error()
	if i := strings.Index(s, "version "); i >= 0 && strings.Contains(s[i:], "reads version") {
		return strings.TrimSuffix(s[i:], ")") + ")"
	}
	return fmt.Sprintf("this one reads version %d", invite.Version)
}

// afterSentinel is what err says after the sentinel's text.
func afterSentinel(err, sentinel error) string {
	s := err.Error()
	if i := strings.Index(s, sentinel.Error()+": "); i >= 0 {
		return s[i+len(sentinel.Error())+2:]
	}
	return s
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
