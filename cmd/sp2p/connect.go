package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/internal/qr"
	"github.com/sp2p/sp2p/internal/safefile"
	"github.com/sp2p/sp2p/session"
	"golang.org/x/term"
)

// What invite and accept (and send and receive) share on the way to a
// session: the signal context, showing tokens, describing the peer and
// gathering candidates. The flags are in connflags.go, the two sides in
// invite.go and accept.go, the chat and the pipe in chat.go and the
// terminal prompts in prompt.go.

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
		style, err := a.qrStyle(f.qrStyle, a.stderr)
		if err != nil {
			return err
		}
		q, err := qr.Terminal(token, style)
		if err != nil {
			return err
		}
		fmt.Fprint(a.stderr, q)
	}
	if f.qrPNG != "" {
		img, err := qr.PNG(token, 8)
		if err != nil {
			return err
		}
		if err := safefile.WriteAtomic(f.qrPNG, img, 0o644, true); err != nil {
			return fmt.Errorf("writing the QR code of the %s token: %w", what, err)
		}
		a.infof("QR code of the %s token written to %s", what, f.qrPNG)
	}
	if f.copy {
		a.copyToClipboard(token)
	}
	return nil
}

// qrStyle reads --qr-style for a code drawn on w: auto draws with colors
// when w is a terminal (they scan whatever the terminal's theme) and plain
// dark-on-light otherwise.
func (a *app) qrStyle(s string, w io.Writer) (qr.Style, error) {
	switch s {
	case "colors":
		return qr.Colors, nil
	case "dark":
		return qr.ForDarkTerminal, nil
	case "light":
		return qr.ForLightTerminal, nil
	case "auto", "":
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			return qr.Colors, nil
		}
		return qr.ForLightTerminal, nil
	}
	return 0, &usageError{fmt.Errorf("--qr-style %q: want colors, dark, light or auto", s)}
}

// removeTokenFile removes a token file this process wrote, once its token
// is dead (the command was interrupted before connecting). Only a regular
// file that still holds exactly that token is removed: a named pipe, or a
// file someone has replaced since, stays.
func removeTokenFile(path, token string) {
	if path == "" {
		return
	}
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != int64(len(token))+1 {
		return
	}
	if b, err := os.ReadFile(path); err == nil && string(b) == token+"\n" {
		os.Remove(path)
	}
}

// copyToClipboard sends the OSC 52 escape to the terminal: most terminals
// put the text on the clipboard, also over SSH.
func (a *app) copyToClipboard(text string) {
	tty, err := openTTY()
	if err != nil {
		a.warnf("--copy: no terminal")
		return
	}
	defer tty.Close()
	fmt.Fprintf(tty, "\x1b]52;c;%s\a", base64.StdEncoding.EncodeToString([]byte(text)))
	a.infof("token copied to the clipboard (if your terminal allows OSC 52)")
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

// gatherTimeout bounds the gathering of this machine's candidates.
const gatherTimeout = 30 * time.Second

// gather runs start, which gathers this machine's candidates (session.Invite
// or session.Accept), within gatherTimeout. With STUN/TURN servers, which
// can take seconds to answer, it tells the user what it is waiting for,
// and afterwards says so if it was slow: usually a server that does not
// answer, or a transport that a firewall blocks.
func gather[T any](ctx context.Context, a *app, opts session.Options, start func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, gatherTimeout)
	defer cancel()
	if len(opts.ICEServers) == 0 {
		return start(ctx)
	}
	a.infof("finding this machine's addresses through %d STUN/TURN server(s)…", len(opts.ICEServers))
	began := time.Now()
	r, err := start(ctx)
	if el := time.Since(began); el > 3*time.Second {
		a.infof("that took %v: a server did not answer, or a firewall blocks its transport (check --stun and --turn)", el.Round(time.Second))
	}
	return r, err
}
