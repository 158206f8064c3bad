package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/session"
)

func (a *app) inviteCmd() *cobra.Command {
	var f connFlags
	var to string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "invite [--to NAME|ID]",
		Short: "Invite someone: print an offer token, wait for the answer, connect",
		Long: `Create a signed invitation (offer token) and print it. Send it to the
person you invite by any means (chat, mail, QR code); they run
'sp2p accept TOKEN' and send back an answer token, which you paste here.
Then the two of you are connected: a line chat, or with --pipe a byte stream.`,
		Example: `  sp2p invite --to bob
  sp2p invite --qr --ttl 15m
  sp2p invite --offer-file offer.txt --answer-file answer.txt --pipe < file`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signalContext()
			defer stop()
			s, peers, err := a.openInvite(ctx, &f, to, ttl)
			if err != nil {
				return err
			}
			return a.runSession(ctx, s, &f, peers)
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "invite only this peer (`NAME` or ID); nobody else can answer")
	cmd.Flags().StringVar(&f.expect, "expect", "", "accept only an answer from this peer (`NAME` or ID)")
	ttlFlag(cmd, &ttl)
	f.register(cmd)
	return cmd
}

// openInvite runs the inviter's side up to an open session: the offer
// token out, the answer in, the answerer shown and confirmed.
// Interrupted (Ctrl-C) before the session opens, it also removes the offer
// token file it wrote: the invitation is closed, the token is dead.
func (a *app) openInvite(ctx context.Context, f *connFlags, to string, ttl time.Duration) (_ *session.Session, _ *identity.Peers, err error) {
	if ttl < invite.MinLifetime || ttl > invite.MaxLifetime {
		return nil, nil, &usageError{fmt.Errorf("--ttl %v: must be from %v to %v", ttl, invite.MinLifetime, invite.MaxLifetime)}
	}
	opts, err := a.sessionOptions(f)
	if err != nil {
		return nil, nil, err
	}
	peers, err := a.peers()
	if err != nil {
		return nil, nil, err
	}
	if opts.Recipient, err = a.resolvePeer(peers, to); err != nil {
		return nil, nil, err
	}
	if opts.Expect, err = a.resolvePeer(peers, f.expect); err != nil {
		return nil, nil, err
	}
	opts.Lifetime = ttl.Truncate(time.Second)
	me, _, err := a.loadIdentity()
	if err != nil {
		return nil, nil, err
	}
	inv, err := gather(ctx, a, opts, func(ctx context.Context) (*session.Invitation, error) {
		return session.Invite(ctx, me, opts)
	})
	if err != nil {
		return nil, nil, err
	}
	connected := false
	defer func() {
		if !connected {
			inv.Close()
			if isInterrupt(err) {
				removeTokenFile(f.offerFile, inv.Token())
			}
		}
	}()
	if err := a.showToken(f, f.offerFile, inv.Token(), "offer"); err != nil {
		return nil, nil, err
	}
	a.infof("invitation valid for %v (until %s); waiting for the answer token%s",
		ttl, inv.Offer().Expires().Local().Format("15:04:05"), map[bool]string{true: " in " + f.answerFile, false: " (paste it here)"}[f.answerFile != ""])
	wctx, cancel := context.WithDeadline(ctx, inv.Offer().Expires())
	defer cancel()
	text, err := a.readAnswerToken(wctx, f)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, nil, fmt.Errorf("no answer before the invitation expired: %w", invite.ErrExpired)
		}
		return nil, nil, fmt.Errorf("reading the answer token: %w", err)
	}
	ans, err := inv.ReadAnswer(text)
	if err != nil {
		return nil, nil, err
	}
	a.describePeer("answered by", "answerer", ans.Answerer, peers)
	if !f.yes && opts.Recipient.IsZero() && opts.Expect.IsZero() {
		ok, err := a.confirm("Connect to this peer?")
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			return nil, nil, errors.New("refused by you: not connecting to this peer")
		}
	}
	a.infof("connecting…")
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	s, err := inv.Connect(cctx, ans)
	cancel()
	if err != nil {
		return nil, nil, err
	}
	connected = true
	return s, peers, nil
}

func (a *app) readAnswerToken(ctx context.Context, f *connFlags) (string, error) {
	if f.answerFile != "" {
		return waitTokenFile(ctx, f.answerFile, invite.KindAnswer)
	}
	if f.pipe {
		tty, err := openTTY()
		if err != nil {
			return "", &usageError{errors.New("with --pipe, give --answer-file (stdin carries data)")}
		}
		defer tty.Close()
		return readPastedToken(ctx, tty)
	}
	return readPastedToken(ctx, a.stdin)
}
