package transfer

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
)

// ReceiveOptions configure Receive.
type ReceiveOptions struct {
	// Dir is where files go; nothing is ever written outside it.
	Dir string
	// Overwrite replaces existing files; without it an offer that would
	// replace one is refused before anything is written.
	Overwrite bool
	// Confirm is shown the validated offer (and how many bytes can be
	// resumed from earlier attempts) and decides. nil accepts.
	Confirm func(m *Manifest, resume int64) (bool, error)
	// Progress, if not nil, is called as bytes arrive.
	Progress func(Progress)
}

// ReceiveResult summarises a transfer from the receiver's side.
type ReceiveResult struct {
	Files, Dirs int
	Bytes       int64 // received now
	Resumed     int64 // already there from an interrupted transfer
}

// partName is the temporary name of a file while it arrives: hidden, in
// the same directory, and tied to the expected content (so a later
// transfer of the same file resumes it, and a different file never does).
func partName(e Entry) string {
	dir, base := path.Split(e.Path)
	return dir + "." + base + "." + e.SHA256[:16] + ".sp2p-part"
}

// Receive reads an offer from conn, checks every name, asks opts.Confirm,
// and receives the files into opts.Dir.
func Receive(conn io.ReadWriter, opts ReceiveOptions) (*ReceiveResult, error) {
	var m Manifest
	if err := readFrame(conn, &m); err != nil {
		return nil, fmt.Errorf("transfer: reading the offer: %w", err)
	}
	decline := func(err error) (*ReceiveResult, error) {
		writeFrame(conn, decision{Accept: false, Reason: err.Error()})
		return nil, err
	}
	if err := m.validate(); err != nil {
		return decline(err)
	}
	root, err := os.OpenRoot(opts.Dir)
	if err != nil {
		return decline(fmt.Errorf("transfer: output directory: %w", err))
	}
	defer root.Close()

	offsets := make([]int64, len(m.Entries))
	var resume int64
	for i, e := range m.Entries {
		fi, err := root.Lstat(e.Path)
		switch {
		case err == nil && e.Dir && fi.IsDir():
		case err == nil && fi.Mode()&fs.ModeSymlink != 0:
			return decline(fmt.Errorf("%w: %s is a symbolic link here", ErrUnsafeName, Quote(e.Path)))
		case err == nil && (e.Dir || fi.IsDir()):
			return decline(fmt.Errorf("%w: %s (a %s) is in the way", ErrExists, Quote(e.Path), map[bool]string{true: "directory", false: "file"}[fi.IsDir()]))
		case err == nil && !opts.Overwrite:
			return decline(fmt.Errorf("%w: %s", ErrExists, Quote(e.Path)))
		case err == nil && !fi.Mode().IsRegular():
			return decline(fmt.Errorf("%w: %s is not a regular file", ErrUnsafeName, Quote(e.Path)))
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return decline(fmt.Errorf("transfer: %s: %w", Quote(e.Path), err))
		}
		if !e.Dir {
			if pi, err := root.Lstat(partName(e)); err == nil && pi.Mode().IsRegular() && pi.Size() <= e.Size {
				offsets[i] = pi.Size()
				resume += pi.Size()
			}
		}
	}
	if opts.Confirm != nil {
		ok, err := opts.Confirm(&m, resume)
		if err != nil {
			return decline(err)
		}
		if !ok {
			return decline(ErrDeclined)
		}
	}
	if err := writeFrame(conn, decision{Accept: true, Offsets: offsets}); err != nil {
		return nil, fmt.Errorf("transfer: %w", err)
	}
	_, _, total := m.Totals()
	res := &ReceiveResult{Resumed: resume}
	done := resume
	var failures []string
	for i, e := range m.Entries {
		if e.Dir {
			if err := root.MkdirAll(e.Path, 0o755); err != nil {
				return res, fmt.Errorf("transfer: creating %s: %w", Quote(e.Path), err)
			}
			res.Dirs++
			continue
		}
		if dir := path.Dir(e.Path); dir != "." {
			if err := root.MkdirAll(dir, 0o755); err != nil {
				return res, fmt.Errorf("transfer: creating %s: %w", Quote(dir), err)
			}
		}
		n, err := receiveFile(root, conn, e, offsets[i], func(k int64) {
			done += k
			if opts.Progress != nil {
				opts.Progress(Progress{Done: done, Total: total, File: e.Path})
			}
		}, opts.Overwrite)
		res.Bytes += n
		if errors.Is(err, ErrIncomplete) {
			return res, err
		}
		if err != nil {
			failures = append(failures, err.Error())
			continue
		}
		res.Files++
	}
	r := result{OK: len(failures) == 0, Error: strings.Join(failures, "; ")}
	if err := writeFrame(conn, r); err != nil {
		return res, fmt.Errorf("transfer: %w", err)
	}
	if !r.OK {
		return res, errors.New(r.Error)
	}
	return res, nil
}

// receiveFile writes one file under its temporary name, checks its hash,
// and gives it its final name.
func receiveFile(root *os.Root, conn io.Reader, e Entry, off int64, progress func(int64), overwrite bool) (int64, error) {
	want, _ := hex.DecodeString(e.SHA256)
	part := partName(e)
	f, err := root.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %v", ErrIncomplete, Quote(e.Path), err)
	}
	h := sha256.New()
	if off > 0 { // resume: the part already there counts toward the hash
		if _, err := io.CopyN(h, f, off); err != nil {
			f.Close()
			return 0, fmt.Errorf("%w: reading the partial %s: %v", ErrIncomplete, Quote(e.Path), err)
		}
	}
	if err := f.Truncate(off); err != nil {
		f.Close()
		return 0, fmt.Errorf("%w: %v", ErrIncomplete, err)
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		f.Close()
		return 0, fmt.Errorf("%w: %v", ErrIncomplete, err)
	}
	w := io.MultiWriter(f, h, progressWriter(progress))
	n, err := io.CopyBuffer(w, io.LimitReader(conn, e.Size-off), make([]byte, 1<<20))
	serr := f.Sync()
	cerr := f.Close()
	if err == nil && n < e.Size-off {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return n, fmt.Errorf("%w: %s: %d of %d bytes received (%v); the same transfer again resumes it",
			ErrIncomplete, Quote(e.Path), off+n, e.Size, err)
	}
	if serr != nil || cerr != nil {
		return n, fmt.Errorf("%w: writing %s: %v", ErrIncomplete, Quote(e.Path), errors.Join(serr, cerr))
	}
	if subtle.ConstantTimeCompare(h.Sum(nil), want) != 1 {
		root.Remove(part)
		return n, fmt.Errorf("%w: %s", ErrIntegrity, Quote(e.Path))
	}
	mode := os.FileMode(0o644)
	if e.Exec {
		mode = 0o755
	}
	if err := root.Chmod(part, mode); err != nil {
		return n, err
	}
	if overwrite {
		err = root.Rename(part, e.Path)
	} else if err = root.Link(part, e.Path); err == nil {
		root.Remove(part)
	}
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return n, fmt.Errorf("%w: %s appeared during the transfer; kept as %s", ErrExists, Quote(e.Path), Quote(part))
		}
		return n, fmt.Errorf("transfer: naming %s: %w", Quote(e.Path), err)
	}
	return n, nil
}

type progressWriter func(int64)

func (p progressWriter) Write(b []byte) (int, error) {
	p(int64(len(b)))
	return len(b), nil
}
