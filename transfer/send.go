package transfer

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// BuildManifest lists what sending paths means: each file under its base
// name, each directory as a tree under its base name. It hashes every file.
// Symbolic links and special files are skipped and reported in skipped;
// sp2p never follows a link out of what the user named.
func BuildManifest(paths []string) (m *Manifest, local []string, skipped []string, err error) {
	m = &Manifest{Protocol: protocolHeader}
	seen := map[string]bool{}
	add := func(e Entry, src string) error {
		if seen[e.Path] {
			return fmt.Errorf("transfer: two things to send are both named %s", Quote(e.Path))
		}
		if err := CheckName(e.Path); err != nil {
			return fmt.Errorf("transfer: cannot send %s: %w", Quote(src), err)
		}
		seen[e.Path] = true
		m.Entries = append(m.Entries, e)
		local = append(local, src)
		return nil
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
			e, err := fileEntry(p, base, fi)
			if err != nil {
				return nil, nil, nil, err
			}
			if err := add(e, p); err != nil {
				return nil, nil, nil, err
			}
		case fi.IsDir():
			err := filepath.WalkDir(p, func(src string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				rel, err := filepath.Rel(p, src)
				if err != nil {
					return err
				}
				name := path.Join(base, filepath.ToSlash(rel))
				switch {
				case d.IsDir():
					return add(Entry{Path: name, Dir: true}, src)
				case d.Type().IsRegular():
					info, err := d.Info()
					if err != nil {
						return err
					}
					e, err := fileEntry(src, name, info)
					if err != nil {
						return err
					}
					return add(e, src)
				default:
					skipped = append(skipped, src)
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
	if len(m.Entries) > MaxEntries {
		return nil, nil, nil, fmt.Errorf("transfer: %d entries, at most %d", len(m.Entries), MaxEntries)
	}
	return m, local, skipped, nil
}

func fileEntry(src, name string, fi fs.FileInfo) (Entry, error) {
	f, err := os.Open(src)
	if err != nil {
		return Entry{}, fmt.Errorf("transfer: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return Entry{}, fmt.Errorf("transfer: reading %s: %w", src, err)
	}
	return Entry{Path: name, Size: n, Exec: fi.Mode()&0o111 != 0, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// SendResult summarises a transfer from the sender's side.
type SendResult struct {
	Files   int
	Bytes   int64 // sent now
	Resumed int64 // skipped because the receiver already had them
}

// Send offers m (with local[i] the source of m.Entries[i]) on conn and, if
// the receiver accepts, sends the files. progress, if not nil, is called as
// bytes go out.
func Send(conn io.ReadWriter, m *Manifest, local []string, progress func(Progress)) (*SendResult, error) {
	if err := writeFrame(conn, m); err != nil {
		return nil, fmt.Errorf("transfer: sending the offer: %w", err)
	}
	var d decision
	if err := readFrame(conn, &d); err != nil {
		return nil, fmt.Errorf("transfer: waiting for the receiver's decision: %w", err)
	}
	if !d.Accept {
		return nil, fmt.Errorf("%w: %s", ErrDeclined, Quote(d.Reason))
	}
	if len(d.Offsets) != len(m.Entries) {
		return nil, fmt.Errorf("%w: %d offsets for %d entries", ErrProtocol, len(d.Offsets), len(m.Entries))
	}
	_, _, total := m.Totals()
	res := &SendResult{}
	for i, e := range m.Entries {
		if off := d.Offsets[i]; off < 0 || off > e.Size || (e.Dir && off != 0) {
			return nil, fmt.Errorf("%w: offset %d for %s", ErrProtocol, off, Quote(e.Path))
		}
		res.Resumed += d.Offsets[i]
	}
	done := res.Resumed
	for i, e := range m.Entries {
		if e.Dir {
			continue
		}
		res.Files++
		off := d.Offsets[i]
		if off == e.Size {
			continue
		}
		f, err := os.Open(local[i])
		if err != nil {
			return res, fmt.Errorf("transfer: %w", err)
		}
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			f.Close()
			return res, fmt.Errorf("transfer: %w", err)
		}
		w := &countingWriter{w: conn, done: &done, total: total, file: e.Path, progress: progress}
		n, err := io.CopyBuffer(w, io.LimitReader(f, e.Size-off), make([]byte, 1<<20))
		f.Close()
		res.Bytes += n
		if err != nil {
			return res, fmt.Errorf("transfer: sending %s: %w", Quote(e.Path), err)
		}
		if n != e.Size-off {
			return res, fmt.Errorf("transfer: %s changed while sending (%d bytes short)", Quote(e.Path), e.Size-off-n)
		}
	}
	var r result
	if err := readFrame(conn, &r); err != nil {
		return res, fmt.Errorf("transfer: waiting for the receiver's result: %w", err)
	}
	if !r.OK {
		return res, fmt.Errorf("transfer: the receiver reports: %s", strings.TrimSpace(Quote(r.Error)))
	}
	return res, nil
}

type countingWriter struct {
	w        io.Writer
	done     *int64
	total    int64
	file     string
	progress func(Progress)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	*c.done += int64(n)
	if c.progress != nil {
		c.progress(Progress{Done: *c.done, Total: c.total, File: c.file})
	}
	return n, err
}
