package transfer

import (
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"syscall"
)

// The output directory as a Sink: what is already there (files already
// here, part files to resume), and writing one received file: its part
// file (new, or resumed without following links), the bytes, and its
// final name.

// dirSink is the Sink of Receive: the output directory, held open as an
// os.Root.
type dirSink struct {
	root      *os.Root
	dir       string // as the user named it, for messages
	overwrite bool
	dirs      *dirChecker
	freeSpace func(*os.Root) (int64, error)
}

func newDirSink(root *os.Root, opts ReceiveOptions) *dirSink {
	d := &dirSink{root: root, dir: opts.Dir, overwrite: opts.Overwrite, dirs: newDirChecker(root), freeSpace: freeSpace}
	if opts.freeSpace != nil {
		d.freeSpace = opts.freeSpace
	}
	return d
}

// where is the directory of e's name, for messages.
func (d *dirSink) where(e Entry) string {
	return filepath.Join(d.dir, filepath.FromSlash(path.Dir(e.Path)))
}

// Plan refuses a name with a symbolic link or a file on the way, a
// symbolic link, something of the other kind, or (without overwrite) a
// file at the name, and a symbolic link or special file at the part
// file's name. A regular file already at the name with e's size may be
// here (the sender compares); a part file no longer than e resumes.
func (d *dirSink) Plan(e Entry) (int64, bool, error) {
	if err := d.dirs.check(e.Path); err != nil {
		return 0, false, err
	}
	fi, err := d.root.Lstat(e.Path)
	switch {
	case err == nil && e.Dir && fi.IsDir():
	case err == nil && fi.Mode()&fs.ModeSymlink != 0:
		return 0, false, unsafeName(e.Path, "is a symbolic link here")
	case err == nil && (e.Dir || fi.IsDir()):
		return 0, false, &NameError{Name: e.Path, Problem: fmt.Sprintf("(a %s) is in the way", map[bool]string{true: "directory", false: "file"}[fi.IsDir()]), Err: ErrExists}
	case err == nil && !e.Dir && fi.Mode().IsRegular() && fi.Size() == e.Size:
		return e.Size, true, nil
	case err == nil && !d.overwrite:
		return 0, false, &NameError{Name: e.Path, Problem: "exists", Err: ErrExists}
	case err == nil && !fi.Mode().IsRegular():
		return 0, false, unsafeName(e.Path, "is not a regular file here")
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return 0, false, fmt.Errorf("transfer: %s: %w", Quote(e.Path), err)
	}
	if e.Dir {
		return 0, false, nil
	}
	part := partName(e)
	pi, err := d.root.Lstat(part)
	switch {
	case err == nil && !pi.Mode().IsRegular():
		return 0, false, unsafeName(e.Path, fmt.Sprintf("has a symbolic link or special file at its temporary name %s", Quote(part)))
	case err == nil && pi.Size() <= e.Size:
		return pi.Size(), false, nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return 0, false, fmt.Errorf("transfer: %s: %w", Quote(part), err)
	}
	return 0, false, nil
}

// Open reads the file at e's name (here) or its part file, opened without
// following a link: the handle must be the regular file at that name.
func (d *dirSink) Open(e Entry, here bool) (io.ReadCloser, error) {
	name := partName(e)
	if here {
		name = e.Path
	}
	f, _, err := openRegular(d.root, name)
	if err != nil {
		return nil, fmt.Errorf("transfer: %s: %w", Quote(name), err)
	}
	return f, nil
}

// Replace allows the file at e's name to be replaced with overwrite, and
// refuses otherwise.
func (d *dirSink) Replace(e Entry) error {
	if d.overwrite {
		return nil
	}
	return &NameError{Name: e.Path, Problem: "exists", Err: ErrExists}
}

// Free is the free space of the directory's filesystem.
func (d *dirSink) Free() int64 {
	free, err := d.freeSpace(d.root)
	if err != nil {
		return -1
	}
	return free
}

// MakeDir creates the directory e (and any parent missing).
func (d *dirSink) MakeDir(e Entry) error {
	if err := d.root.MkdirAll(e.Path, 0o755); err != nil {
		return writeError(fmt.Sprintf("creating %s", Quote(e.Path)), d.where(e), err)
	}
	return nil
}

// Create opens e's part file (after its directory) at off: a new one, or
// the one Plan found to resume, cut to off.
func (d *dirSink) Create(e Entry, off int64) (FileWriter, error) {
	where := d.where(e)
	if dir := path.Dir(e.Path); dir != "." {
		if err := d.root.MkdirAll(dir, 0o755); err != nil {
			return nil, writeError(fmt.Sprintf("creating %s", Quote(dir)), where, err)
		}
	}
	part := partName(e)
	f, err := openPart(d.root, e, part, off)
	if err != nil {
		if errors.Is(err, ErrUnsafeName) {
			return nil, err
		}
		return nil, writeError(fmt.Sprintf("opening the temporary file for %s", Quote(e.Path)), where, err)
	}
	if err := f.Truncate(off); err != nil {
		f.Close()
		return nil, writeError(fmt.Sprintf("resuming %s", Quote(e.Path)), where, err)
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %v", ErrIncomplete, err)
	}
	return &dirFile{d: d, f: f, e: e, off: off, part: part, where: where}, nil
}

// dirFile is one file being received into a dirSink, under its part
// file's name.
type dirFile struct {
	d     *dirSink
	f     *os.File
	e     Entry
	off   int64
	part  string
	where string
	werr  error // the last write error
}

func (w *dirFile) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if err != nil {
		w.werr = err
	}
	return n, err
}

// Commit syncs the part file and gives it its final name: a hard link
// fails if anything (a link included) is at the name; a rename (with
// overwrite) replaces the name itself, never a link's target.
func (w *dirFile) Commit() error {
	e, part := w.e, w.part
	mode := os.FileMode(0o644)
	if e.Exec {
		mode = 0o755
	}
	merr := w.f.Chmod(mode)
	serr := w.f.Sync()
	cerr := w.f.Close()
	if err := errors.Join(merr, serr, cerr); err != nil {
		if errors.Is(err, syscall.ENOSPC) {
			return fmt.Errorf("%w on %s: writing %s: %v; the part file %s is kept: free some space and run the same transfer again to resume",
				ErrDiskFull, w.where, Quote(e.Path), err, Quote(part))
		}
		return fmt.Errorf("%w: writing %s: %v", ErrIncomplete, Quote(e.Path), err)
	}
	root := w.d.root
	var err error
	if w.d.overwrite {
		err = root.Rename(part, e.Path)
	} else if err = root.Link(part, e.Path); err == nil {
		root.Remove(part)
	}
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s appeared during the transfer; kept as %s", ErrExists, Quote(e.Path), Quote(part))
		}
		return fmt.Errorf("transfer: naming %s: %w", Quote(e.Path), err)
	}
	return nil
}

// Abort removes the part file of a file that does not match its SHA-256,
// and keeps the one of an interrupted file, for the same transfer to
// resume.
func (w *dirFile) Abort(cause error) error {
	e, part := w.e, w.part
	if errors.Is(cause, ErrIntegrity) {
		w.f.Close()
		w.d.root.Remove(part)
		return nil
	}
	w.f.Sync()
	w.f.Close()
	if errors.Is(w.werr, syscall.ENOSPC) {
		got := w.off
		if fi, serr := w.d.root.Lstat(part); serr == nil {
			got = fi.Size()
		}
		return fmt.Errorf("%w on %s: %s: %d of %d bytes written (%v); the part file %s is kept: free some space and run the same transfer again to resume",
			ErrDiskFull, w.where, Quote(e.Path), got, e.Size, w.werr, Quote(part))
	}
	return fmt.Errorf("%w; the same transfer again resumes it", cause)
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
