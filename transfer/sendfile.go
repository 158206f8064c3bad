package transfer

import (
	"errors"
	"fmt"
	"io"
	"slices"
)

// Send offers m (with src the Source built with it: the Sources
// BuildManifest returned, or the Source of BuildManifestFrom) on conn and,
// if the receiver accepts, sends the files, each followed by its SHA-256,
// computed as it is read. progress, if not nil, is called as bytes go
// out. With *Sources each file is opened again, without following links,
// and sent only if it is the very file that was listed (ErrChanged
// otherwise); a file that changes while it is sent stops the transfer
// (ErrChanged) before its SHA-256 goes out, so the receiver does not keep
// it.
func Send(conn io.ReadWriter, m *Manifest, src Source, progress func(Progress)) (*SendResult, error) {
	if n, ok := src.(sized); src == nil || ok && n.entries() != len(m.Entries) {
		return nil, errors.New("transfer: Send needs the Source built with the manifest")
	}
	if err := writeFrame(conn, m); err != nil {
		return nil, fmt.Errorf("transfer: sending the offer: %w", err)
	}
	rep, err := readReply(conn, m)
	if err != nil {
		return nil, err
	}
	var allowed map[int]int64
	var states map[int][]byte
	if rep.Query != nil {
		var sums []string
		if sums, allowed, states, err = answer(rep.Query, m, src); err != nil {
			return nil, err
		}
		if err := writeFrame(conn, match{SHA256: sums}); err != nil {
			return nil, fmt.Errorf("transfer: %w", err)
		}
	}
	var offsets []int64
	if rep.Query != nil {
		offsets, err = readDecision(conn, m, allowed)
	} else {
		offsets, err = checkDecision(rep, m, nil)
	}
	if err != nil {
		return nil, err
	}
	_, _, total := m.Totals()
	res := &SendResult{}
	for _, off := range offsets {
		res.Resumed += off
	}
	done := res.Resumed
	if progress != nil { // the start: nothing moved yet
		progress(Progress{Done: done, Total: total})
	}
	p := newPipe()
	for i, e := range m.Entries {
		if e.Dir {
			continue
		}
		res.Files++
		off := offsets[i]
		if off == e.Size { // the receiver has it all (or it is empty)
			if e.Size > 0 {
				res.Skipped++
			}
			continue
		}
		var state []byte // the hash of the prefix the receiver resumes after
		if off > 0 {
			state = states[i]
		}
		n, err := sendFile(conn, p, src, i, e, off, state, func(k int64) {
			done += k
			if progress != nil {
				progress(Progress{Done: done, Total: total, File: e.Path})
			}
		})
		res.Bytes += n
		if err != nil {
			return res, err
		}
	}
	if err := readResult(conn); err != nil {
		return res, err
	}
	return res, nil
}

// sendFile sends entry i from off (its hash so far in state), then its
// SHA-256. The file is read and hashed in one goroutine while the caller
// writes to conn.
func sendFile(conn io.Writer, p *pipe, src Source, i int, e Entry, off int64, state []byte, progress func(int64)) (int64, error) {
	h, err := resumeHash(state)
	if err != nil {
		return 0, fmt.Errorf("transfer: %w", err)
	}
	f, err := src.Open(i, e, off)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	read := readFull(f)
	n, err := p.copy(e.Size-off, func(b []byte) (int, error) {
		k, err := read(b)
		h.Write(b[:k])
		return k, err
	}, func(b []byte) error {
		_, err := conn.Write(b)
		if err == nil {
			progress(int64(len(b)))
		}
		return err
	})
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return n, fmt.Errorf("%w: %s ended %d bytes before its size while it was sent", ErrChanged, Quote(e.Path), e.Size-off-n)
		}
		return n, fmt.Errorf("transfer: sending %s: %w", Quote(e.Path), err)
	}
	if u, ok := f.(interface{ Unchanged() error }); ok {
		if err := u.Unchanged(); err != nil {
			return n, err
		}
	}
	if _, err := conn.Write(h.Sum(nil)); err != nil {
		return n, fmt.Errorf("transfer: sending %s: %w", Quote(e.Path), err)
	}
	return n, nil
}

// readDecision reads the receiver's decision on m after the sender
// answered its query (allowed: the offsets the answer confirmed), and
// checks it (checkDecision).
func readDecision(r io.Reader, m *Manifest, allowed map[int]int64) ([]int64, error) {
	var d reply
	if err := readFrame(r, &d, maxDecisionFrame(len(m.Entries))); err != nil {
		return nil, fmt.Errorf("transfer: waiting for the receiver's decision: %w", err)
	}
	if d.Accept == nil || d.Query != nil {
		return nil, fmt.Errorf("%w: a second query, or a decision without accept", ErrProtocol)
	}
	return checkDecision(&d, m, allowed)
}

// checkDecision checks the receiver's decision on m: a refusal is
// ErrDeclined with the receiver's reason (quoted); an acceptance must
// give each entry an offset: 0, or for a file the length of a prefix the
// receiver asked about (allowed), which is the file's size for a file the
// receiver has in full. An empty file has the offset 0, its size.
func checkDecision(d *reply, m *Manifest, allowed map[int]int64) ([]int64, error) {
	if len(d.Reason) > MaxReasonLen {
		return nil, fmt.Errorf("%w: a reason of %d bytes (at most %d)", ErrProtocol, len(d.Reason), MaxReasonLen)
	}
	if !*d.Accept {
		if d.Offsets != nil {
			return nil, fmt.Errorf("%w: a refusal with offsets", ErrProtocol)
		}
		if d.Reason == "" || d.Reason == reasonDeclined {
			return nil, ErrDeclined
		}
		return nil, fmt.Errorf("%w: %s", ErrDeclined, Quote(d.Reason))
	}
	if len(d.Offsets) != len(m.Entries) {
		return nil, fmt.Errorf("%w: %d offsets for %d entries", ErrProtocol, len(d.Offsets), len(m.Entries))
	}
	for i, e := range m.Entries {
		off := d.Offsets[i]
		if a, ok := allowed[i]; off != 0 && (!ok || off != a) {
			return nil, fmt.Errorf("%w: offset %d for %s, which the receiver did not ask about", ErrProtocol, off, Quote(e.Path))
		}
	}
	return d.Offsets, nil
}

// readResult reads the receiver's result frame: nil if it reports
// success, otherwise an error with its (quoted) report.
func readResult(r io.Reader) error {
	var res result
	if err := readFrame(r, &res, maxResultFrame); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("transfer: the receiver stopped before it reported a result (its disk may be full, or it was interrupted; it says why): %w", err)
		}
		return fmt.Errorf("transfer: waiting for the receiver's result: %w", err)
	}
	if len(res.Error) > MaxResultLen {
		return fmt.Errorf("%w: a result of %d bytes (at most %d)", ErrProtocol, len(res.Error), MaxResultLen)
	}
	if len(res.Kinds) > len(resultKinds) || res.OK && len(res.Kinds) > 0 {
		return fmt.Errorf("%w: a result with %d kinds of failure", ErrProtocol, len(res.Kinds))
	}
	var kinds []error
	for _, k := range res.Kinds {
		sentinel, ok := resultKinds[k]
		if !ok || slices.Contains(kinds, sentinel) {
			return fmt.Errorf("%w: a result with an unknown or repeated kind of failure %s", ErrProtocol, Quote(k))
		}
		kinds = append(kinds, sentinel)
	}
	if !res.OK {
		return &RemoteError{Report: res.Error, Kinds: kinds}
	}
	return nil
}
