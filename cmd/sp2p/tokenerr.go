package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sp2p/sp2p/invite"
)

// tokenError is a token that does not decode or verify, put the way its
// user should read it: almost always a token damaged in copying (one
// changed character breaks the signature, or any field), so "copy it
// again in full"; a newer version is claimed only for a token that is
// well-formed apart from its version, an older one only for a genuine
// token of that version (the library checks its signature under that
// version's rules: invite.ErrOldVersion). The library's error is the detail,
// printed on the line below ("sp2p: detail: …").
type tokenError struct {
	what     string // "offer" or "answer"
	newer    byte   // the token's version, when it looks like a newer sp2p's
	older    bool   // a genuine token of version 1, from an older sp2p
	notToken bool   // the text does not even begin as a token does
	err      error
}

func (e *tokenError) Error() string {
	if e.notToken {
		return fmt.Sprintf("that is not an %s token (a token begins with %s)", e.what, invite.TextPrefix)
	}
	if e.older {
		return fmt.Sprintf("this %s token is version 1, from an older sp2p; this program reads version %d: ask for a new token (made with this version of sp2p)", e.what, invite.Version)
	}
	if e.newer != 0 {
		return fmt.Sprintf("this %s token was made by a newer version of sp2p (token version %d; this one reads version %d): update sp2p to use it", e.what, e.newer, invite.Version)
	}
	return fmt.Sprintf("the %s token is damaged or altered (a character changed, lost or added on the way): copy it again in full", e.what)
}

func (e *tokenError) Unwrap() error { return e.err }

// explainToken turns err, from parsing text as a token of kind what, into
// a tokenError when it means the token itself is broken (malformed, bad
// signature, over a limit, or an unknown version). Other errors (the
// wrong kind of token, expired, for someone else) pass through.
func explainToken(what, text string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, invite.ErrWrongKind):
		// A real token of the other kind says so; a damaged one whose
		// kind byte changed is damaged.
		kind, raw, derr := invite.Decode(text)
		if derr == nil && kind == invite.KindOffer {
			_, derr = invite.DecodeOffer(raw)
		} else if derr == nil {
			_, derr = invite.DecodeAnswer(raw)
		}
		if derr == nil {
			return err
		}
		return &tokenError{what: what, err: fmt.Errorf("%w; and it is no valid token of that kind either: %v", err, derr)}
	case errors.Is(err, invite.ErrOldVersion):
		return &tokenError{what: what, older: true, err: err}
	case !looksLikeToken(text) && (errors.Is(err, invite.ErrMalformed) || errors.Is(err, invite.ErrUnsupportedVersion)):
		return &tokenError{what: what, notToken: true, err: err}
	case errors.Is(err, invite.ErrUnsupportedVersion):
		return &tokenError{what: what, newer: newerVersion(text), err: err}
	case errors.Is(err, invite.ErrMalformed), errors.Is(err, invite.ErrBadSignature), errors.Is(err, invite.ErrLimit):
		return &tokenError{what: what, err: err}
	}
	return err
}

// looksLikeToken reports whether text could be a token that was damaged:
// it begins as one does (the text form's prefix, a link), or it is as long
// as the shortest token's text. A word typed by mistake is not.
func looksLikeToken(text string) bool {
	t := strings.ToUpper(strings.Join(strings.Fields(text), ""))
	return len(t) >= minTokenText || strings.HasPrefix(t, invite.TextPrefix) || strings.HasPrefix(t, "HTTP")
}

// minTokenText is about the length of the shortest token's base32 text.
const minTokenText = (2 + invite.SignatureSize) * 8 / 5

// newerVersion returns the version of text, a token this program cannot
// read, when it plausibly is a newer sp2p's: its text decodes, its length
// is within the limit, its kind is known, and it is not a token of this
// version with a damaged version byte (that one would verify with the
// version put back). Otherwise it returns 0: the token is damaged.
func newerVersion(text string) byte {
	kind, raw, err := invite.Decode(text)
	if err != nil || len(raw) > invite.MaxTokenSize || raw[0] <= invite.Version || (kind != invite.KindOffer && kind != invite.KindAnswer) {
		return 0
	}
	fixed := append([]byte{invite.Version}, raw[1:]...)
	if kind == invite.KindOffer {
		_, err = invite.DecodeOffer(fixed)
	} else {
		_, err = invite.DecodeAnswer(fixed)
	}
	if err == nil {
		return 0
	}
	return raw[0]
}

// answerProblem says why a pasted answer is refused, for the inviter, who
// then goes on waiting for a usable one; detail is the library's error,
// when the message puts it in other words.
func answerProblem(err error) (msg string, detail error) {
	var te *tokenError
	switch {
	case errors.As(err, &te):
		return te.Error(), te.err
	case errors.Is(err, invite.ErrWrongKind):
		return "that is an offer token (an invitation), not an answer: paste the answer token the invitee sent back", err
	case errors.Is(err, invite.ErrUnknownOffer):
		return "that answer is for another invitation (an older one?): the invitee must accept the token of this one", err
	case errors.Is(err, invite.ErrReplayed), errors.Is(err, invite.ErrAlreadyUsed):
		return "that answer was used already: each answer connects once", err
	case errors.Is(err, invite.ErrWrongRecipient), errors.Is(err, invite.ErrUnexpectedPeer):
		return "that answer comes from someone this invitation is not for", err
	case errors.Is(err, invite.ErrNotYetValid):
		return "that answer was made in the future: check the clocks on both machines", err
	}
	return "that answer cannot be used: " + err.Error(), nil
}
