package transfer

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
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
	// (for an unprivileged user), or -1 if this system cannot tell.
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
	decline := func(reason string, err error) (*ReceiveResult, error) {
		writeFrame(conn, decision{Accept: false, Reason: reason})
		return nil, err
	}
	m, err := readManifest(conn)
	if err != nil {
		err = fmt.Errorf("transfer: reading the offer: %w", err)
		if errors.Is(err, ErrBadManifest) || errors.Is(err, ErrProtocol) || errors.Is(err, ErrUnsafeName) {
			return decline(offerReason(err), err)
		}
		return nil, err
	}
	root, err := os.OpenRoot(opts.Dir)
	if err != nil {
		return decline(reasonCannotWrite, fmt.Errorf("transfer: output directory: %w", err))
	}
	defer root.Close()

	offsets := make([]int64, len(m.Entries))
	here := make([]bool, len(m.Entries))
	var resume, hereBytes int64
	var hereFiles int
	dirs := newDirChecker(root)
	for i, e := range m.Entries {
		if err := dirs.check(e.Path); err != nil {
			return decline(reasonName(e.Path), err)
		}
		fi, err := root.Lstat(e.Path)
		switch {
		case err == nil && e.Dir && fi.IsDir():
		case err == nil && fi.Mode()&fs.ModeSymlink != 0:
			return decline(reasonName(e.Path), unsafeName(e.Path, "is a symbolic link here"))
		case err == nil && (e.Dir || fi.IsDir()):
			return decline(reasonName(e.Path), &NameError{Name: e.Path, Problem: fmt.Sprintf("(a %s) is in the way", map[bool]string{true: "directory", false: "file"}[fi.IsDir()]), Err: ErrExists})
		case err == nil && fi.Mode().IsRegular() && fi.Size() == e.Size && alreadyHere(root, e):
			// The very file: nothing to send, nothing to write.
			here[i] = true
			offsets[i] = e.Size
			hereFiles++
			hereBytes += e.Size
			continue
		case err == nil && !opts.Overwrite:
			return decline(reasonName(e.Path), &NameError{Name: e.Path, Problem: "exists", Err: ErrExists})
		case err == nil && !fi.Mode().IsRegular():
			return decline(reasonName(e.Path), unsafeName(e.Path, "is not a regular file here"))
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return decline(reasonName(e.Path), fmt.Errorf("transfer: %s: %w", Quote(e.Path), err))
		}
		if e.Dir {
			continue
		}
		part := partName(e)
		pi, err := root.Lstat(part)
		switch {
		case err == nil && !pi.Mode().IsRegular():
			return decline(reasonName(e.Path), unsafeName(e.Path, fmt.Sprintf("has a symbolic link or special file at its temporary name %s", Quote(part))))
		case err == nil && pi.Size() <= e.Size:
			offsets[i] = pi.Size()
			resume += pi.Size()
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return decline(reasonName(e.Path), fmt.Errorf("transfer: %s: %w", Quote(part), err))
		}
	}
	files, ndirs, total := m.Totals()
	offer := &Offer{Manifest: m, Files: files, Dirs: ndirs, Bytes: total, Resume: resume,
		Here: hereFiles, HereBytes: hereBytes, Need: total - resume - hereBytes, Free: -1}
	query := freeSpace
	if opts.freeSpace != nil {
		query = opts.freeSpace
	}
	if free, err := query(root); err == nil {
		offer.Free = free
	}
	if offer.Free >= 0 && offer.Need > offer.Free {
		return decline(reasonNoSpace, &SpaceError{Dir: opts.Dir, Need: offer.Need, Free: offer.Free})
	}
	if opts.Confirm != nil {
		ok, err := opts.Confirm(offer)
		if err != nil {
			return decline(reasonDeclined, err)
		}
		if !ok {
			return decline(reasonDeclined, ErrDeclined)
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
	for i, e := range m.Entries {
		where := filepath.Join(opts.Dir, filepath.FromSlash(path.Dir(e.Path)))
		if e.Dir {
			if err := root.MkdirAll(e.Path, 0o755); err != nil {
				return res, writeError(fmt.Sprintf("creating %s", Quote(e.Path)), where, err)
			}
			res.Dirs++
			continue
		}
		if here[i] {
			continue
		}
		if dir := path.Dir(e.Path); dir != "." {
			if err := root.MkdirAll(dir, 0o755); err != nil {
				return res, writeError(fmt.Sprintf("creating %s", Quote(dir)), where, err)
			}
		}
		n, fatal, err := receiveFile(root, conn, e, offsets[i], func(k int64) {
			done += k
			if opts.Progress != nil {
				opts.Progress(Progress{Done: done, Total: total, File: e.Path})
			}
		}, opts.Overwrite, where)
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
