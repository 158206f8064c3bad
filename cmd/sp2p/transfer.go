package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/sp2p/sp2p/identity"
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
transfer resumes when you run the same command again.`,
		Example: `  sp2p send report.pdf
  sp2p send --to bob photos/ notes.txt
  sp2p send --offer-file o.txt --answer-file a.txt --yes big.iso`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a.infof("hashing what you send…")
			m, src, skipped, err := transfer.BuildManifest(args)
			if err != nil {
				return err
			}
			defer src.Close()
			for _, s := range skipped {
				a.warnf("skipping %s (not a regular file or directory; links are not followed)", transfer.Quote(s))
			}
			files, dirs, total := m.Totals()
			a.infof("offering %d file(s) and %d folder(s), %s", files, dirs, humanBytes(total))
			ctx, stop := signalContext()
			defer stop()
			s, _, err := a.openInvite(ctx, &f, to, ttl)
			if err != nil {
				return err
			}
			defer s.Close()
			a.connectedLine(s)
			a.infof("waiting for the receiver to accept the files…")
			start := time.Now()
			p := a.newProgress(&f, "sending", total)
			res, err := runWithContext(ctx, s, func() (*transfer.SendResult, error) {
				return transfer.Send(s.Conn(), m, src, p.update)
			})
			p.finish()
			if err != nil {
				return err
			}
			if res.Resumed > 0 {
				a.infof("resumed: %s were already there", humanBytes(res.Resumed))
			}
			a.summary("sent", res.Files, res.Bytes, time.Since(start), &f)
			return nil
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
		Use:   "receive TOKEN|LINK|-",
		Short: "Receive files: accept the sender's invitation, confirm, transfer",
		Long: `Accept a 'sp2p send' invitation. Before anything is written you see what is
offered (the total, the largest files, the first names, the free space) and
who offers it, with the safety code, and confirm. An offer that does not fit
in the free space of --out is refused. Files land in --out (default: the
current directory) under a temporary name and get their final name only
after their SHA-256 matches. Names that would leave --out, special
characters, symbolic links on the way and existing files are refused
(existing files are replaced only with --overwrite).`,
		Example: `  sp2p receive SP2P:AEAQ...
  sp2p receive --out ~/Downloads --yes SP2P:AEAQ...
  sp2p receive --offer-file o.txt --answer-file a.txt --yes --out dir`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if fi, err := os.Stat(out); err != nil || !fi.IsDir() {
				return &usageError{fmt.Errorf("--out %s: not a directory", transfer.Quote(out))}
			}
			ctx, stop := signalContext()
			defer stop()
			s, peers, err := a.openAccept(ctx, &f, args, qrImage, false)
			if err != nil {
				return err
			}
			defer s.Close()
			a.connectedLine(s)
			start := time.Now()
			var p *progress
			opts := transfer.ReceiveOptions{Dir: out, Overwrite: overwrite,
				Confirm: func(o *transfer.Offer) (bool, error) {
					a.showOffer(o, s, peers.LookupID)
					p = a.newProgress(&f, "receiving", o.Bytes)
					if f.yes {
						return true, nil
					}
					return a.confirm(fmt.Sprintf("Receive these %d file(s) into %s?", o.Files, transfer.Quote(out)))
				},
				Progress: func(pr transfer.Progress) {
					if p != nil {
						p.update(pr)
					}
				},
			}
			res, err := runWithContext(ctx, s, func() (*transfer.ReceiveResult, error) {
				return transfer.Receive(s.Conn(), opts)
			})
			if p != nil {
				p.finish()
			}
			var space *transfer.SpaceError
			if errors.As(err, &space) {
				return fmt.Errorf("refused the offer: not enough free space in %s: it needs %s more, %s are free: %w",
					transfer.Quote(out), humanBytes(space.Need), humanBytes(space.Free), transfer.ErrNoSpace)
			}
			if err != nil {
				return err
			}
			if res.Resumed > 0 {
				a.infof("resumed: %s were already here", humanBytes(res.Resumed))
			}
			a.summary("received", res.Files, res.Bytes, time.Since(start), &f)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", ".", "directory to put the files in")
	cmd.Flags().BoolVar(&overwrite, "overwrite", false, "replace existing files")
	cmd.Flags().StringVar(&qrImage, "qr-image", "", "read the token from a QR code in a PNG or JPEG `FILE`")
	cmd.Flags().StringVar(&f.expect, "expect", "", "accept only an invitation from this peer (`NAME` or ID)")
	f.register(cmd)
	cmd.Flags().MarkHidden("pipe")
	return cmd
}

// runWithContext runs fn, closing the session if ctx ends (Ctrl-C), which
// makes fn return.
func runWithContext[T any](ctx context.Context, s *session.Session, fn func() (T, error)) (T, error) {
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	r, err := fn()
	if ctx.Err() != nil {
		var zero T
		return zero, fmt.Errorf("interrupted: %w", ctx.Err())
	}
	if err != nil {
		if serr := s.Err(); serr != nil {
			err = fmt.Errorf("%w (%v)", err, serr)
		}
	}
	return r, err
}

func (a *app) connectedLine(s *session.Session) {
	a.infof("connected to %s", s.Peer())
	a.infof("safety code: %s", s.SafetyCode())
}

// showOffer prints what the sender offers, names sanitised.
func (a *app) showOffer(o *transfer.Offer, s *session.Session, lookup func(id identity.ID) (string, bool)) {
	name, known := lookup(s.Peer())
	who := "UNKNOWN sender (not in your known peers)"
	if known {
		who = "known peer " + sanitize(name)
	}
	a.infof("offer from %s: %s", who, s.Peer())
	a.infof("  fingerprint %s, safety code %s", s.Peer().Fingerprint(), s.SafetyCode())
	for _, l := range offerLines(o) {
		a.infof("  %s", l)
	}
}

// Offer listings: the largest files always, then the first by name.
const (
	offerLargest = 5
	offerByName  = 15
)

// offerLines describes an offer: the true total, the largest files (so
// big files cannot hide behind many small ones), the first files by name,
// what can be resumed and the free space.
func offerLines(o *transfer.Offer) []string {
	lines := []string{fmt.Sprintf("%d file(s), %d folder(s), %s in all", o.Files, o.Dirs, humanBytes(o.Bytes))}
	item := func(e transfer.Entry) string {
		return fmt.Sprintf("%s (%s)", transfer.Quote(e.Path), humanBytes(e.Size))
	}
	largest := o.Manifest.Largest(offerLargest)
	if o.Files > offerByName { // not all are listed by name
		var l []string
		for _, e := range largest {
			l = append(l, item(e))
		}
		lines = append(lines, "largest: "+strings.Join(l, ", "))
	}
	var list []string
	for _, e := range o.Manifest.Entries {
		if !e.Dir {
			list = append(list, item(e))
		}
	}
	sort.Strings(list)
	for i, l := range list {
		if i == offerByName {
			lines = append(lines, fmt.Sprintf("… and %d more", len(list)-offerByName))
			break
		}
		lines = append(lines, l)
	}
	if o.Resume > 0 {
		lines = append(lines, fmt.Sprintf("%s can be resumed from an interrupted transfer", humanBytes(o.Resume)))
	}
	if o.Free >= 0 {
		lines = append(lines, fmt.Sprintf("%s to write, %s free on the output disk", humanBytes(o.Need), humanBytes(o.Free)))
	}
	return lines
}

// progress shows a bar on a terminal, or JSON lines with --json.
type progress struct {
	mu    sync.Mutex
	bar   *progressbar.ProgressBar
	json  io.Writer
	last  time.Time
	start time.Time
	total int64
}

func (a *app) newProgress(f *connFlags, what string, total int64) *progress {
	p := &progress{start: time.Now(), total: total}
	if f.asJSON {
		p.json = a.stdout
		return p
	}
	if file, ok := a.stderr.(*os.File); ok && term.IsTerminal(int(file.Fd())) {
		p.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(a.stderr),
			progressbar.OptionSetDescription(what),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowCount(),
			progressbar.OptionFullWidth(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	return p
}

func (p *progress) update(pr transfer.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.Set64(pr.Done)
	}
	if p.json != nil && (time.Since(p.last) > 250*time.Millisecond || pr.Done == pr.Total) {
		p.last = time.Now()
		el := time.Since(p.start).Seconds()
		json.NewEncoder(p.json).Encode(map[string]any{"event": "progress", "done": pr.Done, "total": pr.Total, "file": pr.File,
			"bytes_per_second": int64(float64(pr.Done) / max(el, 1e-3))})
	}
}

func (p *progress) finish() {
	if p != nil && p.bar != nil {
		p.bar.Finish()
	}
}

func (a *app) summary(verb string, files int, bytes int64, d time.Duration, f *connFlags) {
	rate := float64(bytes) / max(d.Seconds(), 1e-3)
	a.infof("%s %d file(s), %s in %v (%s/s)", verb, files, humanBytes(bytes), d.Round(time.Millisecond), humanBytes(int64(rate)))
	if f.asJSON {
		json.NewEncoder(a.stdout).Encode(map[string]any{"event": "done", "files": files, "bytes": bytes, "seconds": d.Seconds(), "bytes_per_second": int64(rate)})
	}
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for v := n / unit; v >= unit; v /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
