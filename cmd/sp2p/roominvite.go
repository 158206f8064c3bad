package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/room"
	"github.com/sp2p/sp2p/roomstate"
	"github.com/sp2p/sp2p/session"
	"github.com/spf13/cobra"
)

func (a *app) roomInviteCmd() *cobra.Command {
	var f roomFlags
	var to string
	cmd := &cobra.Command{
		Use:   "invite NAME|ID",
		Short: "Invite someone into a room you belong to: print the invitation, take the answer",
		Long: `Prints an invitation (an offer token) into one of your rooms (see
sp2p room list) and waits for the newcomer's answer token, pasted here.

If the room is open in another sp2p on this machine (sp2p room create or
join, in another terminal), the newcomer joins it there, with its
neighbours, and this command ends. Otherwise this command enters the room
itself: once the newcomer is in, it is a line chat as with create.`,
		Example: `  sp2p room invite "book club"
  sp2p room invite "book club" --to bob`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signalContext()
			defer stop()
			opts, peers, err := a.roomSetup(&f)
			if err != nil {
				return err
			}
			toID, err := a.resolvePeer(peers, to)
			if err != nil {
				return err
			}
			st, sr, err := a.findRoom(args[0])
			if err != nil {
				return err
			}
			if ok, err := a.inviteThroughRunning(ctx, &f, st, sr.ID, toID, peers); ok {
				return err
			}
			me, _, err := a.loadIdentity()
			if err != nil {
				return err
			}
			sy := roomstate.New()
			r, err := room.Open(me, sr.data, roomOptions(room.Options{Session: opts}, sy))
			switch {
			case errors.Is(err, room.ErrRemoved):
				return &plainError{msg: "the room's creator removed you from this room (sp2p room forget " + args[0] + " forgets it)", err: err}
			case errors.Is(err, room.ErrNotMember):
				return &plainError{msg: "this identity is not a member of that room", err: err}
			case err != nil:
				return fmt.Errorf("%s: %w", sr.path, err)
			}
			a.infof("room %q is not open in another sp2p: entering it here (ID %s, %d members)", sanitize(r.Name()), r.ID(), len(r.Members()))
			if err := a.admitOne(ctx, r, &f, opts, toID, peers); err != nil {
				r.Close()
				return err
			}
			return a.runRoom(ctx, r, me, sy, &f, peers)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&to, "to", "", "invite only this peer (`NAME` or ID); nobody else can answer")
	return cmd
}

// admitOne makes an invitation into r, reads the pasted answer and admits
// its sender.
func (a *app) admitOne(ctx context.Context, r *room.Room, f *roomFlags, opts session.Options, to identity.ID, peers *identity.Peers) error {
	inv, err := gather(ctx, a, opts, func(ctx context.Context) (*room.Invitation, error) {
		return r.Invite(ctx, room.InviteOptions{To: to, Lifetime: f.ttl.Truncate(time.Second)})
	})
	if err != nil {
		return fmt.Errorf("making the invitation: %w", err)
	}
	defer inv.Close()
	if err := a.showToken(&f.conn, "", inv.Token(), "offer"); err != nil {
		return err
	}
	exp := inv.Offer().Expires()
	a.infof("invitation valid until %s: send it to the newcomer, then paste their answer token here", exp.Local().Format("15:04:05"))
	wctx, cancel := context.WithDeadline(ctx, exp)
	defer cancel()
	pr := newPasteReader(a.stdin)
	for {
		text, err := pr.token(wctx, a.partialToken)
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("no answer before the invitation expired: %w", invite.ErrExpired)
		}
		if err != nil {
			return fmt.Errorf("reading the answer token: %w", err)
		}
		if _, err := invite.ParseAnswer(text); err != nil {
			a.warnAnswer(explainToken("answer", text, err))
			continue
		}
		ans, err := inv.ReadAnswer(text)
		if err != nil {
			a.warnAnswer(err)
			a.infof("still waiting for the answer token, until %s", exp.Local().Format("15:04:05"))
			continue
		}
		a.describePeer("answered by", "newcomer", ans.Answerer, peers)
		a.infof("connecting…")
		actx, acancel := context.WithTimeout(ctx, 60*time.Second)
		defer acancel()
		if err := inv.Admit(actx, ans); err != nil {
			return fmt.Errorf("admitting the newcomer: %w", err)
		}
		a.infof("admitted; safety code with the newcomer: %s", inv.SafetyCode())
		return nil
	}
}
