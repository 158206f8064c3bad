package transfer

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
)

// Sources are the local files behind a manifest, as BuildManifest found
// them: the directories they were found in, held open, and for every file
// its name inside one of them and its identity (device, inode, size and
// modification time) when it was listed. Send opens each file again inside
// its directory without following a symbolic link, sends it only if it
// is still that same file, and checks after its last byte that it did not
// change meanwhile. Close releases the directories.
type Sources struct {
	roots []*os.Root
	files []source // per manifest entry
}

type source struct {
	root int         // index into roots; -1 for a directory entry
	name string      // slash-separated, inside the root
	info fs.FileInfo // the open handle's Stat when it was listed
}

// Close closes the directories the files are read from.
func (s *Sources) Close() error {
	var errs []error
	for _, r := range s.roots {
		errs = append(errs, r.Close())
	}
	s.roots = nil
	return errors.Join(errs...)
}

// BuildManifest lists what sending paths means: each file under its base
// name, each directory as a tree under its base name. It reads no file's
// content (Send hashes each file as it sends it), only each file's
// identity, so an offer of any size is ready at once. Symbolic links and special files are skipped and reported in skipped;
// sp2p never follows a link out of what the user named. The caller closes
// the Sources when the transfer is over.
func BuildManifest(paths []string) (m *Manifest, src *Sources, skipped []string, err error) {
	m = &Manifest{Protocol: protocolHeader}
	sources := &Sources{}
	src = sources
	defer func() {
		if err != nil {
			sources.Close() // src is nil here: the return statement set it
			m, src = nil, nil
		}
	}()
	b := newBuilder(m)
	add := func(e Entry, s source, shown string) error {
		if err := b.add(e, shown); err != nil {
			return err
		}
		src.files = append(src.files, s)
		return nil
	}
	parents := map[string]int{} // directory of a named file → its root
	openRoot := func(dir string, want fs.FileInfo) (int, error) {
		r, err := os.OpenRoot(dir)
		if err != nil {
			return 0, fmt.Errorf("transfer: %w", err)
		}
		if want != nil { // the directory the user named, not a link swapped in since
			fi, err := r.Lstat(".")
			if err != nil || !os.SameFile(fi, want) {
				r.Close()
				return 0, fmt.Errorf("%w: %s", ErrChanged, Quote(dir))
			}
		}
		src.roots = append(src.roots, r)
		return len(src.roots) - 1, nil
	}
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("transfer: %w", err)
		}
		base := filepath.Base(filepath.Clean(p))
		if base == "/" || base == "." || base == ".." {
			return nil, nil, nil, fmt.Errorf("transfer: cannot send %s: name it by its path (e.g. ../dir)", Quote(p))
		}
		switch {
		case fi.Mode().IsRegular():
			dir := filepath.Dir(filepath.Clean(p))
			ri, ok := parents[dir]
			if !ok {
				if ri, err = openRoot(dir, nil); err != nil {
					return nil, nil, nil, err
				}
				parents[dir] = ri
			}
			e, s, err := statFile(src.roots[ri], ri, base, base, p)
			if err != nil {
				return nil, nil, nil, err
			}
			if err := add(e, s, p); err != nil {
				return nil, nil, nil, err
			}
		case fi.IsDir():
			ri, err := openRoot(p, fi)
			if err != nil {
				return nil, nil, nil, err
			}
			root := src.roots[ri]
			err = fs.WalkDir(root.FS(), ".", func(rel string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				name := path.Join(base, rel)
				shown := filepath.Join(p, filepath.FromSlash(rel))
				switch {
				case d.IsDir():
					return add(Entry{Path: name, Dir: true}, source{root: -1}, shown)
				case d.Type().IsRegular():
					e, s, err := statFile(root, ri, rel, name, shown)
					if err != nil {
						return err
					}
					return add(e, s, shown)
				default:
					skipped = append(skipped, shown)
					return nil
				}
			})
			if err != nil {
				return nil, nil, nil, fmt.Errorf("transfer: %w", err)
			}
		default:
			skipped = append(skipped, p)
		}
	}
	if len(m.Entries) == 0 {
		return nil, nil, skipped, fmt.Errorf("transfer: nothing to send")
	}
	return m, src, skipped, nil
}

// builder checks the entries of a manifest being built, as they are
// added: the checks a receiver makes of the names, sizes and totals, so
// that what a sender builds is never refused for them.
type builder struct {
	m     *Manifest
	seen  map[string]bool
	total int64
}

func newBuilder(m *Manifest) *builder { return &builder{m: m, seen: map[string]bool{}} }

// add checks e (shown is how the user named it) and appends it to the
// manifest.
func (b *builder) add(e Entry, shown string) error {
	if b.seen[e.Path] {
		return fmt.Errorf("transfer: two things to send are both named %s", Quote(e.Path))
	}
	if err := CheckName(e.Path); err != nil {
		return fmt.Errorf("transfer: cannot send %s: %w", Quote(shown), err)
	}
	if len(b.m.Entries) == MaxEntries {
		return fmt.Errorf("transfer: more than %d entries", MaxEntries)
	}
	if e.Size < 0 {
		return fmt.Errorf("transfer: cannot send %s: a negative size", Quote(shown))
	}
	if e.Size > MaxFileSize {
		return fmt.Errorf("transfer: cannot send %s: larger than %d bytes", Quote(shown), int64(MaxFileSize))
	}
	b.total += e.Size
	if b.total > MaxTotalSize {
		return fmt.Errorf("transfer: more than %d bytes in all", int64(MaxTotalSize))
	}
	b.seen[e.Path] = true
	b.m.Entries = append(b.m.Entries, e)
	return nil
}

// openRegular opens name inside root for reading and makes sure the handle
// is the regular file that sits at that name: the handle's Stat and the
// name's Lstat must be the same file, so a symbolic link at the name is
// never followed (os.Root already refuses any link that leads outside).
func openRegular(root *os.Root, name string) (*os.File, fs.FileInfo, error) {
	li, err := root.Lstat(name)
	if err != nil {
		return nil, nil, err
	}
	if !li.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%w: %s is no longer a regular file", ErrChanged, Quote(name))
	}
	f, err := root.OpenFile(name, os.O_RDONLY|openNonblock, 0)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() || !os.SameFile(fi, li) {
		f.Close()
		return nil, nil, fmt.Errorf("%w: %s was replaced while it was opened", ErrChanged, Quote(name))
	}
	return f, fi, nil
}

// statFile opens name inside root once and records its identity.
func statFile(root *os.Root, ri int, name, entry, shown string) (Entry, source, error) {
	f, fi, err := openRegular(root, name)
	if err != nil {
		return Entry{}, source{}, fmt.Errorf("transfer: %s: %w", Quote(shown), err)
	}
	f.Close()
	e := Entry{Path: entry, Size: fi.Size(), Exec: fi.Mode()&0o111 != 0}
	return e, source{root: ri, name: name, info: fi}, nil
}

// open opens the source of entry i for sending and checks that it is the
// file that was listed: same device and inode, size and modification time.
func (s *Sources) open(i int, e Entry) (*os.File, error) {
	if i >= len(s.files) || s.files[i].root < 0 || s.files[i].root >= len(s.roots) {
		return nil, fmt.Errorf("transfer: no source for %s", Quote(e.Path))
	}
	src := s.files[i]
	f, fi, err := openRegular(s.roots[src.root], src.name)
	if err != nil {
		if errors.Is(err, ErrChanged) {
			return nil, fmt.Errorf("transfer: sending %s: %w; nothing of it was sent", Quote(e.Path), err)
		}
		return nil, fmt.Errorf("%w: %s cannot be opened again (%v); nothing of it was sent", ErrChanged, Quote(e.Path), err)
	}
	if !os.SameFile(fi, src.info) || fi.Size() != src.info.Size() || fi.Size() != e.Size || !fi.ModTime().Equal(src.info.ModTime()) {
		f.Close()
		return nil, fmt.Errorf("%w: %s was replaced or modified since it was offered; nothing of it was sent", ErrChanged, Quote(e.Path))
	}
	return f, nil
}

// SendResult summarises a transfer from the sender's side.
type SendResult struct {
	Files   int
	Bytes   int64 // sent now
	Resumed int64 // skipped because the receiver already had them
	// Skipped files (not empty ones) the receiver had in full (an offset
	// equal to the size: the file was already there, identical, or a
	// complete part file); nothing of them was sent.
	Skipped int
}

// Source gives Send the bytes of the files of a manifest. *Sources (from
// BuildManifest) reads them from the filesystem; BuildManifestFrom makes
// one of files the caller provides.
type Source interface {
	// Open returns the bytes of the manifest's entry i, the file e, from
	// offset off (0 ≤ off < e.Size) on; Send also opens it from 0 to
	// compare its first bytes with what the receiver already has. Send
	// reads at most e.Size-off bytes of it and closes it; a reader that
	// ends sooner stops the transfer. An error wrapping ErrChanged says
	// the file is no longer the one that was offered. If the reader has a
	// method Unchanged() error, Send calls it after the file's last byte
	// and before its SHA-256 goes out, and an error (wrapping ErrChanged)
	// stops the transfer.
	Open(i int, e Entry, off int64) (io.ReadCloser, error)
}

// sized is a Source that knows how many entries it was built for, so Send
// can refuse a manifest it was not built with before offering anything.
type sized interface{ entries() int }

func (s *Sources) entries() int {
	if s == nil {
		return -1
	}
	return len(s.files)
}

// Open opens the file of entry i again, without following links, checks
// that it is the very file that was listed (ErrChanged otherwise), and
// positions it at off. Its Unchanged reports a file that changed size or
// modification time since.
func (s *Sources) Open(i int, e Entry, off int64) (io.ReadCloser, error) {
	f, err := s.open(i, e)
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("transfer: %w", err)
	}
	return &sourceFile{File: f, want: s.files[i].info, name: e.Path}, nil
}

// sourceFile is a file being sent, with what it was when it was listed.
type sourceFile struct {
	*os.File
	want fs.FileInfo
	name string
}

// Unchanged checks that the file still has the size and modification time
// it had when it was listed: a file written to while it was sent is not
// the file the receiver got.
func (f *sourceFile) Unchanged() error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrChanged, Quote(f.name), err)
	}
	if fi.Size() != f.want.Size() || !fi.ModTime().Equal(f.want.ModTime()) {
		return fmt.Errorf("%w: %s was modified while it was sent; the receiver does not keep it", ErrChanged, Quote(f.name))
	}
	return nil
}
