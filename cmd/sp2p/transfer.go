package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/session"
	"github.com/sp2p/sp2p/transfer"
)

func (a *app) sendCmd() *cobra.Command {
	var f connFlags
	var to string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "send PATH...",
		Short: "Send files or directories: invite the receiver, then transfer",
		Long: `Send files and whole directories to one person, with no server in between.
sp2p prints an invitation token; the receiver runs 'sp2p receive TOKEN',
sees what you offer and confirms, and sends back an answer token that you
paste here. Every file is checked with SHA-256 on arrival; an interrupted
transfer resumes when you run the same command again.

On a local network there is nothing to paste: with --to a known peer
(pinned on both sides, after one session), the receiver runs
'sp2p receive --from YOURNAME'; otherwise sp2p also prints a short code for
'sp2p receive CODE'. The token always works too (--no-lan: token only).`,
		Example: `  sp2p send report.pdf
  sp2p send --to bob photos/ notes.txt
  sp2p send --offer-file o.txt --answer-file a.txt --yes big.iso`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, src, skipped, err := transfer.BuildManifest(args)
			if err != nil {
				return sendPathError(err)
			}
			defer src.Close()
			for _, s := range skipped {
				a.warnf("skipping %s (not a regular file or directory; links are not followed)", transfer.Quote(s))
			}
			files, dirs, total := m.Totals()
			a.infof("offering %s, %s", filesAndFolders(files, dirs), humanBytes(total))
			ctx, stop := signalContext()
			defer stop()
			s, peers, err := a.openInvite(ctx, &f, to, ttl, invite.PurposeFiles)
			if err != nil {
				return err
			}
			defer s.Close()
			a.connectedLine(s)
			name, _ := peers.LookupID(s.Peer())
			a.infof("waiting for the receiver to accept the files…")
			p := a.newProgress(&f, "sending")
			res, err := runWithContext(ctx, s, func(conn io.ReadWriter) (*transfer.SendResult, error) {
				return transfer.Send(conn, m, src, p.update)
			})
			d := p.finish(err == nil)
			if err != nil {
				return a.transferError(err, s, peerLabel(name, "the receiver"), p, true)
			}
			if res.Skipped > 0 {
				a.infof("%s already on the receiver's side, identical: not sent again", count(res.Skipped, "file was", "files were"))
			}
			if res.Resumed > 0 {
				a.infof("the receiver already had %s: not sent again", humanBytes(res.Resumed))
			}
			a.summary("sent", res.Files-res.Skipped, res.Bytes, d, res.Skipped, &f)
			s.Close() // before the pin question: the receiver sees the end now
			return a.savePeer(s.Peer(), name, &f, peers)
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "send only to this peer (`NAME` or ID)")
	cmd.Flags().StringVar(&f.expect, "expect", "", "accept only an answer from this peer (`NAME` or ID)")
	ttlFlag(cmd, &ttl)
	f.register(cmd)
	cmd.Flags().MarkHidden("pipe")
	return cmd
}

func (a *app) receiveCmd() *cobra.Command {
	var f connFlags
	var qrImage, out string
	var overwrite bool
	cmd := &cobra.Command{
		Use:   "receive TOKEN|LINK|CODE|- | --from NAME",
		Short: "Receive files: accept the sender's invitation, confirm, transfer",
		Long: `Accept a 'sp2p send' invitation. Before anything is written you see what is
offered (the total, the largest files, the first names, the free space) and
who offers it, with the safety code, and confirm. An offer that does not fit
in the free space of --out is refused. Files land in --out (default: the
current directory; created with mode 0700 if missing) under a
temporary name and get their final name only after their SHA-256 matches. Names that would leave --out, special
characters, symbolic links on the way and existing files are refused
(existing files are replaced only with --overwrite); a file already there
with the same content is "already here" and skipped. An interrupted
transfer resumes when you receive the same files into the same --out again.
On a local network, --from NAME finds a known peer's 'sp2p send --to' with
nothing pasted, and a short code (42-word-word-word) finds the sender of
that code.`,
		Example: `  sp2p receive SP2P:AIA...
  sp2p receive --from alice
  sp2p receive 42-adroitness-aardvark-adviser
  sp2p receive --out ~/Downloads --yes SP2P:AIA...
  sp2p receive --offer-file o.txt --answer-file a.txt --yes --out dir`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOut(out); err != nil {
				return err
			}
			ctx, stop := signalContext()
			defer stop()
			s, peers, err := a.openAccept(ctx, &f, args, qrImage, false, invite.PurposeFiles, func() error { return a.prepareOut(out) })
			if err != nil {
				return err
			}
			defer s.Close()
			a.connectedLine(s)
			name, _ := peers.LookupID(s.Peer())
			p := a.newProgress(&f, "receiving")
			var saidNo bool // the answer to the question was no
			opts := transfer.ReceiveOptions{Dir: out, Overwrite: overwrite,
				Confirm: func(o *transfer.Offer) (bool, error) {
					a.showOffer(o, s, peers.LookupID)
					if f.yes {
						return true, nil
					}
					what := "this file"
					if o.Files != 1 {
						what = fmt.Sprintf("these %d files", o.Files)
					}
					ok, err := a.confirm(fmt.Sprintf("Receive %s into %s?", what, transfer.Quote(out)))
					saidNo = err == nil && !ok
					return ok, err
				},
				Progress: p.update,
			}
			res, err := runWithContext(ctx, s, func(conn io.ReadWriter) (*transfer.ReceiveResult, error) {
				return transfer.Receive(conn, opts)
			})
			d := p.finish(err == nil)
			var space *transfer.SpaceError
			if errors.As(err, &space) {
				return fmt.Errorf("refused the offer: not enough free space in %s: it needs %s more, %s are free: %w",
					transfer.Quote(out), humanBytes(space.Need), humanBytes(space.Free), transfer.ErrNoSpace)
			}
			if saidNo && errors.Is(err, transfer.ErrDeclined) {
				return &plainError{"declined by you: nothing was received", err}
			}
			if err != nil {
				return a.transferError(err, s, peerLabel(name, "the sender"), p, false)
			}
			if res.Resumed > 0 {
				a.infof("resumed: %s were already here", humanBytes(res.Resumed))
			}
			if res.Here > 0 {
				a.infof("already here: %s, %s, with the same SHA-256: skipped", count(res.Here, "file", "files"), humanBytes(res.HereBytes))
			}
			a.summary("received", res.Files, res.Bytes, d, res.Here, &f)
			s.Close() // before the pin question: the sender sees the end now
			return a.savePeer(s.Peer(), name, &f, peers)
		},
	}
	cmd.Flags().StringVar(&out, "out", ".", "directory to put the files in")
	cmd.Flags().BoolVar(&overwrite, "overwrite", false, "replace existing files")
	cmd.Flags().StringVar(&qrImage, "qr-image", "", "read the token from a QR code in a PNG or JPEG `FILE`")
	cmd.Flags().StringVar(&f.expect, "expect", "", "accept only an invitation from this peer (`NAME` or ID)")
	f.register(cmd)
	fromFlag(cmd, &f)
	cmd.Flags().MarkHidden("pipe")
	return cmd
}

// sendPathError says plainly that a path to send does not exist; other
// errors are returned as they are.
func sendPathError(err error) error {
	var pe *fs.PathError
	if errors.Is(err, fs.ErrNotExist) && errors.As(err, &pe) {
		return &plainError{"no such file: " + sanitize(pe.Path), err}
	}
	return err
}

// checkOut checks the --out directory before anything else: it is a
// directory, or does not exist yet (prepareOut creates it later).
func checkOut(out string) error {
	_, err := outExists(out)
	return err
}

func outExists(out string) (bool, error) {
	fi, err := os.Stat(out)
	switch {
	case err == nil && fi.IsDir():
		return true, nil
	case err == nil:
		return false, &usageError{fmt.Errorf("--out %s: not a directory", transfer.Quote(out))}
	case !errors.Is(err, fs.ErrNotExist):
		return false, &hintError{fmt.Errorf("--out %s: %w", transfer.Quote(out), err),
			"check that every directory on the way to it exists and may be entered, or choose another --out"}
	}
	return false, nil
}

// prepareOut creates the --out directory (mode 0700, and its missing
// parents) when it does not exist yet: once the invitation is checked, so
// that a bad token leaves nothing behind.
func (a *app) prepareOut(out string) error {
	if ok, err := outExists(out); ok || err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o700); err != nil {
		return &hintError{fmt.Errorf("cannot create --out %s: %w", transfer.Quote(out), err),
			"choose another --out, or create the directory yourself (mkdir -p) and run the same command again"}
	}
	a.infof("created %s (mode 0700) for the files", transfer.Quote(out))
	return nil
}

// runWithContext runs fn on the session's stream. If ctx ends (Ctrl-C),
// the stream takes no new writes, and once the write under way (if any)
// is done the session is closed: the peer sees a clean close, not a lost
// connection, and fn returns.
func runWithContext[T any](ctx context.Context, s *session.Session, fn func(io.ReadWriter) (T, error)) (T, error) {
	conn := &stopConn{rw: s.Conn(), ctx: ctx}
	closed := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(closed)
		conn.quiesce(2 * time.Second)
		s.Close()
	})
	defer stop()
	r, err := fn(conn)
	if ctx.Err() != nil {
		if !stop() {
			<-closed // one Close at a time: a second one would cut the first's close record off
		}
		var zero T
		return zero, fmt.Errorf("interrupted: %w", ctx.Err())
	}
	if err != nil && !errors.Is(err, transfer.ErrDeclined) { // a refusal is the whole story: the close that follows it is no news
		if serr := s.Err(); serr != nil && !errors.Is(err, serr) {
			err = fmt.Errorf("%w (%w)", err, serr)
		}
	}
	return r, err
}

// stopConn passes reads through and writes in pieces of at most
// stopChunk bytes, and starts no piece once ctx has ended.
type stopConn struct {
	rw      io.ReadWriter
	ctx     context.Context
	writing sync.Mutex // held while a piece is written
}

// stopChunk is the most stopConn writes at once: a few records, so that
// after Ctrl-C the write under way ends soon.
const stopChunk = 256 << 10

func (c *stopConn) Read(b []byte) (int, error) { return c.rw.Read(b) }

func (c *stopConn) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		c.writing.Lock()
		if err := c.ctx.Err(); err != nil {
			c.writing.Unlock()
			return n, err
		}
		k, err := c.rw.Write(b[:min(len(b), stopChunk)])
		c.writing.Unlock()
		n += k
		if err != nil {
			return n, err
		}
		b = b[k:]
	}
	return n, nil
}

// quiesce waits (at most d) for the piece being written, if any; after
// it, with ctx ended, nothing more is written.
func (c *stopConn) quiesce(d time.Duration) {
	done := make(chan struct{})
	go func() {
		c.writing.Lock()
		close(done)
		c.writing.Unlock()
	}()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// peerLabel is how messages name the peer: its pinned name, or what it is.
func peerLabel(name, role string) string {
	if name == "" {
		return role
	}
	return sanitize(name)
}

// transferError explains how a transfer ended early, with the advice to
// resume when something moved: an interruption here (Ctrl-C), the peer
// stopping (a clean close) or the peer lost.
func (a *app) transferError(err error, s *session.Session, who string, p *progress, sending bool) error {
	moved := p.moved() > 0
	resume := "run the same receive again (with the sender's new token, into the same --out) to resume: what arrived is kept"
	if sending {
		resume = "run the same send again to resume: the receiver keeps what arrived"
	}
	if isInterrupt(err) {
		if moved {
			a.infof("hint: %s", resume)
		}
		return err
	}
	serr := s.Err()
	var remote *transfer.RemoteError
	if sending && err == transfer.ErrDeclined { // no reason given: the receiver said no
		return &plainError{who + " declined the files: nothing was sent", err}
	}
	if serr == nil || errors.Is(err, transfer.ErrDeclined) || errors.As(err, &remote) || errors.Is(err, transfer.ErrProtocol) {
		return err
	}
	ended := errors.Is(err, transfer.ErrIncomplete) // the receiver's stream ended early
	if sending {
		ended = errors.Is(err, serr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
	}
	switch {
	case !ended:
	case errors.Is(serr, session.ErrPeerClosed):
		what := "stopped sending"
		if sending {
			what = "stopped receiving"
		}
		err = fmt.Errorf("%s %s: %w", who, what, err)
	case errors.Is(serr, session.ErrPeerLost):
		err = fmt.Errorf("lost the connection to %s: %w", who, err)
	default:
		return err
	}
	if ended && moved {
		return &hintError{err, resume}
	}
	return err
}
