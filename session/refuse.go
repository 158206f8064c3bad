package session

import (
	"context"
	"crypto/subtle"
	"fmt"
	"time"

	"github.com/sp2p/sp2p/internal/seal"
	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/link"
)

// Why the peer closed, as the close record's payload says (SECURITY.md,
// "Sessions"): empty or 0 is a plain close; 1 is the inviter's refusal
// and 2 a side giving up (interrupted while connecting), both before any
// session opened. Unknown values read as a plain
// close; a payload longer than one byte is a protocol error.
const (
	closePlain   = 0
	closeRefused = 1
	closeGaveUp  = 2
)

// Why the peer ended a handshake (see [Invitation.Refuse]): the inviter
// refused this answer, or either side gave up while connecting.
// Acceptance.Wait returns both, Invitation.Connect ErrPeerGaveUp; both
// wrap ErrPeerClosed, since the peer did close, with a reason.
var (
	ErrRefused    = fmt.Errorf("%w: it refused the connection", ErrPeerClosed)
	ErrPeerGaveUp = fmt.Errorf("%w: it gave up before connecting", ErrPeerClosed)
)

// RefuseReason is what [Invitation.Refuse] tells the answerer.
type RefuseReason byte

const (
	// Refused: the inviter declined this answerer (ErrRefused).
	Refused RefuseReason = closeRefused
	// GaveUp: the inviter stopped before connecting (interrupted, or an
	// error on its side) (ErrPeerGaveUp).
	GaveUp RefuseReason = closeGaveUp
)

// refuseLinger bounds the wait, after the refusal is written, for the
// answerer to close its end, so that the record is not lost with the
// connection.
const refuseLinger = 2 * time.Second

// closeError is the end a close record with payload pt means.
func closeError(pt []byte) error {
	switch {
	case len(pt) > 1:
		return fmt.Errorf("%w: a close record with %d bytes of payload, at most 1", ErrProtocol, len(pt))
	case len(pt) == 1 && pt[0] == closeRefused:
		return ErrRefused
	case len(pt) == 1 && pt[0] == closeGaveUp:
		return ErrPeerGaveUp
	}
	return ErrPeerClosed // empty, 0, or a reason this version does not know
}

// Refuse tells the answerer of a (an answer from ReadAnswer) that this
// side will not connect, instead of leaving it waiting until the
// invitation expires: it applies the answer, derives the keys, waits for
// the connection as Connect does, and sends one close record carrying
// reason, sealed under this side's key, in place of its key confirmation.
// The answerer's Acceptance.Wait then returns ErrRefused or ErrPeerGaveUp.
// Only the holder of the handshake keys can make that record, so a
// refusal cannot be forged by whoever sees the tokens. No session opens,
// and the invitation is closed. ctx bounds the wait for the connection;
// reason must be Refused or GaveUp (another is an error; nothing is sent).
func (inv *Invitation) Refuse(ctx context.Context, a *invite.Answer, reason RefuseReason) error {
	if reason != Refused && reason != GaveUp {
		return fmt.Errorf("session: Refuse with an unknown reason %d (want Refused or GaveUp)", reason)
	}
	defer inv.Close()
	if subtle.ConstantTimeCompare(a.OfferHash[:], hashOf(inv.offer)) != 1 {
		return fmt.Errorf("%w: the answer is for another invitation", invite.ErrUnknownOffer)
	}
	eph := inv.takeEph()
	if eph == nil {
		return fmt.Errorf("%w: the invitation was already used or closed", ErrClosed)
	}
	keys, err := deriveKeys(eph, a.Ephemeral[:], invite.Transcript(inv.offer, a), seal.Offerer)
	if err != nil {
		return err
	}
	defer keys.Erase()
	if err := inv.pc.Apply(&a.Conn); err != nil {
		return err
	}
	ch, err := inv.pc.Open(ctx)
	if err != nil {
		return err
	}
	return sendRefusal(ch, keys, &inv.opts, reason)
}

// sendRefusal sends, on a channel that just opened, one close record
// carrying reason in place of this side's key confirmation, and waits a
// moment for the peer to close its end.
func sendRefusal(ch link.Channel, keys *seal.Keys, opts *Options, reason RefuseReason) error {
	var tr transport = chanTransport{ch}
	if opts.wrapTransport != nil {
		tr = opts.wrapTransport(tr)
	}
	defer tr.close()
	sealer, _ := seal.New(keys, opts.Seal)
	rec, err := sealer.Seal(nil, seal.TypeClose, []byte{byte(reason)})
	if err != nil {
		return err
	}
	if err := tr.writeMessage(rec); err != nil {
		return fmt.Errorf("session: sending the refusal: %w", err)
	}
	// The peer sends its key confirmation, then closes its end when it
	// reads the refusal: read until then, for at most refuseLinger.
	lctx, cancel := context.WithTimeout(context.Background(), refuseLinger)
	defer cancel()
	stop := context.AfterFunc(lctx, func() { tr.close() })
	defer stop()
	buf := make([]byte, MaxRecord)
	for {
		if _, err := tr.readMessage(buf); err != nil {
			return nil
		}
	}
}
