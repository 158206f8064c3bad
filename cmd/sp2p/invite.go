package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
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
Then the two of you are connected: a line chat, or with --pipe a byte stream.
On a local network nothing needs pasting: a known peer invited with --to
runs 'sp2p accept --from YOURNAME', anyone else the short code printed
next to the token (--no-lan: token only).`,
		Example: `  sp2p invite --to bob
  sp2p invite --qr --ttl 15m
  sp2p invite --offer-file offer.txt --answer-file answer.txt --pipe < file`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signalContext()
			defer stop()
			purpose := invite.PurposeChat
			if f.pipe {
				purpose = invite.PurposeStream
			}
			s, peers, err := a.openInvite(ctx, &f, to, ttl, purpose)
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
// token (made for purpose) out, the answer in, the answerer shown and
// confirmed.
// Interrupted (Ctrl-C) before the session opens, it also removes the offer
// token file it wrote: the invitation is closed, the token is dead.
func (a *app) openInvite(ctx context.Context, f *connFlags, to string, ttl time.Duration, purpose invite.Purpose) (_ *session.Session, _ *identity.Peers, err error) {
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
	opts.Purpose = purpose
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
	lan := a.startLAN(ctx, f, inv, opts.Recipient, peers)
	defer lan.Close()
	a.infof("invitation valid for %v (until %s); waiting for the answer token%s",
		ttl, inv.Offer().Expires().Local().Format("15:04:05"), map[bool]string{true: " in " + f.answerFile, false: " (paste it here)"}[f.answerFile != ""])
	wctx, cancel := context.WithDeadline(ctx, inv.Offer().Expires())
	defer cancel()
	ans, err := a.readAnswer(wctx, f, inv, lan.Answers())
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, nil, fmt.Errorf("no answer before the invitation expired: %w", invite.ErrExpired)
		}
		return nil, nil, fmt.Errorf("reading the answer token: %w", err)
	}
	a.describePeer("answered by", "answerer", ans.Answerer, peers)
	// A known (pinned) answerer, or one this invitation was for, needs no
	// question: its identity is what was asked for.
	if _, known := peers.LookupID(ans.Answerer); !known && !f.yes && opts.Recipient.IsZero() && opts.Expect.IsZero() {
		ok, err := a.confirm("Connect to this peer?")
		if err != nil {
			a.refuse(inv, ans, session.GaveUp)
			return nil, nil, err
		}
		if !ok {
			a.refuse(inv, ans, session.Refused)
			return nil, nil, errors.New("refused by you: not connecting to this peer")
		}
	} else {
		// What was typed or pasted after the answer (the same answer
		// pasted twice) is not for the chat either.
		a.discardTerminalInput()
	}
	a.infof("connecting…")
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	s, err := inv.Connect(cctx, ans)
	cancel()
	if errors.Is(err, session.ErrPeerGaveUp) {
		return nil, nil, &plainError{"the invitee gave up before the connection opened (interrupted, or an error on their side)", err}
	}
	if err != nil {
		return nil, nil, err
	}
	connected = true
	a.rememberPairing(f, s, peers)
	a.watchResume(s)
	return s, peers, nil
}

// readAnswer waits for an answer token to this invitation, pasted or in
// --answer-file, until ctx ends (the invitation expires). A token that
// cannot be used (not an answer, damaged, for another invitation, used
// already, from someone the invitation is not for) is refused with the
// reason, and the wait goes on.
func (a *app) readAnswer(ctx context.Context, f *connFlags, inv *session.Invitation, lan <-chan string) (*invite.Answer, error) {
	var paste io.Reader // the stdin reader while the LAN may answer
	if lan != nil {
		// The paste read ends with this call, and is waited for: once
		// the LAN's answer won, what is typed next (the answer to a
		// question, the chat) is not taken by it.
		var stop context.CancelFunc
		ctx, stop = context.WithCancel(ctx)
		defer func() {
			stop()
			if paste != nil {
				drained(paste)
			}
		}()
	}
	var next func() (string, error)
	where := " (paste it here)"
	switch {
	case f.answerFile != "":
		where = " in " + f.answerFile
		var last string
		next = func() (string, error) {
			text, err := waitNewTokenFile(ctx, f.answerFile, invite.KindAnswer, last)
			last = text
			return text, err
		}
	default:
		var r io.Reader = a.stdin
		if f.pipe {
			tty, err := openTTY()
			if err != nil {
				return nil, &usageError{errors.New("with --pipe, give --answer-file (stdin carries data)")}
			}
			defer tty.Close()
			r = tty
		}
		if lan != nil {
			r = stopReader(ctx, r) // lanstdin_unix.go
			paste = r
		}
		pr := newPasteReader(r)
		next = func() (string, error) { return pr.token(ctx, a.partialToken) }
	}
	next = mergeAnswers(ctx, next, lan)
	for {
		text, err := next()
		if err != nil {
			return nil, err
		}
		ans, err := checkAnswer(inv, text)
		if err == nil {
			return ans, nil
		}
		if errors.Is(err, invite.ErrExpired) {
			return nil, err
		}
		msg, detail := answerProblem(err)
		a.warnf("%s", msg)
		if detail != nil {
			a.detailf("%v", detail)
		}
		a.infof("still waiting for the answer token%s, until %s", where, inv.Offer().Expires().Local().Format("15:04:05"))
	}
}

// checkAnswer parses text as an answer and checks it against inv.
func checkAnswer(inv *session.Invitation, text string) (*invite.Answer, error) {
	if _, err := invite.ParseAnswer(text); err != nil {
		return nil, explainToken("answer", text, err)
	}
	return inv.ReadAnswer(text)
}

// partialToken tells the user who pasted part of a token that more is
// expected.
func (a *app) partialToken(chars int) {
	a.infof("the token is not complete yet (%d characters so far): paste the rest, or an empty line to stop", chars)
}

// refuse tells the answerer that this side will not connect
// (session.Invitation.Refuse), so that it does not wait until the
// invitation expires. It gives up after a few seconds, or at Ctrl-C.
func (a *app) refuse(inv *session.Invitation, ans *invite.Answer, reason session.RefuseReason) {
	limit := refuseTimeout
	if reason == session.GaveUp {
		limit = gaveUpTimeout // Ctrl-C: the user wants to leave
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	a.infof("telling the answerer that you do not connect…")
	if err := inv.Refuse(ctx, ans, reason); err != nil {
		a.warnf("the answerer could not be told (it waits until the invitation expires): %v", err)
	}
}

// How long refuse tries to reach the answerer.
const (
	refuseTimeout = 15 * time.Second
	gaveUpTimeout = 4 * time.Second
)
