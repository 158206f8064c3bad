package transfer

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
)

// readManifest reads the manifest frame from r and checks it while it
// decodes: the entries array is walked one entry at a time, and the entry
// count, every name, the sizes and the running total are checked as each
// entry arrives, so a hostile frame is refused after at most MaxEntries
// entries and never costs more memory than the entries that are allowed.
// On a refused manifest the rest of the frame is read and discarded, so
// that the decision frame that follows reaches the sender.
func readManifest(r io.Reader) (*Manifest, error) {
	n, err := readFrameHeader(r, MaxFrameSize)
	if err != nil {
		return nil, err
	}
	lr := &io.LimitedReader{R: r, N: int64(n)}
	m, _, err := decodeManifest(lr, int64(n))
	if err != nil {
		if _, cerr := io.Copy(io.Discard, lr); cerr != nil {
			return nil, errors.Join(err, cerr)
		}
		return nil, err
	}
	if lr.N != 0 {
		return nil, fmt.Errorf("%w: trailing data in a frame", ErrProtocol)
	}
	return m, nil
}

// decodeManifest decodes and checks a manifest from r (the frame's
// content). work counts the bytes the nesting check hashed and compared,
// so tests can see that checking is linear in the input.
//
// size is the frame's length: the entries and the maps are allocated once,
// for as many entries as a frame of that size can hold (an entry takes at
// least minEntryJSON bytes) and at most MaxEntries.
func decodeManifest(r io.Reader, size int64) (m *Manifest, work int64, err error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	bad := func(format string, a ...any) (*Manifest, int64, error) {
		return nil, 0, fmt.Errorf("%w: "+format, append([]any{ErrBadManifest}, a...)...)
	}
	if err := expectDelim(dec, '{'); err != nil {
		return nil, 0, err
	}
	capacity := int(min(size/minEntryJSON+1, MaxEntries))
	m = &Manifest{Entries: make([]Entry, 0, capacity)}
	c := newChecker(capacity)
	var haveProtocol, haveEntries bool
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, 0, fmt.Errorf("%w: %v", ErrProtocol, err)
		}
		switch tok {
		case "protocol":
			if haveProtocol {
				return bad("two protocol fields")
			}
			haveProtocol = true
			if err := dec.Decode(&m.Protocol); err != nil {
				return nil, 0, fmt.Errorf("%w: %v", ErrProtocol, err)
			}
			if m.Protocol != protocolHeader {
				p := m.Protocol
				if len(p) > 64 {
					p = p[:64] + "…"
				}
				return bad("unknown protocol %s", Quote(p))
			}
		case "entries":
			if haveEntries {
				return bad("two entries fields")
			}
			haveEntries = true
			if err := expectDelim(dec, '['); err != nil {
				return nil, 0, err
			}
			for dec.More() {
				if len(m.Entries) == MaxEntries {
					return bad("more than %d entries", MaxEntries)
				}
				var e Entry
				if err := dec.Decode(&e); err != nil {
					return nil, 0, fmt.Errorf("%w: entry %d: %v", ErrProtocol, len(m.Entries), err)
				}
				if err := c.add(e, len(m.Entries)); err != nil {
					return nil, 0, err
				}
				m.Entries = append(m.Entries, e)
			}
			if err := expectDelim(dec, ']'); err != nil {
				return nil, 0, err
			}
		default:
			s, _ := tok.(string)
			if len(s) > 64 {
				s = s[:64] + "…"
			}
			return nil, 0, fmt.Errorf("%w: unknown field %s in the manifest", ErrProtocol, Quote(s))
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return nil, 0, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, 0, fmt.Errorf("%w: trailing data in a frame", ErrProtocol)
	}
	if !haveProtocol {
		return bad("no protocol field")
	}
	if len(m.Entries) == 0 {
		return bad("no entries (1 to %d allowed)", MaxEntries)
	}
	if err := c.nesting(m.Entries); err != nil {
		return nil, 0, err
	}
	return m, c.work, nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("%w: expected %q in the manifest", ErrProtocol, want)
	}
	return nil
}

// checker checks manifest entries as they arrive.
type checker struct {
	kinds map[string]bool // path → is a directory
	// fileHashes holds the seeded hash of every file's path: a cheap,
	// collision-resistant filter in front of kinds for the nesting check.
	fileHashes map[uint64]struct{}
	seed       maphash.Seed
	total      int64
	work       int64
}

// minEntryJSON is the length of the shortest entry: {"path":"a","dir":true}
// and a comma.
const minEntryJSON = 24

func newChecker(capacity int) *checker {
	return &checker{kinds: make(map[string]bool, capacity), fileHashes: make(map[uint64]struct{}, capacity), seed: maphash.MakeSeed()}
}

// add checks one entry (the i-th) against the limits and the entries
// before it. It costs time linear in the length of the entry.
func (c *checker) add(e Entry, i int) error {
	if err := CheckName(e.Path); err != nil {
		return err
	}
	if _, dup := c.kinds[e.Path]; dup {
		return fmt.Errorf("%w: %s appears twice", ErrBadManifest, Quote(e.Path))
	}
	if e.Dir {
		if e.Size != 0 || e.Exec {
			return fmt.Errorf("%w: directory %s with file fields", ErrBadManifest, Quote(e.Path))
		}
	} else {
		if e.Size < 0 || e.Size > MaxFileSize {
			return fmt.Errorf("%w: entry %d has size %d (0 to %d allowed)", ErrBadManifest, i, e.Size, int64(MaxFileSize))
		}
		// Both are at most MaxTotalSize (2^50): the sum cannot overflow.
		c.total += e.Size
		if c.total > MaxTotalSize {
			return fmt.Errorf("%w: more than %d bytes in all", ErrBadManifest, int64(MaxTotalSize))
		}
		c.fileHashes[maphash.String(c.seed, e.Path)] = struct{}{}
	}
	c.kinds[e.Path] = e.Dir
	return nil
}

// nesting checks that no entry sits inside a path declared as a file,
// whatever the order of the entries. Each path is hashed once, prefix by
// prefix (maphash is streaming, so the hash of every ancestor falls out
// of one pass); only a prefix whose hash matches a file's is compared as
// a string, and a real match ends the check. The cost is linear in the
// total length of the paths.
func (c *checker) nesting(entries []Entry) error {
	if p, file, ok := c.nested(entries); ok {
		return fmt.Errorf("%w: %s is inside the file %s", ErrBadManifest, Quote(p), Quote(file))
	}
	return nil
}

// nested finds an entry p inside a path declared as a file.
func (c *checker) nested(entries []Entry) (p, file string, ok bool) {
	var h maphash.Hash
	h.SetSeed(c.seed)
	var hashes []uint64
	for _, e := range entries {
		p := e.Path
		hashes = prefixHashes(&h, p, hashes)
		c.work += int64(len(p))
		for _, sum := range hashes {
			if _, ok := c.fileHashes[sum]; !ok {
				continue
			}
			// A candidate: find which prefix it was, and compare.
			for i := 0; i < len(p); i++ {
				if p[i] != '/' {
					continue
				}
				c.work += int64(i)
				if isDir, ok := c.kinds[p[:i]]; ok && !isDir && maphash.String(c.seed, p[:i]) == sum {
					return p, p[:i], true
				}
			}
		}
	}
	return "", "", false
}

// prefixHashes is the hash of every proper ancestor of p ("a", "a/b" for
// "a/b/c"), computed in one pass.
func prefixHashes(h *maphash.Hash, p string, out []uint64) []uint64 {
	h.Reset()
	out = out[:0]
	start := 0
	for i := 0; i < len(p); i++ {
		if p[i] == '/' {
			h.WriteString(p[start:i])
			start = i
			out = append(out, h.Sum64())
		}
	}
	return out
}
