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
	"syscall"
)

// Writing one received file: its part file (new, or resumed without
// following links), the bytes, the hash check and its final name.

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
