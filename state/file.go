package state

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// The persistence format (SECURITY.md, "Replicated room state"): a file
// per room, a header, then records. A record is
//
//	length (4, of what follows up to the checksum) || type (1) || payload || crc32c (4)
//
// with the CRC-32C (Castagnoli) over length, type and payload. Records are
// only ever appended; the replica syncs the file after every batch it
// takes in and after every op of its own, before the op is returned (and
// so before it can be sent). A crash therefore leaves a prefix of the
// records followed, at worst, by one incomplete record, which opening
// detects and cuts.
const (
	logMagic  = "sp2p state log 1"
	snapMagic = "sp2p state snap1"
	magicSize = 16
	headerLen = magicSize + 32

	recOp       = 1 // payload: one op's wire form
	recEvidence = 2 // payload: length (4) || op A || length (4) || op B
	recTrailer  = 3 // snapshots only: SHA-256 of every byte before this record

	// maxRecord bounds a record's length field.
	maxRecord = 1 + 4 + MaxOp + 4 + MaxOp
	// MaxSnapshot bounds a snapshot file that Import reads.
	MaxSnapshot = 1 << 30
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors of the state files.
var (
	// ErrCorrupt: a complete record of the log or a snapshot does not
	// match its checksum, or is malformed.
	ErrCorrupt = errors.New("state: corrupt state file")
	// ErrUnsafeFile: the state file or its directory could be read or
	// changed by others, or is not a regular file.
	ErrUnsafeFile = errors.New("state: unsafe state file")
	// ErrBadSnapshot: a snapshot that does not verify.
	ErrBadSnapshot = errors.New("state: invalid snapshot")
	// ErrLocked: another process has the room's state file open.
	ErrLocked = errors.New("state: the state file is in use by another process")
	// ErrReadOnly: a replica opened with OpenReadOnly does not write.
	ErrReadOnly = errors.New("state: opened read-only")
)

func appendRecord(b []byte, typ byte, payload []byte) []byte {
	start := len(b)
	b = binary.BigEndian.AppendUint32(b, uint32(1+len(payload)))
	b = append(b, typ)
	b = append(b, payload...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

// record is one record read back.
type record struct {
	typ     byte
	payload []byte
	offset  int64
	index   int
}

// errTorn marks the end of the readable prefix.
var errTorn = errors.New("torn record")

// readRecord reads the next record. At a clean end it returns io.EOF;
// when what is left is an incomplete record or zero bytes, errTorn. (A
// length that reaches past the end of the file is within maxRecord of it,
// or it is out of range: only the last 8 + maxRecord bytes can be taken
// for a torn write.)
func readRecord(br *bufio.Reader, offset int64, index int) (record, int64, error) {
	var hdr [4]byte
	n, err := io.ReadFull(br, hdr[:])
	if err == io.EOF {
		return record{}, 0, io.EOF
	}
	if err != nil {
		return record{}, 0, errTorn
	}
	length := binary.BigEndian.Uint32(hdr[:])
	if length == 0 && allZeroRest(br) {
		return record{}, 0, errTorn
	}
	if length == 0 || length > maxRecord {
		return record{}, 0, fmt.Errorf("%w: record %d at offset %d has length %d (1 to %d)", ErrCorrupt, index, offset, length, maxRecord)
	}
	body := make([]byte, 0, min(int(length)+4, 1<<20))
	buf := make([]byte, 32<<10)
	for need := int(length) + 4; need > 0; {
		m, err := br.Read(buf[:min(need, len(buf))])
		body = append(body, buf[:m]...)
		need -= m
		if err != nil && need > 0 {
			return record{}, 0, errTorn
		}
	}
	sum := binary.BigEndian.Uint32(body[length:])
	crc := crc32.Update(crc32.Checksum(hdr[:], castagnoli), castagnoli, body[:length])
	if crc != sum {
		return record{}, 0, fmt.Errorf("%w: record %d at offset %d fails its checksum", ErrCorrupt, index, offset)
	}
	return record{typ: body[0], payload: body[1:length], offset: offset, index: index}, int64(n) + int64(length) + 4, nil
}

func allZeroRest(br *bufio.Reader) bool {
	for {
		b, err := br.ReadByte()
		if err != nil {
			return true
		}
		if b != 0 {
			return false
		}
	}
}

func encodeEvidence(e *Evidence) []byte {
	a, b := e.A.Encode(), e.B.Encode()
	out := binary.BigEndian.AppendUint32(nil, uint32(len(a)))
	out = append(out, a...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(b)))
	return append(out, b...)
}

func decodeEvidence(p []byte) (*Op, *Op, error) {
	var ops [2]*Op
	for i := range ops {
		if len(p) < 4 {
			return nil, nil, fmt.Errorf("%w: evidence truncated", ErrMalformed)
		}
		n := binary.BigEndian.Uint32(p)
		if n > MaxOp || int(n) > len(p)-4 {
			return nil, nil, fmt.Errorf("%w: evidence op of %d bytes", ErrMalformed, n)
		}
		op, err := DecodeOp(p[4 : 4+n])
		if err != nil {
			return nil, nil, err
		}
		ops[i] = op
		p = p[4+n:]
	}
	if len(p) != 0 {
		return nil, nil, fmt.Errorf("%w: %d bytes after the evidence", ErrMalformed, len(p))
	}
	return ops[0], ops[1], nil
}

// logFile is the open, append-only state file of a room.
type logFile struct {
	f    *os.File
	path string
	buf  []byte
}

// FileName returns the name of a room's state file in its directory.
func FileName(room [32]byte) string { return hex.EncodeToString(room[:]) + ".state" }

// Open returns the replica of cfg.Room whose state lives in dir (which
// must exist and may be read and changed only by its owner). It reads the
// room's state file, cutting an incomplete last record, or creates it
// (mode 0600). The ops in the file are checked as they are read (chains,
// hashes, kinds) but their signatures are not verified again: they were
// when they were taken in, and the file is private. Close the replica
// when done.
func Open(dir string, cfg Config) (*Replica, error) {
	r, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if err := checkDir(dir); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, FileName(cfg.Room))
	f, err := openPrivate(path, os.O_RDWR, true)
	if err != nil {
		return nil, err
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, err
	}
	good, err := r.load(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, fmt.Errorf("state: cutting the torn tail of %s: %w", path, err)
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	r.file = &logFile{f: f, path: path}
	if good == 0 {
		r.file.buf = append([]byte(logMagic), cfg.Room[:]...)
		if err := r.flush(); err != nil {
			f.Close()
			return nil, err
		}
	}
	return r, nil
}

// OpenReadOnly reads the room's state file in dir into a replica that
// keeps it in memory and makes no ops (ErrReadOnly): for showing the
// state while another process has the room open. An incomplete last
// record (one being written) is left out, not cut.
func OpenReadOnly(dir string, cfg Config) (*Replica, error) {
	r, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if err := checkDir(dir); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, FileName(cfg.Room))
	f, err := openPrivate(path, os.O_RDONLY, false)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := r.load(f, path); err != nil {
		return nil, err
	}
	r.readOnly = true
	return r, nil
}

// load reads the records of f into r and returns the length of the good
// prefix.
func (r *Replica) load(f io.Reader, path string) (int64, error) {
	br := bufio.NewReaderSize(f, 64<<10)
	var hdr [headerLen]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return 0, nil // empty, or torn while its header was written
	}
	if string(hdr[:magicSize]) != logMagic {
		return 0, fmt.Errorf("%w: %s is not a state log", ErrCorrupt, path)
	}
	if [32]byte(hdr[magicSize:]) != r.cfg.Room {
		return 0, fmt.Errorf("%w: %s holds another room", ErrCorrupt, path)
	}
	off := int64(headerLen)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.loading = true
	defer func() { r.loading, r.changed = false, nil }()
	for i := 0; ; i++ {
		rec, n, err := readRecord(br, off, i)
		if err == io.EOF {
			return off, nil
		}
		if errors.Is(err, errTorn) {
			r.cfg.Logger.Warn("state: cut an incomplete record at the end of the state file", "path", path, "offset", off)
			return off, nil
		}
		if err != nil {
			return 0, fmt.Errorf("%s: %w", path, err)
		}
		if err := r.loadRecord(rec); err != nil {
			return 0, fmt.Errorf("%w: %s: record %d at offset %d: %w", ErrCorrupt, path, rec.index, rec.offset, err)
		}
		off += n
	}
}

func (r *Replica) loadRecord(rec record) error {
	switch rec.typ {
	case recOp:
		op, err := DecodeOp(rec.payload)
		if err != nil {
			return err
		}
		_, err = r.accept(op, r.now())
		return err
	case recEvidence:
		a, b, err := decodeEvidence(rec.payload)
		if err != nil {
			return err
		}
		return r.takeEvidence(a, b)
	}
	return fmt.Errorf("unknown record type %d", rec.typ)
}

// persist queues a record for the state file (nothing without one).
func (r *Replica) persist(typ byte, payload []byte) {
	if r.file == nil || r.loading {
		return
	}
	r.file.buf = appendRecord(r.file.buf, typ, payload)
}

// flush writes the queued records and syncs the file.
func (r *Replica) flush() error {
	if r.file == nil || len(r.file.buf) == 0 {
		return r.fileErr
	}
	if r.fileErr != nil {
		return r.fileErr
	}
	if _, err := r.file.f.Write(r.file.buf); err != nil {
		r.fileErr = fmt.Errorf("state: writing %s: %w", r.file.path, err)
		return r.fileErr
	}
	r.file.buf = r.file.buf[:0]
	if err := r.file.f.Sync(); err != nil {
		r.fileErr = fmt.Errorf("state: syncing %s: %w", r.file.path, err)
	}
	return r.fileErr
}

// Close writes what is queued and closes the state file.
func (r *Replica) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	if r.file == nil {
		return nil
	}
	err := r.flush()
	if cerr := r.file.f.Close(); err == nil {
		err = cerr
	}
	return err
}

func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: %s is not a directory", ErrUnsafeFile, dir)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%w: the directory %s is writable by group or others (permissions %04o)", ErrUnsafeFile, dir, fi.Mode().Perm())
	}
	return checkOwner(dir, fi)
}

// openPrivate opens path (flag: os.O_RDWR or os.O_RDONLY), creating it
// with mode 0600 if create is set, and refuses a symbolic link, anything
// but a regular file, a file that group or others may read or write, and
// one another user owns.
func openPrivate(path string, flag int, create bool) (*os.File, error) {
	if create {
		f, err := os.OpenFile(path, flag|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("state: %w", err)
		}
	}
	li, err := os.Lstat(path)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	if err := checkPrivate(path, li); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	fi, err := f.Stat()
	if err == nil && !os.SameFile(li, fi) {
		err = fmt.Errorf("%w: %s changed while it was being opened", ErrUnsafeFile, path)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func checkPrivate(path string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is not a regular file (%s)", ErrUnsafeFile, path, fi.Mode().Type())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%w: permissions %04o for %s are too open; it must not be accessible by others", ErrUnsafeFile, perm, path)
	}
	return checkOwner(path, fi)
}
