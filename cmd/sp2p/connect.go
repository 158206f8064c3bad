package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/session"
)

// connFlags are the flags shared by invite and accept.
type connFlags struct {
	offerFile, answerFile string
	pipe, asJSON, yes     bool
	showQR, copy          bool
	loopback, relayOnly   bool
	stun, turn            []string
	turnUser, turnPwFile  string
	expect                string
	savePeer              string
	heartbeat             time.Duration
}

func (f *connFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.offerFile, "offer-file", "", "exchange the offer token through `FILE` instead of the terminal")
	fl.StringVar(&f.answerFile, "answer-file", "", "exchange the answer token through `FILE` instead of the terminal")
	fl.BoolVar(&f.pipe, "pipe", false, "join stdin/stdout to the session as a byte stream (like netcat) instead of chatting")
	fl.BoolVar(&f.asJSON, "json", false, "print events as JSON lines")
	fl.BoolVarP(&f.yes, "yes", "y", false, "do not ask for confirmation of the peer's identity")
	fl.BoolVar(&f.showQR, "qr", false, "also show the token as a QR code")
	fl.BoolVar(&f.copy, "copy", false, "put the token on the clipboard (OSC 52 terminal escape)")
	fl.BoolVar(&f.loopback, "loopback", false, "use loopback addresses only (both peers on this machine)")
	fl.BoolVar(&f.relayOnly, "relay-only", false, "connect only through the TURN relay (--turn): the peers never learn each other's addresses")
	fl.StringArrayVar(&f.stun, "stun", nil, "STUN server `URL` (stun:HOST:PORT); repeatable")
	fl.StringArrayVar(&f.turn, "turn", nil, "TURN server `URL` (turn:HOST:PORT[?transport=udp|tcp]); password from $SP2P_TURN_PASSWORD or --turn-password-file")
	fl.StringVar(&f.turnUser, "turn-user", "", "TURN user name")
	fl.StringVar(&f.turnPwFile, "turn-password-file", "", "read the TURN password from the first line of `FILE`")
	fl.StringVar(&f.savePeer, "save-peer", "", "after connecting, pin the peer under `NAME` in your known peers")
	fl.DurationVar(&f.heartbeat, "heartbeat", session.DefaultHeartbeatTimeout, "give up on a peer not heard from for this long")
}

func (a *app) sessionOptions(f *connFlags) (session.Options, error) {
	if f.heartbeat < time.Second {
		return session.Options{}, &usageError{fmt.Errorf("--heartbeat %v: at least 1s", f.heartbeat)}
	}
	opts := session.Options{LoopbackOnly: f.loopback, HeartbeatTimeout: f.heartbeat, RelayOnly: f.relayOnly}
	opts.OnNetwork = func(e session.NetworkEvent) {
		if e == session.NetworkInterrupted {
			a.warnf("connection interrupted; waiting up to %v for it to come back", f.heartbeat)
		} else {
			a.infof("connection recovered")
		}
	}
	if err := a.applyConfigDefaults(f); err != nil {
		return session.Options{}, err
	}
	turnPassword := a.getenv("SP2P_TURN_PASSWORD")
	if f.turnPwFile != "" {
		b, err := readPassphraseFile(f.turnPwFile)
		if err != nil {
			return session.Options{}, fmt.Errorf("--turn-password-file: %w", err)
		}
		turnPassword = string(b)
	}
	for _, u := range f.stun {
		if !strings.HasPrefix(u, "stun:") {
			return opts, &usageError{fmt.Errorf("--stun %q: want stun:HOST:PORT", u)}
		}
		opts.ICEServers = append(opts.ICEServers, session.ICEServer{URLs: []string{u}})
	}
	for _, u := range f.turn {
		if !strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") {
			return opts, &usageError{fmt.Errorf("--turn %q: want turn:HOST:PORT", u)}
		}
		opts.ICEServers = append(opts.ICEServers, session.ICEServer{URLs: []string{u}, Username: f.turnUser, Credential: turnPassword})
	}
	if f.relayOnly && len(f.turn) == 0 {
		return opts, &usageError{errors.New("--relay-only needs a relay: add --turn turn:HOST:PORT (see sp2p relay)")}
	}
	return opts, nil
}

// signalContext is cancelled by Ctrl-C or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// tokenOut is where a token is shown: stdout, unless stdout carries data.
func (a *app) tokenOut(f *connFlags) io.Writer {
	if f.pipe {
		return a.stderr
	}
	return a.stdout
}

// showToken prints (or writes) a token, with its QR code and clipboard
// copy when asked.
func (a *app) showToken(f *connFlags, file, token, what string) error {
	if file != "" {
		if err := writeTokenFile(file, token); err != nil {
			return fmt.Errorf("writing the %s token: %w", what, err)
		}
		a.infof("%s token written to %s", what, file)
	} else {
		fmt.Fprintln(a.tokenOut(f), token)
	}
	if f.showQR {
		q, err := invite.QRTerminal(token)
		if err != nil {
			return err
		}
		fmt.Fprint(a.stderr, q)
	}
	if f.copy {
		a.copyToClipboard(token)
	}
	return nil
}

// copyToClipboard sends the OSC 52 escape to the terminal: most terminals
// put the text on the clipboard, also over SSH.
func (a *app) copyToClipboard(text string) {
	tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0)
	if err != nil {
		a.warnf("--copy: no terminal")
		return
	}
	defer tty.Close()
	fmt.Fprintf(tty, "\x1b]52;c;%s\a", base64.StdEncoding.EncodeToString([]byte(text)))
	a.infof("token copied to the clipboard (if your terminal allows OSC 52)")
}

// confirm asks a yes/no question on the terminal, never on stdin.
func (a *app) confirm(question string) (bool, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return false, &hintError{errors.New("no terminal to ask for confirmation"), "use --yes, or pin the peer with --to/--expect"}
	}
	defer tty.Close()
	fmt.Fprintf(tty, "%s [y/N] ", question)
	line, err := bufio.NewReader(tty).ReadString('\n')
	if err != nil && line == "" {
		return false, err
	}
	ans := strings.ToLower(strings.TrimSpace(line))
	return ans == "y" || ans == "yes", nil
}

// describePeer shows who is on the other side: ID, fingerprint and known
// name, or a loud notice that the identity is unknown. It returns the name.
func (a *app) describePeer(header, role string, id identity.ID, peers *identity.Peers) string {
	name, known := peers.LookupID(id)
	a.infof("%s: %s", header, id)
	a.infof("  fingerprint: %s", id.Fingerprint())
	if known {
		a.infof("  known peer: %s", sanitize(name))
	} else {
		fmt.Fprintf(a.stderr, "sp2p: warning: UNKNOWN %s: this ID is not in your known peers.\n", role)
		fmt.Fprintf(a.stderr, "sp2p: warning: compare the fingerprint (or, once connected, the safety code) with them by phone or in person.\n")
	}
	return name
}

func (a *app) resolvePeer(peers *identity.Peers, s string) (identity.ID, error) {
	if s == "" {
		return identity.ID{}, nil
	}
	id, _, err := peers.Resolve(s)
	if err != nil {
		return identity.ID{}, &usageError{err}
	}
	return id, nil
}

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
	cmd.Flags().DurationVar(&ttl, "ttl", invite.DefaultLifetime, "how long the invitation stays valid (10s to 24h)")
	f.register(cmd)
	return cmd
}

// openInvite runs the inviter's side up to an open session: the offer
// token out, the answer in, the answerer shown and confirmed.
func (a *app) openInvite(ctx context.Context, f *connFlags, to string, ttl time.Duration) (*session.Session, *identity.Peers, error) {
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
	gctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	done := a.gathering(opts)
	inv, err := session.Invite(gctx, me, opts)
	done()
	cancel()
	if err != nil {
		return nil, nil, err
	}
	connected := false
	defer func() {
		if !connected {
			inv.Close()
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
		return nil, nil, err
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
			return nil, nil, errors.New("refused by you")
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
		tty, err := os.Open("/dev/tty")
		if err != nil {
			return "", &usageError{errors.New("with --pipe, give --answer-file (stdin carries data)")}
		}
		defer tty.Close()
		return readPastedToken(ctx, tty)
	}
	return readPastedToken(ctx, a.stdin)
}

func (a *app) acceptCmd() *cobra.Command {
	var f connFlags
	var qrImage string
	cmd := &cobra.Command{
		Use:   "accept TOKEN|LINK|-",
		Short: "Accept an invitation: verify it, print the answer token, connect",
		Long: `Verify an invitation (offer token, sp2p: link or https link; '-' reads it
from stdin), show who sent it, and print the answer token to send back.
The connection opens when the inviter pastes the answer.`,
		Example: `  sp2p accept SP2P:AEAQ...
  sp2p accept --expect alice 'https://example.org/join#SP2P:AEAQ...'
  sp2p accept --qr-image screenshot.png
  sp2p accept --offer-file offer.txt --answer-file answer.txt --pipe > file`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signalContext()
			defer stop()
			s, peers, err := a.openAccept(ctx, &f, args, qrImage, true)
			if err != nil {
				return err
			}
			return a.runSession(ctx, s, &f, peers)
		},
	}
	cmd.Flags().StringVar(&f.expect, "expect", "", "accept only an invitation from this peer (`NAME` or ID)")
	cmd.Flags().StringVar(&qrImage, "qr-image", "", "read the token from a QR code in a PNG or JPEG `FILE`")
	f.register(cmd)
	return cmd
}

// openAccept runs the invitee's side up to an open session: the offer
// read and verified, the inviter shown (and confirmed when confirmPeer),
// the answer token out.
func (a *app) openAccept(ctx context.Context, f *connFlags, args []string, qrImage string, confirmPeer bool) (*session.Session, *identity.Peers, error) {
	sources := len(args)
	if f.offerFile != "" {
		sources++
	}
	if qrImage != "" {
		sources++
	}
	if sources != 1 {
		return nil, nil, &usageError{errors.New("give the token in one way: as an argument, with --offer-file, or with --qr-image")}
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
	var text string
	switch {
	case f.offerFile != "":
		wctx, cancel := context.WithTimeout(ctx, invite.MaxLifetime)
		text, err = waitTokenFile(wctx, f.offerFile, invite.KindOffer)
		cancel()
	case qrImage != "":
		text, err = readQRFile(qrImage)
	case args[0] == "-":
		text, err = readPastedToken(ctx, a.stdin)
	default:
		text = args[0]
	}
	if err != nil {
		return nil, nil, err
	}
	offer, err := invite.ParseOffer(text)
	if err != nil {
		return nil, nil, err
	}
	me, _, err := a.loadIdentity()
	if err != nil {
		return nil, nil, err
	}
	if err := offer.Verify(invite.VerifyOptions{Self: me.ID(), Expect: opts.Expect}); err != nil {
		return nil, nil, err
	}
	a.describePeer("invitation from", "inviter", offer.Inviter, peers)
	a.infof("  valid until %s", offer.Expires().Local().Format("15:04:05"))
	if confirmPeer && !f.yes && opts.Expect.IsZero() {
		ok, err := a.confirm("Accept this invitation?")
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			return nil, nil, errors.New("refused by you")
		}
	}
	gctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	done := a.gathering(opts)
	acc, err := session.Accept(gctx, me, offer, opts)
	done()
	cancel()
	if err != nil {
		return nil, nil, err
	}
	connected := false
	defer func() {
		if !connected {
			acc.Close()
		}
	}()
	if f.answerFile == "" {
		a.infof("send this answer token back to the inviter:")
	}
	if err := a.showToken(f, f.answerFile, acc.Token(), "answer"); err != nil {
		return nil, nil, err
	}
	a.infof("waiting for the inviter to connect (until the invitation expires at %s)…", offer.Expires().Local().Format("15:04:05"))
	s, err := acc.Wait(ctx)
	if err != nil {
		return nil, nil, err
	}
	connected = true
	return s, peers, nil
}

func readQRFile(path string) (string, error) {
	file, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer file.Close()
	return invite.ReadQRImage(file)
}

// event is a --json line.
type event struct {
	Event      string `json:"event"`
	Peer       string `json:"peer,omitempty"`
	Name       string `json:"name,omitempty"`
	SafetyCode string `json:"safety_code,omitempty"`
	Text       string `json:"text,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

// runSession prints who is connected, runs the chat or the pipe, and
// closes the session.
func (a *app) runSession(ctx context.Context, s *session.Session, f *connFlags, peers *identity.Peers) error {
	defer s.Close()
	name, _ := peers.LookupID(s.Peer())
	label := name
	if label == "" {
		label = "peer"
	}
	events := a.stdout
	if f.pipe {
		events = a.stderr
	}
	emit := func(e event) {
		if f.asJSON {
			json.NewEncoder(events).Encode(e)
		}
	}
	a.infof("connected to %s (%s)", sanitize(label), s.Peer())
	a.infof("safety code: %s (read it to each other: it must be the same on both sides)", s.SafetyCode())
	emit(event{Event: "connected", Peer: s.Peer().String(), Name: name, SafetyCode: s.SafetyCode()})

	var err error
	if f.pipe {
		err = a.pipe(ctx, s)
	} else {
		err = a.chat(ctx, s, label, f.asJSON, emit)
	}
	s.Close() // before any prompt: the peer must see the end now
	reason := "closed"
	if err != nil {
		reason = err.Error()
	}
	emit(event{Event: "disconnected", Peer: s.Peer().String(), Reason: reason})
	if err == nil {
		a.savePeer(s.Peer(), name, f, peers)
	}
	return err
}

// pipe joins stdin and stdout to the session. EOF on stdin ends only the
// sending direction; it returns when both directions have ended.
func (a *app) pipe(ctx context.Context, s *session.Session) error {
	conn := s.Conn()
	sent := make(chan error, 1)
	go func() {
		_, err := io.Copy(conn, a.stdin)
		if err == nil {
			err = conn.CloseWrite()
		}
		sent <- err
	}()
	recvd := make(chan error, 1)
	go func() {
		_, err := io.Copy(a.stdout, conn)
		recvd <- err
	}()
	var sendDone, recvDone bool
	for !sendDone || !recvDone {
		select {
		case err := <-sent:
			sendDone = true
			if err != nil {
				return err
			}
		case err := <-recvd:
			recvDone = true
			if err != nil {
				return err
			}
		case <-ctx.Done():
			return nil // Ctrl-C: close cleanly
		}
	}
	return nil
}

// chat runs a line chat: lines typed are sent, messages received are
// printed with the peer's name. Ctrl-D or Ctrl-C ends it.
func (a *app) chat(ctx context.Context, s *session.Session, label string, asJSON bool, emit func(event)) error {
	a.infof("type messages and press Enter; Ctrl-D or Ctrl-C to leave")
	lines := make(chan error, 1)
	a.stdinBusy.Store(true)
	go func() {
		defer a.stdinBusy.Store(false)
		sc := bufio.NewScanner(a.stdin)
		sc.Buffer(make([]byte, 0, 4096), 1<<20)
		for sc.Scan() {
			if err := s.Send(ctx, []byte(sc.Text())); err != nil {
				lines <- err
				return
			}
		}
		lines <- sc.Err()
	}()
	msgs := make(chan error, 1)
	go func() {
		for {
			m, err := s.Receive(ctx)
			if err != nil {
				msgs <- err
				return
			}
			if asJSON {
				emit(event{Event: "message", Peer: s.Peer().String(), Text: string(m)})
			} else {
				fmt.Fprintf(a.stdout, "%s: %s\n", sanitize(label), sanitize(string(m)))
			}
		}
	}()
	select {
	case err := <-lines:
		return err // Ctrl-D: we leave; Close tells the peer
	case err := <-msgs:
		if errors.Is(err, io.EOF) {
			a.infof("%s left", sanitize(label))
			return nil
		}
		return err
	case <-ctx.Done():
		return nil
	}
}

// savePeer offers to pin an unknown peer after a session: under
// --save-peer NAME, or by asking on the terminal in chat mode.
func (a *app) savePeer(id identity.ID, known string, f *connFlags, peers *identity.Peers) {
	if known != "" {
		return
	}
	name := f.savePeer
	// Ask only when nothing else reads the terminal: while the chat's
	// reader still waits for a line, it would take the answer.
	if name == "" && !f.pipe && !f.asJSON && !a.stdinBusy.Load() {
		name, _ = a.askLine("Pin this peer for next time? Name (Enter to skip): ")
	}
	if name == "" {
		if f.savePeer == "" && !f.pipe && !f.asJSON {
			a.infof("hint: pin this peer for next time: sp2p peers add NAME %s", id)
		}
		return
	}
	if err := peers.Add(name, id); err != nil {
		a.warnf("could not save the peer: %v", err)
		return
	}
	a.infof("saved the peer as %s", name)
}

// askLine asks for one line on the terminal.
func (a *app) askLine(prompt string) (string, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return "", err
	}
	defer tty.Close()
	fmt.Fprint(tty, prompt)
	line, err := bufio.NewReader(tty).ReadString('\n')
	if err != nil && line == "" {
		return "", err
	}
	return strings.TrimSpace(line), nil
}

// gathering tells the user that sp2p is asking STUN/TURN servers for this
// machine's addresses (which can take seconds), and the returned func
// says so if it was slow: usually a server that does not answer, or a
// transport that a firewall blocks.
func (a *app) gathering(opts session.Options) func() {
	if len(opts.ICEServers) == 0 {
		return func() {}
	}
	a.infof("finding this machine's addresses through %d STUN/TURN server(s)…", len(opts.ICEServers))
	start := time.Now()
	return func() {
		if el := time.Since(start); el > 3*time.Second {
			a.infof("that took %v: a server did not answer, or a firewall blocks its transport (check --stun and --turn)", el.Round(time.Second))
		}
	}
}
