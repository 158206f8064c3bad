package session

import (
	"context"
	"errors"
	"fmt"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/invite"
)

// ConnectInProcess runs the whole handshake between two identities held
// by this process, passing the tokens in memory as their text forms (so
// they are encoded, parsed and verified as if pasted), and returns the
// inviter's and the invitee's open sessions. observe, if not nil, sees the
// parsed offer and answer before the inviter reads the answer. It is for
// tests, demonstrations and benchmarks of programs built on sessions; give
// both sides the same Options.Link (an in-memory network in tests) or
// loopback pion options.
func ConnectInProcess(ctx context.Context, inviter, invitee *identity.Identity, inviterOpts, inviteeOpts Options, observe func(*invite.Offer, *invite.Answer)) (*Session, *Session, error) {
	inv, err := Invite(ctx, inviter, inviterOpts)
	if err != nil {
		return nil, nil, err
	}
	offer, err := invite.ParseOffer(inv.Token())
	if err != nil {
		inv.Close()
		return nil, nil, err
	}
	acc, err := Accept(ctx, invitee, offer, inviteeOpts)
	if err != nil {
		inv.Close()
		return nil, nil, err
	}
	if observe != nil {
		observe(offer, acc.Answer())
	}
	answer, err := inv.ReadAnswer(acc.Token())
	if err != nil {
		inv.Close()
		acc.Close()
		return nil, nil, err
	}
	type result struct {
		s   *Session
		err error
	}
	ch := make(chan result, 1)
	go func() {
		s, err := acc.Wait(ctx)
		ch <- result{s, err}
	}()
	a, aerr := inv.Connect(ctx, answer)
	r := <-ch
	if aerr != nil || r.err != nil {
		if a != nil {
			a.Close()
		}
		if r.s != nil {
			r.s.Close()
		}
		return nil, nil, fmt.Errorf("session: connecting in process: %w", errors.Join(aerr, r.err))
	}
	return a, r.s, nil
}
