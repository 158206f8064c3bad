package transfer

import (
	"fmt"
	"hash/maphash"
	"io"
)

// Sending files that are not on the local filesystem (a browser's File
// objects, an archive, memory): the caller gives each file's name, size
// and a way to read it from an offset.

// SourceFile is one file to send from outside the filesystem.
type SourceFile struct {
	Path string // its name in the manifest: slash-separated, relative
	Size int64
	Exec bool
	// Open returns the file's bytes from offset off to its end. Send
	// calls it from the offset the receiver resumes at (and, when the
	// receiver has some of the file already, once more from 0 to compare
	// those bytes); each reader is closed after use.
	Open func(off int64) (io.ReadCloser, error)
}

// BuildManifestFrom makes the manifest of files, in their order, with the
// checks BuildManifest makes (CheckName, no name twice, no file inside
// another, the size limits). It reads none of the files: Send hashes each
// as it sends it, and stops with ErrChanged if one gives fewer or more
// bytes than its Size (before the file's SHA-256 goes out, so the
// receiver does not keep it).
func BuildManifestFrom(files []SourceFile) (*Manifest, Source, error) {
	m := &Manifest{Protocol: protocolHeader}
	b := newBuilder(m)
	for _, f := range files {
		if f.Open == nil {
			return nil, nil, fmt.Errorf("transfer: %s has no Open", Quote(f.Path))
		}
		if err := b.add(Entry{Path: f.Path, Size: f.Size, Exec: f.Exec}, f.Path); err != nil {
			return nil, nil, err
		}
	}
	if len(m.Entries) == 0 {
		return nil, nil, fmt.Errorf("transfer: nothing to send")
	}
	if p, file, ok := filesChecker(m.Entries).nested(m.Entries); ok {
		return nil, nil, fmt.Errorf("transfer: cannot send %s: it would be inside the file %s", Quote(p), Quote(file))
	}
	return m, fileSource(files), nil
}

// filesChecker is a checker that knows entries as files, for its nesting
// check.
func filesChecker(entries []Entry) *checker {
	c := newChecker(len(entries))
	for _, e := range entries {
		c.kinds[e.Path] = false
		c.fileHashes[maphash.String(c.seed, e.Path)] = struct{}{}
	}
	return c
}

// fileSource is the Source of BuildManifestFrom: entry i is files[i].
type fileSource []SourceFile

func (s fileSource) entries() int { return len(s) }

// Open opens file i from off; its reader reports ErrChanged if the file
// ends before its size, and its Unchanged if it has more.
func (s fileSource) Open(i int, e Entry, off int64) (io.ReadCloser, error) {
	if i < 0 || i >= len(s) || s[i].Path != e.Path || s[i].Size != e.Size {
		return nil, fmt.Errorf("transfer: no source for %s", Quote(e.Path))
	}
	r, err := s[i].Open(off)
	if err != nil {
		return nil, fmt.Errorf("transfer: opening %s: %w", Quote(e.Path), err)
	}
	return &exactReader{r: r, left: e.Size - off, size: e.Size, name: e.Path}, nil
}

// exactReader reads left bytes from r: an end before them is ErrChanged.
type exactReader struct {
	r    io.ReadCloser
	left int64
	size int64
	name string
}

func (x *exactReader) Read(p []byte) (int, error) {
	if x.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > x.left {
		p = p[:x.left]
	}
	n, err := x.r.Read(p)
	x.left -= int64(n)
	if err == io.EOF && x.left > 0 {
		return n, fmt.Errorf("%w: %s ended %d bytes before its size; nothing more of it was sent", ErrChanged, Quote(x.name), x.left)
	}
	return n, err
}

func (x *exactReader) Close() error { return x.r.Close() }

// Unchanged reports a file that has more bytes than its size.
func (x *exactReader) Unchanged() error {
	var one [1]byte
	for range 100 { // a reader that keeps returning nothing and no error counts as ended
		n, err := x.r.Read(one[:])
		if n > 0 {
			return fmt.Errorf("%w: %s has more than the %d bytes it was offered with; the receiver does not keep it", ErrChanged, Quote(x.name), x.size)
		}
		if err != nil {
			return nil
		}
	}
	return nil
}
