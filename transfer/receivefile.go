package transfer

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding"
	"errors"
	"fmt"
	"io"
	"slices"
)

// planned is what the receiver has of one entry.
type planned struct {
	have  int64  // bytes the sink has (the file's size when here)
	here  bool   // a file of that size at the name, maybe the same
	state []byte // the SHA-256 state after the first have bytes
	sum   []byte // SHA-256 of them
}

// plan asks sink what it has of each entry of m and hashes it: the query
// for the sender.
func plan(m *Manifest, sink Sink) ([]planned, []have, error) {
	plans := make([]planned, len(m.Entries))
	var q []have
	for i, e := range m.Entries {
		n, isHere, err := sink.Plan(e)
		if err != nil {
			return nil, nil, err
		}
		if n < 0 || n > e.Size || e.Dir && (n != 0 || isHere) || isHere && n != e.Size {
			return nil, nil, fmt.Errorf("transfer: the sink has %d bytes of %s of %d", n, Quote(e.Path), e.Size)
		}
		plans[i] = planned{have: n, here: isHere}
		if n == 0 { // nothing to compare: an empty file here is the very file
			continue
		}
		p, err := hashHave(sink, e, n, isHere)
		if err != nil {
			return nil, nil, err
		}
		plans[i] = p
		q = append(q, have{Entry: i, Bytes: n})
	}
	return plans, q, nil
}

// hashHave hashes the first n bytes the sink has of e.
func hashHave(sink Sink, e Entry, n int64, isHere bool) (planned, error) {
	r, err := sink.Open(e, isHere)
	if err != nil {
		return planned{}, err
	}
	defer r.Close()
	h := sha256.New()
	got, err := io.CopyBuffer(h, io.LimitReader(r, n), make([]byte, 64<<10))
	if err == nil && got < n {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return planned{}, fmt.Errorf("%w: reading what is here of %s: %v", ErrIncomplete, Quote(e.Path), err)
	}
	st, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return planned{}, err
	}
	return planned{have: n, here: isHere, state: st, sum: h.Sum(nil)}, nil
}

// receive answers the checked offer m and receives its files into sink.
// where names the sink in a *SpaceError.
func receive(conn io.ReadWriter, m *Manifest, sink Sink, opts ReceiveOptions, where string) (*ReceiveResult, error) {
	plans, q, err := plan(m, sink)
	if err != nil {
		var ne *NameError
		if errors.As(err, &ne) {
			return decline(conn, reasonName(ne.Name), err)
		}
		return decline(conn, reasonCannotWrite, err)
	}
	// What the user is shown counts what is here by name and size (a part
	// file's length, a file of the offered size); only once the user has
	// accepted is the sender asked whether it is its content: before, the
	// sender learns nothing of what the output directory holds.
	offer := offerOf(m, plans, sink)
	if offer.Free >= 0 && offer.Need > offer.Free {
		return decline(conn, reasonNoSpace, &SpaceError{Dir: where, Need: offer.Need, Free: offer.Free})
	}
	if opts.Confirm != nil {
		ok, err := opts.Confirm(offer)
		if err != nil {
			return decline(conn, reasonDeclined, err)
		}
		if !ok {
			return decline(conn, reasonDeclined, ErrDeclined)
		}
	}
	if len(q) > 0 { // is what is here the sender's?
		mine := make([][]byte, len(q))
		for k, item := range q {
			mine[k] = plans[item.Entry].sum
		}
		ok, err := ask(conn, q, mine)
		if err != nil {
			return nil, err
		}
		for k, item := range q {
			if ok[k] {
				continue
			}
			p := &plans[item.Entry]
			if p.here {
				if err := sink.Replace(m.Entries[item.Entry]); err != nil {
					return decline(conn, reasonName(m.Entries[item.Entry].Path), err)
				}
			}
			*p = planned{} // from the start
		}
		// What is not the sender's is received whole: check the space
		// again.
		if again := offerOf(m, plans, sink); again.Free >= 0 && again.Need > again.Free {
			return decline(conn, reasonNoSpace, &SpaceError{Dir: where, Need: again.Need, Free: again.Free})
		}
	}
	offsets := make([]int64, len(m.Entries))
	for i, p := range plans {
		offsets[i] = p.have
	}
	if err := writeFrame(conn, decision{Accept: true, Offsets: offsets}); err != nil {
		return nil, fmt.Errorf("transfer: %w", err)
	}
	final := offerOf(m, plans, sink)
	total := final.Bytes
	res := &ReceiveResult{Resumed: final.Resume, Here: final.Here, HereBytes: final.HereBytes}
	done := final.Resume + final.HereBytes
	if opts.Progress != nil { // the start: nothing moved yet
		opts.Progress(Progress{Done: done, Total: total})
	}
	var failures []error // local detail
	var reports []string // what the sender is told
	pp := newPipe()
	for i, e := range m.Entries {
		if e.Dir {
			if err := sink.MakeDir(e); err != nil {
				return res, err
			}
			res.Dirs++
			continue
		}
		if plans[i].here {
			continue
		}
		n, fatal, err := receiveFile(sink, conn, pp, e, offsets[i], plans[i].state, func(k int64) {
			done += k
			if opts.Progress != nil {
				opts.Progress(Progress{Done: done, Total: total, File: e.Path})
			}
		})
		res.Bytes += n
		if fatal {
			return res, err
		}
		if err != nil {
			failures = append(failures, err)
			reports = append(reports, report(e, err))
			continue
		}
		res.Files++
	}
	r := result{OK: len(failures) == 0, Error: joinReports(reports)}
	for _, err := range failures {
		if k := kindOf(err); !slices.Contains(r.Kinds, k) {
			r.Kinds = append(r.Kinds, k)
		}
	}
	if err := writeFrame(conn, r); err != nil {
		return res, fmt.Errorf("transfer: %w", err)
	}
	if !r.OK {
		return res, errors.Join(failures...)
	}
	return res, nil
}

// receiveFile receives one file into sink: the bytes from off on (the
// hash of the ones before it, which matched the sender's, in state), then
// the sender's SHA-256 of the whole file, which must match for the sink
// to commit it; a file whose offset is its size (a complete part file
// whose hash matched the sender's, or an empty file) has neither. The stream is read in
// one goroutine while the caller hashes and writes. fatal reports an
// error after which the stream is out of step (the file's bytes were not
// all read) or the sink can take no more.
func receiveFile(sink Sink, conn io.Reader, p *pipe, e Entry, off int64, state []byte, progress func(int64)) (n int64, fatal bool, err error) {
	h, err := resumeHash(state)
	if err != nil {
		return 0, true, fmt.Errorf("transfer: %w", err)
	}
	w, err := sink.Create(e, off)
	if err != nil {
		return 0, true, err
	}
	if off < e.Size {
		n, err = p.copy(e.Size-off, readFull(conn), func(b []byte) error {
			h.Write(b)
			if _, err := w.Write(b); err != nil {
				return err
			}
			progress(int64(len(b)))
			return nil
		})
		var sum [sha256.Size]byte
		if err == nil {
			if _, err = io.ReadFull(conn, sum[:]); err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
		}
		if err != nil {
			return n, true, abort(w, fmt.Errorf("%w: %s: %d of %d bytes received (%w)", ErrIncomplete, Quote(e.Path), off+n, e.Size, err))
		}
		if subtle.ConstantTimeCompare(h.Sum(nil), sum[:]) != 1 {
			err := fmt.Errorf("%w: %s", ErrIntegrity, Quote(e.Path))
			if aerr := w.Abort(err); aerr != nil {
				err = errors.Join(err, aerr)
			}
			return n, false, err
		}
	}
	if err := w.Commit(); err != nil {
		return n, errors.Is(err, ErrDiskFull) || errors.Is(err, ErrIncomplete), err
	}
	return n, false, nil
}

// offerOf is what the user is shown of m, given what is here.
func offerOf(m *Manifest, plans []planned, sink Sink) *Offer {
	var resume, hereBytes int64
	var hereFiles int
	for _, p := range plans {
		if p.here {
			hereFiles++
			hereBytes += p.have
		} else {
			resume += p.have
		}
	}
	files, ndirs, total := m.Totals()
	offer := &Offer{Manifest: m, Files: files, Dirs: ndirs, Bytes: total, Resume: resume,
		Here: hereFiles, HereBytes: hereBytes, Need: total - resume - hereBytes, Free: sink.Free()}
	if offer.Free < 0 {
		offer.Free = -1
	}
	return offer
}
