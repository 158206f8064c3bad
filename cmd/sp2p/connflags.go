package main

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/session"
)

// connFlags are the flags shared by invite and accept (and send and
// receive, which are built on them).
type connFlags struct {
	offerFile, answerFile string
	pipe, asJSON, yes     bool
	showQR, copy          bool
	qrStyle, qrPNG        string
	loopback, relayOnly   bool
	stun, turn            []string
	turnUser, turnPwFile  string
	expect                string
	savePeer              string
	heartbeat             time.Duration
	resumeWindow          time.Duration
	noLAN                 bool            // --no-lan (lan.go)
	from                  string          // --from (accept, receive)
	pairing               *pendingPairing // the secret of this session, kept once the peer is pinned
}

func (f *connFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.offerFile, "offer-file", "", "exchange the offer token through `FILE` instead of the terminal")
	fl.StringVar(&f.answerFile, "answer-file", "", "exchange the answer token through `FILE` instead of the terminal")
	fl.BoolVar(&f.pipe, "pipe", false, "join stdin/stdout to the session as a byte stream (like netcat) instead of chatting")
	fl.BoolVar(&f.asJSON, "json", false, "print events as JSON lines")
	fl.BoolVarP(&f.yes, "yes", "y", false, "do not ask for confirmation of the peer's identity")
	fl.BoolVar(&f.showQR, "qr", false, "also show the token as a QR code")
	fl.StringVar(&f.qrStyle, "qr-style", "auto", "how --qr draws: colors (scans on any terminal), dark or light (no colors, for that terminal background), auto (colors on a terminal, else light)")
	fl.StringVar(&f.qrPNG, "qr-png", "", "also write the token as a QR code PNG image to `FILE`")
	fl.BoolVar(&f.copy, "copy", false, "put the token on the clipboard (OSC 52 terminal escape)")
	fl.BoolVar(&f.loopback, "loopback", false, "use loopback addresses only (both peers on this machine)")
	fl.BoolVar(&f.relayOnly, "relay-only", false, "connect only through the TURN relay (--turn): the peers never learn each other's addresses")
	fl.StringArrayVar(&f.stun, "stun", nil, "STUN server `URL` (stun:HOST:PORT); repeatable")
	fl.StringArrayVar(&f.turn, "turn", nil, "TURN server `URL` (turn:HOST:PORT[?transport=udp|tcp]); password from $SP2P_TURN_PASSWORD or --turn-password-file")
	fl.StringVar(&f.turnUser, "turn-user", "", "TURN user name")
	fl.StringVar(&f.turnPwFile, "turn-password-file", "", "read the TURN password from the first line of `FILE`")
	fl.StringVar(&f.savePeer, "save-peer", "", "pin the peer under `NAME` in your known peers after the session (a chat or a transfer) instead of asking")
	fl.DurationVar(&f.heartbeat, "heartbeat", session.DefaultHeartbeatTimeout, "when the peer is not heard from for this long, move to a new path (or give up, with --resume-window 0)")
	fl.DurationVar(&f.resumeWindow, "resume-window", session.DefaultResumeWindow, "after the network changes or the connection fails, keep trying to resume the session on a new path for this long (0: do not resume)")
	lanFlags(cmd, f)
}

// ttlFlag registers --ttl, the invitation's lifetime, for the commands
// that invite (invite, send); openInvite checks its range.
func ttlFlag(cmd *cobra.Command, ttl *time.Duration) {
	cmd.Flags().DurationVar(ttl, "ttl", invite.DefaultLifetime, "how long the invitation stays valid (10s to 24h)")
}

// sessionOptions turns the connection flags (and the config file's
// defaults) into session options: ICE servers, loopback, relay only,
// heartbeat, and the network event messages.
func (a *app) sessionOptions(f *connFlags) (session.Options, error) {
	if f.heartbeat < time.Second {
		return session.Options{}, &usageError{fmt.Errorf("--heartbeat %v: at least 1s", f.heartbeat)}
	}
	if f.resumeWindow < 0 {
		return session.Options{}, &usageError{fmt.Errorf("--resume-window %v: not negative (0 turns resumption off)", f.resumeWindow)}
	}
	window := f.resumeWindow
	if window == 0 {
		window = -1 // the session's "off"
	}
	opts := session.Options{LoopbackOnly: f.loopback, HeartbeatTimeout: f.heartbeat, RelayOnly: f.relayOnly, ResumeWindow: window}
	if a.getenv("SP2P_DEBUG") != "" {
		// The session's own debug log (moves, resume attempts and why
		// they failed; no secrets), for bug reports.
		opts.Logger = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	opts.OnNetwork = func(e session.NetworkEvent) {
		switch e {
		case session.NetworkInterrupted:
			if window > 0 {
				a.warnf("connection interrupted; waiting for it to come back (after %v of silence the session moves to a new path)", f.heartbeat)
			} else {
				a.warnf("connection interrupted; waiting up to %v for it to come back", f.heartbeat)
			}
		case session.NetworkRecovered:
			a.infof("connection recovered")
		case session.NetworkMoving:
			a.warnf("network changed, resuming… (for up to %v; nothing sent is lost)", window)
		}
	}
	opts.OnResumed = func(r session.Resumption) {
		path := "unknown"
		if r.Path.Remote.IsValid() {
			path = r.Path.Remote.String()
		}
		a.infof("resumed after %v (new path: %s)", r.After.Round(100*time.Millisecond), path)
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
	if _, err := a.qrStyle(f.qrStyle, a.stderr); err != nil {
		return opts, err
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
