package transfer

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
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

// receiveFile writes one file under its temporary name, checks its hash,
// and gives it its final name. fatal reports an error after which the
// stream is out of step (the file's bytes were not all read).
func receiveFile(root *os.Root, conn io.Reader, e Entry, off int64, progress func(int64), overwrite bool, where string) (n int64, fatal bool, err error) {
	want, _ := hex.DecodeString(e.SHA256)
	part := partName(e)
	f, err := openPart(root, e, part, off)
	if err != nil {
		if errors.Is(err, ErrUnsafeName) {
			return 0, true, err
		}
		return 0, true, writeError(fmt.Sprintf("opening the temporary file for %s", Quote(e.Path)), where, err)
	}
	h := sha256.New()
	if off > 0 { // resume: the part already there counts toward the hash
		if _, err := io.CopyN(h, f, off); err != nil {
			f.Close()
			return 0, true, fmt.Errorf("%w: reading the partial %s: %v", ErrIncomplete, Quote(e.Path), err)
		}
	}
	if err := f.Truncate(off); err != nil {
		f.Close()
		return 0, true, writeError(fmt.Sprintf("resuming %s", Quote(e.Path)), where, err)
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		f.Close()
		return 0, true, fmt.Errorf("%w: %v", ErrIncomplete, err)
	}
	w := io.MultiWriter(f, h, progressWriter(progress))
	n, err = io.CopyBuffer(w, io.LimitReader(conn, e.Size-off), make([]byte, 1<<20))
	if err == nil && n < e.Size-off {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		f.Sync()
		f.Close()
		if errors.Is(err, syscall.ENOSPC) {
			got := off
			if fi, serr := root.Lstat(part); serr == nil {
				got = fi.Size()
			}
			return n, true, fmt.Errorf("%w on %s: %s: %d of %d bytes written (%v); the part file %s is kept: free some space and run the same transfer again to resume",
				ErrDiskFull, where, Quote(e.Path), got, e.Size, err, Quote(part))
		}
		return n, true, fmt.Errorf("%w: %s: %d of %d bytes received (%w); the same transfer again resumes it",
			ErrIncomplete, Quote(e.Path), off+n, e.Size, err)
	}
	mode := os.FileMode(0o644)
	if e.Exec {
		mode = 0o755
	}
	merr := f.Chmod(mode)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(merr, serr, cerr); err != nil {
		if errors.Is(err, syscall.ENOSPC) {
			return n, true, fmt.Errorf("%w on %s: writing %s: %v; the part file %s is kept: free some space and run the same transfer again to resume",
				ErrDiskFull, where, Quote(e.Path), err, Quote(part))
		}
		return n, true, fmt.Errorf("%w: writing %s: %v", ErrIncomplete, Quote(e.Path), err)
	}
	if subtle.ConstantTimeCompare(h.Sum(nil), want) != 1 {
		root.Remove(part)
		return n, false, fmt.Errorf("%w: %s", ErrIntegrity, Quote(e.Path))
	}
	// The final name: a hard link fails if anything (a link included) is
	// at the name; a rename replaces the name itself, never a link's
	// target.
	if overwrite {
		err = root.Rename(part, e.Path)
	} else if err = root.Link(part, e.Path); err == nil {
		root.Remove(part)
	}
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return n, false, fmt.Errorf("%w: %s appeared during the transfer; kept as %s", ErrExists, Quote(e.Path), Quote(part))
		}
		return n, false, fmt.Errorf("transfer: naming %s: %w", Quote(e.Path), err)
	}
	return n, false, nil
}

// alreadyHere reports whether the regular file at e's name inside root
// (opened without following a link: it must be the regular file at that
// name) has e's size and SHA-256. It reads at most e.Size+1 bytes, so
// checking an offer costs at most its total, which the manifest's limits
// bound.
func alreadyHere(root *os.Root, e Entry) bool {
	f, fi, err := openRegular(root, e.Path)
	if err != nil {
		return false
	}
	defer f.Close()
	if fi.Size() != e.Size {
		return false
	}
	want, err := hex.DecodeString(e.SHA256)
	if err != nil {
		return false
	}
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(f, e.Size+1))
	return err == nil && n == e.Size && subtle.ConstantTimeCompare(h.Sum(nil), want) == 1
}

// openPart opens the temporary file of e, never through a symbolic link:
// a new one is created exclusively (O_CREATE|O_EXCL does not follow a
// link at the name, it fails), an existing one to resume from must be the
// regular file at that name.
func openPart(root *os.Root, e Entry, part string, off int64) (*os.File, error) {
	if off == 0 {
		// A stale part file that cannot be resumed (longer than the file)
		// is removed; removing a name never touches a link's target.
		if pi, err := root.Lstat(part); err == nil {
			if !pi.Mode().IsRegular() {
				return nil, unsafeName(e.Path, fmt.Sprintf("has a symbolic link or special file at its temporary name %s", Quote(part)))
			}
			if err := root.Remove(part); err != nil {
				return nil, err
			}
		}
		f, err := root.OpenFile(part, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return nil, unsafeName(e.Path, fmt.Sprintf("has something new at its temporary name %s", Quote(part)))
		}
		return f, err
	}
	f, err := root.OpenFile(part, os.O_RDWR|openNonblock, 0)
	if err != nil {
		return nil, err
	}
	fi, ferr := f.Stat()
	li, lerr := root.Lstat(part)
	if ferr != nil || lerr != nil || !fi.Mode().IsRegular() || !os.SameFile(fi, li) || fi.Size() < off {
		f.Close()
		return nil, unsafeName(e.Path, fmt.Sprintf("has a symbolic link or special file at its temporary name %s", Quote(part)))
	}
	return f, nil
}

// dirChecker checks that no directory on the way to an offered name is a
// symbolic link or a file, with one Lstat per directory that exists (the
// first missing one ends the walk: nothing below it exists either). It
// finds the deepest directory already checked through the prefixes'
// seeded hashes, so its cost is linear in the length of the names.
type dirChecker struct {
	root    *os.Root
	h       maphash.Hash
	known   map[string]bool // checked: true = a real directory, false = missing
	hashes  map[uint64]struct{}
	prefix  []uint64
	slashes []int
}

func newDirChecker(root *os.Root) *dirChecker {
	return &dirChecker{root: root, known: map[string]bool{}, hashes: map[uint64]struct{}{}}
}

func (d *dirChecker) check(p string) error {
	d.prefix = prefixHashes(&d.h, p, d.prefix)
	d.slashes = d.slashes[:0]
	for i := 0; i < len(p); i++ {
		if p[i] == '/' {
			d.slashes = append(d.slashes, i)
		}
	}
	k := len(d.slashes) - 1
	for ; k >= 0; k-- {
		if _, ok := d.hashes[d.prefix[k]]; !ok {
			continue
		}
		if isDir, ok := d.known[p[:d.slashes[k]]]; ok {
			if !isDir {
				return nil
			}
			break
		}
	}
	for j := k + 1; j < len(d.slashes); j++ {
		q := p[:d.slashes[j]]
		fi, err := d.root.Lstat(q)
		d.hashes[d.prefix[j]] = struct{}{}
		switch {
		case errors.Is(err, fs.ErrNotExist):
			d.known[q] = false
			return nil
		case err != nil:
			return fmt.Errorf("transfer: %s: %w", Quote(q), err)
		case fi.Mode()&fs.ModeSymlink != 0:
			return unsafeName(p, fmt.Sprintf("lies under %s, which is a symbolic link here", Quote(q)))
		case !fi.IsDir():
			return &NameError{Name: p, Problem: fmt.Sprintf("lies under %s, which is a file here", Quote(q)), Err: ErrExists}
		}
		d.known[q] = true
	}
	return nil
}

type progressWriter func(int64)

func (p progressWriter) Write(b []byte) (int, error) {
	p(int64(len(b)))
	return len(b), nil
}
