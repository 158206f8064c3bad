package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/session"
	"github.com/sp2p/sp2p/transfer"
	"golang.org/x/term"
)

// What send and receive show: the connection, the offer, the progress bar
// and the summaries.

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
	lines := []string{fmt.Sprintf("%s, %s in all", filesAndFolders(o.Files, o.Dirs), humanBytes(o.Bytes))}
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
	if o.Here > 0 {
		lines = append(lines, fmt.Sprintf("%s, %s, already here with the same SHA-256: skipped", count(o.Here, "file", "files"), humanBytes(o.HereBytes)))
	}
	if o.Resume > 0 {
		lines = append(lines, fmt.Sprintf("%s can be resumed from an interrupted transfer", humanBytes(o.Resume)))
	}
	if o.Free >= 0 {
		lines = append(lines, fmt.Sprintf("%s to write, %s free on the output disk", humanBytes(o.Need), humanBytes(o.Free)))
	}
	return lines
}

// progress shows a bar on a terminal, or JSON lines with --json. It
// starts with the transfer's first report (the receiver has accepted):
// the time at a prompt does not count, and neither do the bytes the
// receiver already had, so the bar, the rate and the summary count what
// moves in this run.
type progress struct {
	mu    sync.Mutex
	w     io.Writer // the terminal for the bar, or nil
	what  string
	bar   *progressbar.ProgressBar
	json  io.Writer
	last  time.Time
	start time.Time // the first report
	end   time.Time
	base  int64 // what the receiver had at the start
	done  int64
}

func (a *app) newProgress(f *connFlags, what string) *progress {
	p := &progress{what: what}
	if f.asJSON {
		p.json = a.stdout
		return p
	}
	if file, ok := a.stderr.(*os.File); ok && term.IsTerminal(int(file.Fd())) {
		p.w = a.stderr
	}
	return p
}

func (p *progress) update(pr transfer.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if p.start.IsZero() {
		p.start, p.base = now, pr.Done
		if p.w != nil && pr.Total > pr.Done {
			what := p.what
			if pr.Done > 0 {
				what = fmt.Sprintf("%s (%s of %s already there)", p.what, humanBytes(pr.Done), humanBytes(pr.Total))
			}
			p.bar = progressbar.NewOptions64(pr.Total-pr.Done,
				progressbar.OptionSetWriter(p.w),
				progressbar.OptionSetDescription(what),
				progressbar.OptionShowBytes(true),
				progressbar.OptionUseIECUnits(true),
				progressbar.OptionShowCount(),
				progressbar.OptionFullWidth(),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionClearOnFinish(),
			)
			p.bar.RenderBlank() // starts the bar's clock now
		}
	}
	p.done = pr.Done
	if p.bar != nil {
		p.bar.Set64(pr.Done - p.base)
	}
	if p.json != nil && (now.Sub(p.last) > 250*time.Millisecond || pr.Done == pr.Total) {
		p.last = now
		el := now.Sub(p.start).Seconds()
		json.NewEncoder(p.json).Encode(map[string]any{"event": "progress", "done": pr.Done, "total": pr.Total, "file": pr.File,
			"bytes_per_second": int64(float64(pr.Done-p.base) / max(el, 1e-3))})
	}
}

// moved returns the bytes moved in this run.
func (p *progress) moved() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done - p.base
}

// finish ends the bar (filled when ok, otherwise cleared so that the
// error starts on a clean line) and returns the time from the start to
// now.
func (p *progress) finish(ok bool) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		if ok {
			p.bar.Finish()
		} else {
			p.bar.Exit()
			p.bar.Clear()
		}
		p.bar = nil
	}
	if p.start.IsZero() {
		return 0
	}
	if p.end.IsZero() {
		p.end = time.Now()
	}
	return p.end.Sub(p.start)
}

// summary prints what moved in d (from the first byte on), and how many
// files were skipped because the receiver had them already.
func (a *app) summary(verb string, files int, bytes int64, d time.Duration, skipped int, f *connFlags) {
	rate := float64(bytes) / max(d.Seconds(), 1e-3)
	a.infof("%s %s, %s in %v (%s/s)", verb, count(files, "file", "files"), humanBytes(bytes), d.Round(time.Millisecond), humanBytes(int64(rate)))
	if f.asJSON {
		json.NewEncoder(a.stdout).Encode(map[string]any{"event": "done", "files": files, "bytes": bytes, "skipped": skipped, "seconds": d.Seconds(), "bytes_per_second": int64(rate)})
	}
}

// count says n things: "1 file", "3 files".
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// filesAndFolders says how many files and folders: "1 file", "3 files and
// 1 folder" (no folders are not mentioned).
func filesAndFolders(files, dirs int) string {
	s := count(files, "file", "files")
	if dirs > 0 {
		s += " and " + count(dirs, "folder", "folders")
	}
	return s
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
