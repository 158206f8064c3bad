package main

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/sp2p/sp2p/discovery"
	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/internal/qr"
	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/session"
)

func (a *app) acceptCmd() *cobra.Command {
	var f connFlags
	var qrImage string
	cmd := &cobra.Command{
		Use:   "accept TOKEN|LINK|CODE|- | --from NAME",
		Short: "Accept an invitation: verify it, print the answer token, connect",
		Long: `Verify an invitation (offer token, sp2p: link or https link; '-' reads it
from stdin), show who sent it, and print the answer token to send back.
The connection opens when the inviter pastes the answer.
On a local network, --from NAME finds a known peer's 'sp2p invite --to'
with nothing pasted, and a short code (42-word-word-word) finds the inviter
of that code; the answer goes back over the LAN.`,
		Example: `  sp2p accept SP2P:AIA...
  sp2p accept --from alice
  sp2p accept 42-adroitness-aardvark-adviser
  sp2p accept --expect alice 'https://example.org/join#SP2P:AIA...'
  sp2p accept --qr-image screenshot.png
  sp2p accept --offer-file offer.txt --answer-file answer.txt --pipe > file`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signalContext()
			defer stop()
			purpose := invite.PurposeChat
			if f.pipe {
				purpose = invite.PurposeStream
			}
			s, peers, err := a.openAccept(ctx, &f, args, qrImage, true, purpose, nil)
			if err != nil {
				return err
			}
			return a.runSession(ctx, s, &f, peers)
		},
	}
	cmd.Flags().StringVar(&f.expect, "expect", "", "accept only an invitation from this peer (`NAME` or ID)")
	cmd.Flags().StringVar(&qrImage, "qr-image", "", "read the token from a QR code in a PNG or JPEG `FILE`")
	f.register(cmd)
	fromFlag(cmd, &f)
	return cmd
}

// openAccept runs the invitee's side up to an open session: the offer
// read and verified (and refused when it is not for purpose: another
// command reads it), the inviter shown (and confirmed when confirmPeer),
// the answer token out.
// Interrupted (Ctrl-C) before the session opens, it also removes the
// answer token file it wrote.
// openAccept reads, checks and answers an invitation, and waits for the
// inviter to connect. ready, if not nil, runs once the invitation is
// checked and accepted, before anything is answered (receive creates its
// --out there, so a bad token leaves nothing behind).
func (a *app) openAccept(ctx context.Context, f *connFlags, args []string, qrImage string, confirmPeer bool, purpose invite.Purpose, ready func() error) (_ *session.Session, _ *identity.Peers, err error) {
	code := ""
	if len(args) == 1 && looksLikeCode(args[0]) {
		code, args = args[0], nil
	}
	sources := len(args)
	if code != "" || f.from != "" {
		sources++
	}
	if f.offerFile != "" {
		sources++
	}
	if qrImage != "" {
		sources++
	}
	if sources == 0 {
		return nil, nil, &usageError{errors.New("no token: give it as an argument (the token or link, or a short code), '-' to paste it on stdin, --offer-file FILE or --qr-image FILE; on a LAN, --from NAME finds a known peer's invitation")}
	}
	if sources != 1 {
		return nil, nil, &usageError{errors.New("give the token in one way: as an argument, '-' (stdin), with --offer-file, or with --qr-image (or find it on the LAN with --from or a short code)")}
	}
	if len(args) == 1 && args[0] == "-" && f.pipe {
		return nil, nil, &usageError{errors.New("with --pipe, stdin carries data: give the token as an argument or with --offer-file")}
	}
	opts, err := a.sessionOptions(f)
	if err != nil {
		return nil, nil, err
	}
	peers, err := a.peers()
	if err != nil {
		return nil, nil, err
	}
	if opts.Expect, err = a.resolvePeer(peers, f.expect); err != nil {
		return nil, nil, err
	}
	from, err := a.resolvePeer(peers, f.from)
	if err != nil {
		return nil, nil, err
	}
	if opts.Expect.IsZero() {
		opts.Expect = from // --from: the invitation must be that peer's
	}
	var text string
	var lanEx *discovery.Exchange
	defer func() {
		if lanEx != nil {
			lanEx.Close()
		}
	}()
	switch {
	case code != "" || f.from != "":
		if lanOff(f) {
			return nil, nil, &usageError{errors.New("--from and short codes find the invitation on the LAN, which --no-lan, --loopback and --relay-only turn off")}
		}
		fromName, _ := peers.LookupID(from)
		text, lanEx, err = a.lanOffer(ctx, f, code, from, fromName)
		if errors.Is(err, errLANFallback) {
			text, err = a.pasteInstead(ctx, f)
		}
	case f.offerFile != "":
		wctx, cancel := context.WithTimeout(ctx, invite.MaxLifetime)
		text, err = waitTokenFile(wctx, f.offerFile, invite.KindOffer)
		cancel()
	case qrImage != "":
		text, err = readQRFile(qrImage)
	case args[0] == "-":
		if a.stdinIsTerminal() {
			a.infof("paste the invitation token (or link), then press Enter:")
		}
		text, err = readPastedToken(ctx, a.stdin)
	default:
		text = args[0]
	}
	if err != nil {
		return nil, nil, err
	}
	offer, err := invite.ParseOffer(text)
	if err != nil {
		return nil, nil, explainToken("offer", text, err)
	}
	if err := offer.CheckPurpose(purpose); err != nil {
		return nil, nil, wrongPurpose(offer.Purpose, purpose, err)
	}
	// An expired invitation is said before the passphrase is asked for.
	if !time.Now().Before(offer.Expires()) {
		return nil, nil, expiredOffer(offer, invite.ErrExpired)
	}
	me, _, err := a.loadIdentity()
	if err != nil {
		return nil, nil, err
	}
	if err := offer.Verify(invite.VerifyOptions{Self: me.ID(), Expect: opts.Expect}); errors.Is(err, invite.ErrExpired) {
		return nil, nil, expiredOffer(offer, err)
	} else if err != nil {
		return nil, nil, err
	}
	a.describePeer("invitation from", "inviter", offer.Inviter, peers)
	a.infof("  valid until %s", localClock(offer.Expires()))
	// A known (pinned) inviter, or the one asked for, needs no question.
	if _, known := peers.LookupID(offer.Inviter); confirmPeer && !known && !f.yes && opts.Expect.IsZero() {
		ok, err := a.confirm("Accept this invitation?")
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			return nil, nil, errors.New("refused by you: the invitation is not answered")
		}
	}
	if ready != nil {
		if err := ready(); err != nil {
			return nil, nil, err
		}
	}
	acc, err := gather(ctx, a, opts, func(ctx context.Context) (*session.Acceptance, error) {
		return session.Accept(ctx, me, offer, opts)
	})
	if err != nil {
		return nil, nil, err
	}
	connected := false
	defer func() {
		if !connected {
			acc.Close()
			if isInterrupt(err) {
				removeTokenFile(f.answerFile, acc.Token())
			}
		}
	}()
	if f.answerFile == "" {
		a.infof("send this answer token back to the inviter:")
	}
	if err := a.showToken(f, f.answerFile, acc.Token(), "answer"); err != nil {
		return nil, nil, err
	}
	lanSendAnswer(ctx, lanEx, acc.Token())
	a.infof("waiting for the inviter to connect (until the invitation expires at %s)…", localClock(offer.Expires()))
	s, err := acc.Wait(ctx)
	switch {
	case errors.Is(err, session.ErrRefused):
		return nil, nil, &plainError{"the inviter refused the connection (they declined this answer)", err}
	case errors.Is(err, session.ErrPeerGaveUp):
		return nil, nil, &plainError{"the inviter gave up before connecting (interrupted, or an error on their side)", err}
	case err != nil:
		return nil, nil, err
	}
	connected = true
	a.rememberPairing(f, s, peers)
	a.watchResume(s)
	return s, peers, nil
}

// wrongPurpose says which command reads an invitation made for got, by
// a command that wanted want (err wraps invite.ErrWrongPurpose).
func wrongPurpose(got, want invite.Purpose, err error) error {
	made := map[invite.Purpose]string{
		invite.PurposeChat:   "for a chat (made with 'sp2p invite')",
		invite.PurposeStream: "for a byte stream (made with 'sp2p invite --pipe')",
		invite.PurposeFiles:  "to send you files (made with 'sp2p send')",
	}[got]
	var hint string
	switch {
	case got == invite.PurposeFiles:
		hint = "receive the files with: sp2p receive TOKEN"
	case want == invite.PurposeFiles && got == invite.PurposeStream:
		hint = "this is no file transfer; join the stream with: sp2p accept --pipe TOKEN"
	case want == invite.PurposeFiles:
		hint = "this is no file transfer; join the chat with: sp2p accept TOKEN"
	case got == invite.PurposeStream:
		hint = "accept it with --pipe: sp2p accept --pipe TOKEN"
	default:
		hint = "accept it without --pipe: sp2p accept TOKEN"
	}
	return &hintError{&plainError{"this invitation is " + made, err}, hint}
}

// expiredOffer says when offer expired, in the local time of "valid
// until", and what to do.
func expiredOffer(offer *invite.Offer, err error) error {
	return &hintError{&plainError{"this invitation expired at " + localClock(offer.Expires()), err},
		"ask the inviter for a new invitation"}
}

// localClock is how accept shows a time: local, to the second, with the
// date only when it is not today.
func localClock(t time.Time) string {
	t = t.Local()
	ty, tm, td := t.Date()
	if ny, nm, nd := time.Now().Date(); ty == ny && tm == nm && td == nd {
		return t.Format("15:04:05")
	}
	return t.Format("2006-01-02 15:04:05")
}

func readQRFile(path string) (string, error) {
	file, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer file.Close()
	return qr.ReadImage(file)
}
