package transfer

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"
)

// Offer is a validated offer as the receiver sees it before it decides.
type Offer struct {
	Manifest    *Manifest
	Files, Dirs int
	Bytes       int64 // in all (at most MaxTotalSize)
	Resume      int64 // already here from an interrupted transfer
	// Here files (HereBytes bytes) are already in the output directory
	// under their names with the same size and SHA-256: they are skipped.
	Here      int
	HereBytes int64
	Need      int64 // still to be written: Bytes - Resume - HereBytes
	// Free is what the filesystem of the output directory has available
	// (for an unprivileged user), or what a Sink can take, or -1 if
	// this system or the Sink cannot tell.
	Free int64
}

// ReceiveOptions configure Receive.
type ReceiveOptions struct {
	// Dir is where files go; nothing is ever written outside it.
	Dir string
	// Overwrite replaces existing files; without it an offer that would
	// replace one is refused before anything is written. A file already
	// there with the same size and SHA-256 is never rewritten: it is
	// "already here" and skipped, with or without Overwrite.
	Overwrite bool
	// Confirm is shown the validated offer, which fits in the free space,
	// and decides. nil accepts.
	Confirm func(o *Offer) (bool, error)
	// Progress, if not nil, is called as bytes arrive.
	Progress func(Progress)

	// freeSpace replaces the free-space query in tests.
	freeSpace func(*os.Root) (int64, error)
}

// ReceiveResult summarises a transfer from the receiver's side.
type ReceiveResult struct {
	Files, Dirs int
	Bytes       int64 // received now
	Resumed     int64 // already there from an interrupted transfer
	// Here files (HereBytes bytes) were already there, identical, and
	// were skipped; they are not counted in Files.
	Here      int
	HereBytes int64
}

// The reasons a receiver gives the sender when it refuses. They never
// carry anything of the receiver's own (its paths, system errors): that
// detail stays in the error Receive returns.
const (
	reasonDeclined    = "declined by the receiver"
	reasonNoSpace     = "not enough space"
	reasonInvalid     = "invalid offer"
	reasonCannotWrite = "the receiver cannot write to its output directory"
)

// reasonName is the reason for refusing an offered name, quoted and
// shortened to fit in MaxReasonLen.
func reasonName(name string) string {
	if len(name) > 80 {
		name = name[:80] + "…"
	}
	return "name refused: " + Quote(name)
}

// offerReason is the reason sent for an offer that failed to decode or
// validate: it describes only what the sender sent.
func offerReason(err error) string {
	var ne *NameError
	if errors.As(err, &ne) {
		return reasonName(ne.Name)
	}
	detail := err.Error()
	for _, p := range []string{ErrBadManifest.Error() + ": ", ErrProtocol.Error() + ": "} {
		detail = strings.TrimPrefix(detail, p)
	}
	r := reasonInvalid + ": " + detail
	if len(r) > MaxReasonLen/2 {
		r = r[:MaxReasonLen/2] + "…"
	}
	return r
}

// partName is the temporary name of a file while it arrives: hidden, in
// the same directory, and tied to the expected content (so a later
// transfer of the same file resumes it, and a different file never does).
func partName(e Entry) string {
	dir, base := path.Split(e.Path)
	return dir + "." + base + "." + e.SHA256[:16] + ".sp2p-part"
}

// Receive reads an offer from conn, checks every name, checks that it fits
// in the free space, asks opts.Confirm, and receives the files into
// opts.Dir. Nothing is ever written through a symbolic link: one at a
// final name, at a temporary name or at a directory on the way refuses the
// offer.
func Receive(conn io.ReadWriter, opts ReceiveOptions) (*ReceiveResult, error) {
	m, err := readOffer(conn)
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(opts.Dir)
	if err != nil {
		return decline(conn, reasonCannotWrite, fmt.Errorf("transfer: output directory: %w", err))
	}
	defer root.Close()
	return receive(conn, m, newDirSink(root, opts), opts, opts.Dir)
}

// ReceiveTo is Receive into sink instead of a directory: it reads an offer
// from conn, checks every name and limit as Receive does, refuses an offer
// that does not fit in sink.Free() (a *SpaceError), asks opts.Confirm and
// writes the files into sink, which keeps a file only once its SHA-256
// has matched. opts.Dir and opts.Overwrite are Receive's and must be
// unset.
func ReceiveTo(conn io.ReadWriter, sink Sink, opts ReceiveOptions) (*ReceiveResult, error) {
	if sink == nil || opts.Dir != "" || opts.Overwrite || opts.freeSpace != nil {
		return nil, errors.New("transfer: ReceiveTo needs a sink, and no Dir or Overwrite (they are Receive's)")
	}
	m, err := readOffer(conn)
	if err != nil {
		return nil, err
	}
	return receive(conn, m, sink, opts, "")
}

// decline refuses the offer with reason (what the sender is told) and
// returns err (the local detail).
func decline(conn io.Writer, reason string, err error) (*ReceiveResult, error) {
	writeFrame(conn, decision{Accept: false, Reason: reason})
	return nil, err
}

// readOffer reads and checks the manifest; an invalid one is refused.
func readOffer(conn io.ReadWriter) (*Manifest, error) {
	m, err := readManifest(conn)
	if err != nil {
		err = fmt.Errorf("transfer: reading the offer: %w", err)
		if errors.Is(err, ErrBadManifest) || errors.Is(err, ErrProtocol) || errors.Is(err, ErrUnsafeName) {
			_, err = decline(conn, offerReason(err), err)
		}
		return nil, err
	}
	return m, nil
}

// receive answers the checked offer m and receives its files into sink.
// where names the sink in a *SpaceError.
func receive(conn io.ReadWriter, m *Manifest, sink Sink, opts ReceiveOptions, where string) (*ReceiveResult, error) {
	offsets := make([]int64, len(m.Entries))
	here := make([]bool, len(m.Entries))
	var resume, hereBytes int64
	var hereFiles int
	for i, e := range m.Entries {
		have, isHere, err := sink.Plan(e)
		if err != nil {
			return decline(conn, reasonName(e.Path), err)
		}
		if have < 0 || have > e.Size || e.Dir && (have != 0 || isHere) {
			return decline(conn, reasonCannotWrite, fmt.Errorf("transfer: the sink has %d bytes of %s of %d", have, Quote(e.Path), e.Size))
		}
		if isHere { // the very file: nothing to send, nothing to write
			here[i] = true
			offsets[i] = e.Size
			hereFiles++
			hereBytes += e.Size
			continue
		}
		offsets[i] = have
		resume += have
	}
	files, ndirs, total := m.Totals()
	offer := &Offer{Manifest: m, Files: files, Dirs: ndirs, Bytes: total, Resume: resume,
		Here: hereFiles, HereBytes: hereBytes, Need: total - resume - hereBytes, Free: sink.Free()}
	if offer.Free < 0 {
		offer.Free = -1
	}
	if offer.Free >= 0 && offer.Need > offer.Free {
		return decline(conn, reasonNoSpace, &SpaceError{Dir: where, Need: offer.Need, Free: offer.Free})
	}
	if opts.Confirm != nil {
		ok, err := opts.Confirm(offer)
		if err != nil {
			return decline(conn, reasonDeclined, err)
		}
		if !ok {
			return decline(conn, reasonDeclined, ErrDeclined)
		}
	}
	if err := writeFrame(conn, decision{Accept: true, Offsets: offsets}); err != nil {
		return nil, fmt.Errorf("transfer: %w", err)
	}
	res := &ReceiveResult{Resumed: resume, Here: hereFiles, HereBytes: hereBytes}
	done := resume + hereBytes
	if opts.Progress != nil { // the start: nothing moved yet
		opts.Progress(Progress{Done: done, Total: total})
	}
	var failures []error // local detail
	var reports []string // what the sender is told
	buf := make([]byte, copyBuffer)
	for i, e := range m.Entries {
		if e.Dir {
			if err := sink.MakeDir(e); err != nil {
				return res, err
			}
			res.Dirs++
			continue
		}
		if here[i] {
			continue
		}
		n, fatal, err := receiveFile(sink, conn, e, offsets[i], buf, func(k int64) {
			done += k
			if opts.Progress != nil {
				opts.Progress(Progress{Done: done, Total: total, File: e.Path})
			}
		})
		res.Bytes += n
		if fatal {
			return res, err
		}
		if err != nil {
			failures = append(failures, err)
			reports = append(reports, report(e, err))
			continue
		}
		res.Files++
	}
	r := result{OK: len(failures) == 0, Error: joinReports(reports)}
	for _, err := range failures {
		if k := kindOf(err); !slices.Contains(r.Kinds, k) {
			r.Kinds = append(r.Kinds, k)
		}
	}
	if err := writeFrame(conn, r); err != nil {
		return res, fmt.Errorf("transfer: %w", err)
	}
	if !r.OK {
		return res, errors.Join(failures...)
	}
	return res, nil
}

// copyBuffer is the size of the buffer a transfer copies file bytes
// through (one for all its files).
const copyBuffer = 1 << 20

// receiveFile receives one file into sink through buf: the bytes from off
// on, after the ones the sink has before off, must match the file's
// SHA-256 for the sink to commit it. fatal reports an error after which
// the stream is out of step (the file's bytes were not all read) or the
// sink can take no more.
func receiveFile(sink Sink, conn io.Reader, e Entry, off int64, buf []byte, progress func(int64)) (n int64, fatal bool, err error) {
	want, _ := hex.DecodeString(e.SHA256)
	w, err := sink.Create(e, off)
	if err != nil {
		return 0, true, err
	}
	h := sha256.New()
	if off > 0 { // resume: what the sink has counts toward the hash
		have := w.Resumed()
		if have == nil {
			have = strings.NewReader("")
		}
		if _, err := io.CopyN(h, have, off); err != nil {
			return 0, true, abort(w, fmt.Errorf("%w: reading the partial %s: %v", ErrIncomplete, Quote(e.Path), err))
		}
	}
	n, err = io.CopyBuffer(io.MultiWriter(w, h, progressWriter(progress)), io.LimitReader(conn, e.Size-off), buf)
	if err == nil && n < e.Size-off {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return n, true, abort(w, fmt.Errorf("%w: %s: %d of %d bytes received (%w)", ErrIncomplete, Quote(e.Path), off+n, e.Size, err))
	}
	if subtle.ConstantTimeCompare(h.Sum(nil), want) != 1 {
		err := fmt.Errorf("%w: %s", ErrIntegrity, Quote(e.Path))
		if aerr := w.Abort(err); aerr != nil {
			err = errors.Join(err, aerr)
		}
		return n, false, err
	}
	if err := w.Commit(); err != nil {
		return n, errors.Is(err, ErrDiskFull) || errors.Is(err, ErrIncomplete), err
	}
	return n, false, nil
}

// abort tells w that its file stopped with cause, and returns the error to
// report: the sink's (which says what it kept), or cause.
func abort(w FileWriter, cause error) error {
	if err := w.Abort(cause); err != nil {
		return err
	}
	return cause
}

type progressWriter func(int64)

func (p progressWriter) Write(b []byte) (int, error) {
	p(int64(len(b)))
	return len(b), nil
}

// report is what the sender is told about a file that failed.
func report(e Entry, err error) string {
	switch {
	case errors.Is(err, ErrIntegrity):
		return Quote(e.Path) + ": content does not match its SHA-256"
	case errors.Is(err, ErrExists):
		return reasonName(e.Path) + " (it appeared on the receiver during the transfer)"
	default:
		return Quote(e.Path) + ": could not be written"
	}
}

// joinReports joins the reports of failed files into at most MaxResultLen
// bytes.
func joinReports(reports []string) string {
	var b strings.Builder
	for i, r := range reports {
		if b.Len()+len(r)+64 > MaxResultLen {
			fmt.Fprintf(&b, "; and %d more", len(reports)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(r)
	}
	return b.String()
}

// writeError describes a failure to write in where: disk full (ErrDiskFull)
// or another error (ErrIncomplete).
func writeError(what, where string, err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("%w on %s: %s: %v", ErrDiskFull, where, what, err)
	}
	return fmt.Errorf("%w: %s: %v", ErrIncomplete, what, err)
}
