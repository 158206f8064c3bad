package invite

import "errors"

// Errors of decoding and verifying tokens. Every error returned by this
// package wraps one of them; test with errors.Is.
var (
	ErrMalformed          = errors.New("invite: malformed token")
	ErrLimit              = errors.New("invite: token exceeds a limit")
	ErrUnsupportedVersion = errors.New("invite: unsupported token version")
	ErrWrongKind          = errors.New("invite: wrong kind of token")
	ErrBadSignature       = errors.New("invite: bad signature")
	ErrExpired            = errors.New("invite: invitation expired")
	ErrNotYetValid        = errors.New("invite: token created in the future (check the clocks)")
	ErrWrongRecipient     = errors.New("invite: token is for someone else")
	ErrUnexpectedPeer     = errors.New("invite: token signed by an unexpected identity")
	ErrUnknownOffer       = errors.New("invite: answer to an unknown invitation")
	ErrAlreadyUsed        = errors.New("invite: invitation already answered")
	ErrReplayed           = errors.New("invite: answer replayed")
	ErrTooManyPending     = errors.New("invite: too many pending invitations")
)
