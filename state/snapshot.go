package state

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/internal/safefile"
)

// records returns every held op (authors in ascending order, each log in
// sequence order) and every evidence, as state file records.
func (r *Replica) recordsLocked(b []byte) []byte {
	authors := make([]identity.ID, 0, len(r.logs))
	for a := range r.logs {
		authors = append(authors, a)
	}
	sort.Slice(authors, func(i, j int) bool { return bytes.Compare(authors[i][:], authors[j][:]) < 0 })
	for _, a := range authors {
		for _, op := range r.logs[a].ops {
			b = appendRecord(b, recOp, op.Encode())
		}
	}
	for _, a := range authors {
		if e := r.logs[a].evidence; e != nil {
			b = appendRecord(b, recEvidence, encodeEvidence(e))
		}
	}
	return b
}

// Export writes a snapshot of the replica: a header, every op it holds and
// every fork evidence as records, and a trailer with SHA-256 of all that
// comes before it. [Replica.Import] verifies every op of it again.
func (r *Replica) Export(w io.Writer) error {
	r.mu.Lock()
	b := append([]byte(snapMagic), r.cfg.Room[:]...)
	b = r.recordsLocked(b)
	r.mu.Unlock()
	sum := sha256.Sum256(b)
	b = appendRecord(b, recTrailer, sum[:])
	_, err := w.Write(b)
	return err
}

// ImportResult says what an import took in.
type ImportResult struct {
	Ops     int // ops in the snapshot
	Taken   int // ops that were new here
	Skipped int // valid ops refused by membership (non-members, cut-off authors)
}

// Import reads a snapshot written by [Replica.Export] (of this room, by
// any member) and takes in its ops. The whole snapshot is checked before
// anything is taken: the header, every record's checksum, the trailer's
// hash, every op's decoding and signature, each author's chain and every
// evidence. A snapshot that fails any check is refused (ErrBadSnapshot,
// naming the record); ops that are valid but whose authors are not
// members are skipped and counted.
func (r *Replica) Import(rd io.Reader) (ImportResult, error) {
	var res ImportResult
	br := bufio.NewReaderSize(io.LimitReader(rd, MaxSnapshot+1), 64<<10)
	h := sha256.New()
	var hdr [headerLen]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil || string(hdr[:magicSize]) != snapMagic {
		return res, fmt.Errorf("%w: not an sp2p state snapshot", ErrBadSnapshot)
	}
	if [32]byte(hdr[magicSize:]) != r.cfg.Room {
		return res, fmt.Errorf("%w: a snapshot of another room", ErrBadSnapshot)
	}
	h.Write(hdr[:])
	var ops []*Op
	var evidence [][2]*Op
	chains := map[identity.ID]*Op{}
	off, trailer := int64(headerLen), false
	for i := 0; ; i++ {
		rec, n, err := readRecord(br, off, i)
		if err == io.EOF {
			break
		}
		if errors.Is(err, errTorn) {
			return res, fmt.Errorf("%w: truncated at offset %d (record %d)", ErrBadSnapshot, off, i)
		}
		if err != nil {
			return res, fmt.Errorf("%w: %w", ErrBadSnapshot, err)
		}
		if off+n > MaxSnapshot {
			return res, fmt.Errorf("%w: larger than %d bytes", ErrBadSnapshot, MaxSnapshot)
		}
		if trailer {
			return res, fmt.Errorf("%w: record %d after the trailer", ErrBadSnapshot, i)
		}
		fail := func(err error) error {
			return fmt.Errorf("%w: record %d at offset %d: %w", ErrBadSnapshot, i, off, err)
		}
		switch rec.typ {
		case recOp:
			op, err := DecodeOp(rec.payload)
			if err != nil {
				return res, fail(err)
			}
			if err := r.checkImported(op, chains); err != nil {
				return res, fail(err)
			}
			ops = append(ops, op)
		case recEvidence:
			a, b, err := decodeEvidence(rec.payload)
			if err != nil {
				return res, fail(err)
			}
			if _, ok := forkPoint(a, b); !ok || a.Room != r.cfg.Room || a.Verify() != nil || b.Verify() != nil {
				return res, fail(ErrBadEvidence)
			}
			evidence = append(evidence, [2]*Op{a, b})
		case recTrailer:
			if sum := h.Sum(nil); !bytes.Equal(sum, rec.payload) {
				return res, fail(errors.New("the trailer's hash does not match the snapshot"))
			}
			trailer = true
		default:
			return res, fail(fmt.Errorf("unknown record type %d", rec.typ))
		}
		h.Write(encodeRecordBytes(rec))
		off += n
	}
	if !trailer {
		return res, fmt.Errorf("%w: no trailer (truncated?)", ErrBadSnapshot)
	}
	res.Ops = len(ops)
	r.mu.Lock()
	for _, e := range evidence {
		_ = r.takeEvidence(e[0], e[1]) // checked above; a non-member's is dropped
	}
	r.mu.Unlock()
	n, errs, ferr := r.take(ops)
	res.Taken = n
	if ferr != nil {
		return res, ferr
	}
	for _, err := range errs {
		if err != nil {
			if errors.Is(err, ErrNotMember) || errors.Is(err, ErrRemoved) || errors.Is(err, ErrForked) {
				res.Skipped++
				continue
			}
			return res, fmt.Errorf("state: importing: %w", err)
		}
	}
	return res, nil
}

func encodeRecordBytes(rec record) []byte { return appendRecord(nil, rec.typ, rec.payload) }

// checkImported verifies an op of a snapshot: its room, its signature,
// and that it continues its author's chain within the snapshot.
func (r *Replica) checkImported(op *Op, chains map[identity.ID]*Op) error {
	if op.Room != r.cfg.Room {
		return ErrWrongRoom
	}
	if err := op.Verify(); err != nil {
		return err
	}
	prev := chains[op.Author]
	switch {
	case prev == nil && op.Seq != 1,
		prev != nil && (op.Seq != prev.Seq+1 || op.Prev != prev.hash || op.HLC <= prev.HLC):
		return fmt.Errorf("%w: op %d of %s", ErrBrokenChain, op.Seq, op.Author)
	}
	chains[op.Author] = op
	return nil
}

// Compact drops the text of chat messages outside the history's retention
// that every current member has acknowledged holding (each member's last
// [Replica.Acknowledge] covers them), then rewrites the state file as one
// atomic snapshot: a temporary file, synced, renamed over the old one,
// and the directory synced. A compacted message keeps its signed header,
// so chains, sync and forks work as before. It returns how many messages
// it pruned.
func (r *Replica) Compact() (int, error) {
	r.mu.Lock()
	defer r.unlock()
	if r.closed {
		return 0, ErrClosed
	}
	acks := r.acksLocked()
	var chat []*Op
	r.counted(func(op *Op) {
		if op.Kind == KindChat && !op.Pruned {
			chat = append(chat, op)
		}
	})
	sort.Slice(chat, func(i, j int) bool { return less(chat[i], chat[j]) })
	keep := map[Hash]bool{}
	for _, op := range retained(chat, r.cfg.History, r.now().UnixMilli()) {
		keep[op.hash] = true
	}
	pruned := 0
	for _, op := range chat {
		if keep[op.hash] || !acked(acks, op) {
			continue
		}
		l := r.logs[op.Author]
		l.ops[op.Seq-1] = op.prune()
		pruned++
	}
	if pruned > 0 {
		r.version++
	}
	if r.file == nil {
		return pruned, nil
	}
	if err := r.flush(); err != nil {
		return pruned, err
	}
	b := append([]byte(logMagic), r.cfg.Room[:]...)
	b = r.recordsLocked(b)
	if err := safefile.WriteAtomic(r.file.path, b, 0o600, true); err != nil {
		return pruned, fmt.Errorf("state: compacting %s: %w", r.file.path, err)
	}
	f, err := openPrivate(r.file.path, os.O_RDWR, false)
	if err == nil {
		_, err = f.Seek(0, io.SeekEnd)
	}
	if err != nil {
		r.fileErr = fmt.Errorf("state: reopening %s: %w", r.file.path, err)
		return pruned, r.fileErr
	}
	if err := lockFile(f); err != nil {
		f.Close()
		r.fileErr = err
		return pruned, err
	}
	r.file.f.Close()
	r.file.f = f
	return pruned, nil
}

// acksLocked returns, per current member, how far its last counted ack
// says it holds each author (nil for a member without one; this replica
// holds what it holds).
func (r *Replica) acksLocked() map[identity.ID]map[identity.ID]uint64 {
	out := map[identity.ID]map[identity.ID]uint64{}
	for _, m := range r.cfg.Members.Members() {
		out[m] = nil
	}
	self := r.cfg.Self.ID()
	own := map[identity.ID]uint64{}
	for a, l := range r.logs {
		own[a] = uint64(len(l.ops))
	}
	out[self] = own
	last := map[identity.ID]*Op{}
	r.counted(func(op *Op) {
		if op.Kind == KindAck && op.Author != self {
			if p := last[op.Author]; p == nil || p.Seq < op.Seq {
				last[op.Author] = op
			}
		}
	})
	for m, op := range last {
		if _, ok := out[m]; !ok {
			continue
		}
		v := map[identity.ID]uint64{}
		for i := 0; i+ackEntrySize <= len(op.Value); i += ackEntrySize {
			v[identity.ID(op.Value[i:i+32])] = binary.BigEndian.Uint64(op.Value[i+32:])
		}
		out[m] = v
	}
	return out
}

func acked(acks map[identity.ID]map[identity.ID]uint64, op *Op) bool {
	for _, v := range acks {
		if v == nil || v[op.Author] < op.Seq {
			return false
		}
	}
	return true
}

// SaveSnapshot writes [Replica.Export] to path atomically, mode 0600,
// refusing to replace an existing file.
func (r *Replica) SaveSnapshot(path string) error {
	var buf bytes.Buffer
	if err := r.Export(&buf); err != nil {
		return err
	}
	if err := safefile.WriteAtomic(filepath.Clean(path), buf.Bytes(), 0o600, false); err != nil {
		return fmt.Errorf("state: writing the snapshot: %w", err)
	}
	return nil
}

// ImportFile reads a snapshot file (a regular file, at most MaxSnapshot
// bytes) with [Replica.Import].
func (r *Replica) ImportFile(path string) (ImportResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return ImportResult{}, fmt.Errorf("state: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ImportResult{}, fmt.Errorf("state: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return ImportResult{}, fmt.Errorf("%w: %s is not a regular file", ErrBadSnapshot, path)
	}
	if fi.Size() > MaxSnapshot {
		return ImportResult{}, fmt.Errorf("%w: %s is %d bytes, at most %d", ErrBadSnapshot, path, fi.Size(), MaxSnapshot)
	}
	return r.Import(f)
}

// SnapshotRoom returns the room ID a snapshot names in its header, so
// that a caller can open that room's replica before importing it. It
// reads the header only; Import checks everything.
func SnapshotRoom(rd io.Reader) ([32]byte, error) {
	var hdr [headerLen]byte
	if _, err := io.ReadFull(rd, hdr[:]); err != nil || string(hdr[:magicSize]) != snapMagic {
		return [32]byte{}, fmt.Errorf("%w: not an sp2p state snapshot", ErrBadSnapshot)
	}
	return [32]byte(hdr[magicSize:]), nil
}
