// Package safefile reads the small local files sp2p trusts (the identity
// file, known_peers, config, passphrase files) with the checks ssh applies
// to its own files: a size bound checked before anything is read, and,
// when asked, refusal of a file that another user owns or could change,
// or whose directory another user could change.
package safefile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Errors of ReadFile. Test for them with errors.Is; a missing file is
// reported with an error that wraps fs.ErrNotExist.
var (
	ErrTooLarge   = errors.New("file too large")
	ErrUnsafe     = errors.New("unsafe file permissions or owner")
	ErrNotRegular = errors.New("not a regular file")
)

// Policy says what ReadFile accepts.
type Policy struct {
	// Max is the largest size accepted, in bytes. A regular file that is
	// larger is refused from its size alone, before it is read; any other
	// input is read through a limit of Max+1 bytes.
	Max int64
	// Private refuses a file that group or others can read or write
	// (mode & 0o077), as ssh does for private keys. Without it, only
	// write access for group or others (mode & 0o022) is refused, and
	// only when Strict is set.
	Private bool
	// Strict refuses a file that is not owned by the current user or
	// root, or that group or others can write, and a file whose directory
	// is not owned by the current user or root or is writable by group or
	// others (ssh's StrictModes). Owners are checked on Unix systems only.
	Strict bool
	// AllowPipe accepts a named pipe or a character device (as given by
	// a shell's <(...) or /dev/stdin) and reads it through the limit.
	AllowPipe bool
}

// ReadFile returns the contents of path after checking it against p. The
// checks are made on the file that is opened (fstat), so a file swapped
// between the checks and the read is refused.
func ReadFile(path string, p Policy) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := p.check(path, fi); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi2, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !os.SameFile(fi, fi2) {
		return nil, fmt.Errorf("%w: %s changed while it was being opened", ErrUnsafe, path)
	}
	if err := p.check(path, fi2); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, p.Max+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(len(data)) > p.Max {
		clear(data)
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrTooLarge, path, p.Max)
	}
	return data, nil
}

// CheckSize refuses a regular file larger than max from its size alone.
func CheckSize(path string, fi fs.FileInfo, max int64) error {
	if fi.Mode().IsRegular() && fi.Size() > max {
		return fmt.Errorf("%w: %s is %d bytes, at most %d are read", ErrTooLarge, path, fi.Size(), max)
	}
	return nil
}

func (p Policy) check(path string, fi fs.FileInfo) error {
	mode := fi.Mode()
	switch {
	case mode.IsRegular():
	case p.AllowPipe && mode&(fs.ModeNamedPipe|fs.ModeCharDevice) != 0:
	default:
		return fmt.Errorf("%w: %s (%s)", ErrNotRegular, path, mode.Type())
	}
	if err := CheckSize(path, fi, p.Max); err != nil {
		return err
	}
	perm := mode.Perm()
	if p.Private && perm&0o077 != 0 {
		return fmt.Errorf("%w: permissions %04o for %s are too open; it must not be accessible by others (fix with: chmod 600 %s)",
			ErrUnsafe, perm, path, path)
	}
	if !p.Strict || !mode.IsRegular() {
		return nil
	}
	if perm&0o022 != 0 {
		return fmt.Errorf("%w: %s is writable by group or others (permissions %04o), who could change it (fix with: chmod go-w %s)",
			ErrUnsafe, path, perm, path)
	}
	return checkOwnerAndDir(path, fi)
}
