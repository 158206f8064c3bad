package invite

import "errors"

// oldVersionError is ErrUnsupportedVersion for a genuine token of an
// earlier format version (see ErrOldVersion).
type oldVersionError struct{}

func (oldVersionError) Error() string { return ErrUnsupportedVersion.Error() }
func (oldVersionError) Unwrap() error { return ErrUnsupportedVersion }

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
	// ErrWrongPurpose: the offer is for another use than the one asked
	// for ([Offer.CheckPurpose]); the error says which.
	ErrWrongPurpose = errors.New("invite: the invitation is for something else")
	// ErrOldVersion wraps ErrUnsupportedVersion for a token of an
	// earlier format version that is genuine (its signature verifies under
	// that version's rules): its author runs an older sp2p and must make a
	// new token. A token of another version that is not is damaged, and
	// is refused with ErrUnsupportedVersion alone.
	ErrOldVersion error = oldVersionError{}
)
