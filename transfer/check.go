package transfer

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
)

// What the receiver already has, compared before anything is sent: the
// manifest carries no hashes (the sender offers at once, without reading
// its files first), so the receiver asks, for each file it could resume
// (a part file) or already holds (a file of that size at the name), for
// the SHA-256 of the sender's first bytes of it, as many as it has. The
// sender reads them and answers; the receiver compares with the hash of
// its own bytes, so its own files' hashes never leave it. Only a prefix
// that matched is resumed or skipped.

// query is the receiver's question: the SHA-256 of the first Bytes bytes
// of entries.
type query struct {
	Query []have `json:"query"`
}

type have struct {
	Entry int   `json:"entry"`
	Bytes int64 `json:"bytes"`
}

// match is the sender's answer: for each item of the query, in order,
// the SHA-256 (hex) of its first Bytes bytes.
type match struct {
	SHA256 []string `json:"sha256"`
}

// reply is the receiver's first frame as the sender reads it: a decision
// (accept present) or a query (query present), never both.
type reply struct {
	Accept  *bool   `json:"accept"`
	Reason  string  `json:"reason"`
	Offsets []int64 `json:"offsets"`
	Query   []have  `json:"query"`
}

// maxQueryFrame bounds a query for a manifest of n entries: at most one
// item per entry, of at most 42 bytes ({"entry":99999,"bytes":
// 1125899906842624} and a comma).
func maxQueryFrame(n int) uint32 { return uint32(1024 + 48*n) }

// maxMatchFrame bounds the answer to a query of n items (64 hex digits,
// two quotes and a comma each).
func maxMatchFrame(n int) uint32 { return uint32(1024 + 67*n) }

// checkQuery checks a query against m: items in increasing entry order
// (so each at most once), files only, 1 to the file's size bytes.
func checkQuery(q []have, m *Manifest) error {
	if len(q) == 0 {
		return fmt.Errorf("%w: an empty query", ErrProtocol)
	}
	last := -1
	for _, h := range q {
		switch {
		case h.Entry <= last || h.Entry >= len(m.Entries):
			return fmt.Errorf("%w: a query about entry %d (after %d, of %d)", ErrProtocol, h.Entry, last, len(m.Entries))
		case m.Entries[h.Entry].Dir:
			return fmt.Errorf("%w: a query about the directory %s", ErrProtocol, Quote(m.Entries[h.Entry].Path))
		case h.Bytes < 1 || h.Bytes > m.Entries[h.Entry].Size:
			return fmt.Errorf("%w: a query about %d bytes of %s (1 to %d)", ErrProtocol, h.Bytes, Quote(m.Entries[h.Entry].Path), m.Entries[h.Entry].Size)
		}
		last = h.Entry
	}
	return nil
}

// answer hashes the first bytes of each queried file from src. It
// returns the hashes, the offset each item allows (its bytes), and the
// hash state after each prefix shorter than its file (to continue from
// when resuming).
func answer(q []have, m *Manifest, src Source) (sums []string, allowed map[int]int64, states map[int][]byte, err error) {
	sums = make([]string, len(q))
	allowed = map[int]int64{}
	states = map[int][]byte{}
	for k, item := range q {
		e := m.Entries[item.Entry]
		h, err := hashPrefix(src, item.Entry, e, item.Bytes)
		if err != nil {
			return nil, nil, nil, err
		}
		sums[k] = hex.EncodeToString(h.Sum(nil))
		allowed[item.Entry] = item.Bytes
		if item.Bytes < e.Size {
			st, err := h.(encoding.BinaryMarshaler).MarshalBinary()
			if err != nil {
				return nil, nil, nil, err
			}
			states[item.Entry] = st
		}
	}
	return sums, allowed, states, nil
}

// hashPrefix hashes the first n bytes of entry i of src.
func hashPrefix(src Source, i int, e Entry, n int64) (hash.Hash, error) {
	r, err := src.Open(i, e, 0)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	h := sha256.New()
	got, err := io.CopyBuffer(h, io.LimitReader(r, n), make([]byte, 64<<10))
	if err == nil && got < n {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, fmt.Errorf("transfer: reading %s to compare with what the receiver has: %w", Quote(e.Path), err)
	}
	return h, nil
}

// resumeHash is a SHA-256 that continues from a saved state (nil: from
// the start).
func resumeHash(state []byte) (hash.Hash, error) {
	h := sha256.New()
	if state != nil {
		if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// readReply reads the receiver's first frame about m: a query (checked by
// checkQuery) or a decision.
func readReply(r io.Reader, m *Manifest) (*reply, error) {
	var rep reply
	limit := max(maxDecisionFrame(len(m.Entries)), maxQueryFrame(len(m.Entries)))
	if err := readFrame(r, &rep, limit); err != nil {
		return nil, fmt.Errorf("transfer: waiting for the receiver's decision: %w", err)
	}
	if rep.Query != nil {
		if rep.Accept != nil || rep.Reason != "" || rep.Offsets != nil {
			return nil, fmt.Errorf("%w: a query with a decision", ErrProtocol)
		}
		if err := checkQuery(rep.Query, m); err != nil {
			return nil, err
		}
		return &rep, nil
	}
	if rep.Accept == nil {
		return nil, fmt.Errorf("%w: a decision without accept", ErrProtocol)
	}
	return &rep, nil
}

// ask sends the query q, reads the sender's hashes and compares each (in
// constant time) with the receiver's own (mine, raw, per item).
func ask(conn io.ReadWriter, q []have, mine [][]byte) ([]bool, error) {
	if err := writeFrame(conn, query{Query: q}); err != nil {
		return nil, fmt.Errorf("transfer: %w", err)
	}
	var a match
	if err := readFrame(conn, &a, maxMatchFrame(len(q))); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: the sender stopped before it compared what is here (%w)", ErrIncomplete, err)
		}
		return nil, fmt.Errorf("transfer: waiting for the sender to compare what is here: %w", err)
	}
	if len(a.SHA256) != len(q) {
		return nil, fmt.Errorf("%w: %d answers to %d questions", ErrProtocol, len(a.SHA256), len(q))
	}
	ok := make([]bool, len(q))
	for k, sum := range a.SHA256 {
		theirs, err := hex.DecodeString(sum)
		if err != nil || len(theirs) != sha256.Size {
			return nil, fmt.Errorf("%w: an answer that is not a SHA-256", ErrProtocol)
		}
		ok[k] = subtle.ConstantTimeCompare(theirs, mine[k]) == 1
	}
	return ok, nil
}
