package transfer

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
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
// the same directory. A later transfer of the same name resumes from it
// only if its bytes match the sender's SHA-256 of as many first bytes.
func partName(e Entry) string {
	dir, base := path.Split(e.Path)
	return dir + "." + base + ".sp2p-part"
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

// abort tells w that its file stopped with cause, and returns the error to
// report: the sink's (which says what it kept), or cause.
func abort(w FileWriter, cause error) error {
	if err := w.Abort(cause); err != nil {
		return err
	}
	return cause
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
