// Package transfer sends files and directory trees over an sp2p session's
// byte stream, with an offer the receiver confirms first, SHA-256 integrity
// per file, safe writes (temporary names, renamed only after the hash
// matches), resumption of interrupted transfers, and strict checks of every
// name the sender supplies.
//
// The protocol, over any ordered, reliable byte stream (a session.Conn):
//
//  1. sender → receiver: the manifest frame (every entry's path, kind,
//     size and executable bit; no hashes, so it goes out before any file
//     is read);
//  2. receiver → sender, if the receiver has some of the files already
//     (part files to resume, files of the same size at the names), once
//     its user has accepted the offer: the query frame, and the sender
//     answers with the SHA-256 of as many of its first bytes of each,
//     which the receiver compares with its own;
//  3. receiver → sender: the decision frame (accept or refuse, and for each
//     file the offset to resume from, only where the hashes matched; an
//     offset equal to the file's size means the receiver has it all, and
//     nothing of it is sent);
//  4. sender → receiver: the bytes of every file from its offset, each
//     followed by the SHA-256 of the whole file, computed as it is read,
//     in manifest order, back to back;
//  5. receiver → sender: the result frame.
//
// A frame is a 4-byte big-endian length and a JSON object. SECURITY.md
// lists the limits.
//
// The sender's files come from a Source and the receiver's go into a Sink.
// BuildManifest and Receive use the filesystem (*Sources; the output
// directory); BuildManifestFrom (files as a name, a size and a reader
// from an offset) and ReceiveTo with a MemorySink work without one, as in
// a browser. Either end speaks the same protocol with the other's kind,
// and the receiver makes every check itself, whatever its Sink.
package transfer

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of the protocol. Every limit is inclusive: a value equal to the
// limit is allowed, one above it is refused.
const (
	MaxFrameSize = 16 << 20 // bytes in a manifest frame
	MaxEntries   = 100_000  // entries (files and directories) in a manifest
	MaxPathLen   = 4096     // bytes in a path
	MaxNameLen   = 255      // bytes in one path component
	MaxPathDepth = 64       // components in a path ("a/b/c" has 3)
	MaxFileSize  = 1 << 50  // bytes in one file (1 PiB)
	MaxTotalSize = 1 << 50  // bytes in all the files of a manifest (1 PiB)
	MaxReasonLen = 512      // bytes in a decision frame's reason
	MaxResultLen = 4096     // bytes in a result frame's error

	// maxResultFrame bounds the result frame (its error, JSON-escaped).
	maxResultFrame = 1024 + 6*MaxResultLen + 128
	protocolHeader = "sp2p-transfer v2"
)

// maxDecisionFrame bounds the decision frame for a manifest of n entries:
// one offset (at most 20 characters and a comma) per entry, plus the
// JSON-escaped reason and the field names.
func maxDecisionFrame(n int) uint32 {
	return uint32(1024 + 6*MaxReasonLen + 21*n)
}

// Errors.
var (
	ErrBadManifest = errors.New("transfer: invalid offer from the sender")
	ErrUnsafeName  = errors.New("transfer: unsafe name")
	ErrDeclined    = errors.New("transfer: declined by the receiver")
	ErrExists      = errors.New("transfer: file exists")
	ErrIntegrity   = errors.New("transfer: file content does not match its SHA-256")
	ErrIncomplete  = errors.New("transfer: interrupted")
	ErrProtocol    = errors.New("transfer: protocol error")
	// ErrNoSpace: the offer does not fit in the free space of the output
	// directory's filesystem, or of a Sink (the error is a *SpaceError).
	ErrNoSpace = errors.New("transfer: not enough free space")
	// ErrDiskFull: the disk filled up while a file was being written.
	ErrDiskFull = errors.New("transfer: disk full")
	// ErrChanged: a file the sender offered was replaced, moved or
	// modified before it was sent; nothing of it was sent.
	ErrChanged = errors.New("transfer: file changed after it was offered")
)

// SpaceError is the error of an offer that does not fit: Need bytes are
// still to be written (the offer minus what can be resumed), Free are
// available on the filesystem of Dir (or, with Dir empty, in the Sink of
// ReceiveTo, such as what is left of a MemorySink's cap).
// errors.Is(err, ErrNoSpace) holds.
type SpaceError struct {
	Dir        string
	Need, Free int64
}

func (e *SpaceError) Error() string {
	if e.Dir == "" {
		return fmt.Sprintf("%v in the receiver's store: the offer needs %d more bytes, %d are free", ErrNoSpace, e.Need, e.Free)
	}
	return fmt.Sprintf("%v on %s: the offer needs %d more bytes, %d are free", ErrNoSpace, e.Dir, e.Need, e.Free)
}

// Is makes errors.Is(err, ErrNoSpace) true.
func (e *SpaceError) Is(target error) bool { return target == ErrNoSpace }

// NameError is the error of a name the receiver refuses: its problem is
// described in Problem. errors.Is(err, ErrUnsafeName) holds, unless Err
// says otherwise (ErrExists for a name that is taken).
type NameError struct {
	Name    string // as offered (use Quote to print it)
	Problem string
	Err     error // ErrUnsafeName or ErrExists
}

func (e *NameError) Error() string {
	name := e.Name
	if len(name) > 200 {
		name = name[:200] + "…"
	}
	return fmt.Sprintf("%v: %s %s", e.Err, Quote(name), e.Problem)
}

func (e *NameError) Unwrap() error { return e.Err }

func unsafeName(name, problem string) error {
	return &NameError{Name: name, Problem: problem, Err: ErrUnsafeName}
}

// Entry is one file or directory of a transfer.
type Entry struct {
	Path string `json:"path"` // slash-separated, relative
	Dir  bool   `json:"dir,omitempty"`
	Size int64  `json:"size,omitempty"`
	Exec bool   `json:"exec,omitempty"`
}

// Manifest is what the sender offers.
type Manifest struct {
	Protocol string  `json:"protocol"`
	Entries  []Entry `json:"entries"`
}

// Totals returns the number of files and directories and the bytes. The
// sum saturates at math.MaxInt64 (a received manifest is at most
// MaxTotalSize).
func (m *Manifest) Totals() (files, dirs int, bytes int64) {
	for _, e := range m.Entries {
		if e.Dir {
			dirs++
			continue
		}
		files++
		if e.Size > 0 {
			if bytes > math.MaxInt64-e.Size {
				bytes = math.MaxInt64
			} else {
				bytes += e.Size
			}
		}
	}
	return
}

// Largest returns the n largest files of the manifest, largest first
// (files of the same size in manifest order), so that an offer cannot hide
// a big file among many small ones.
func (m *Manifest) Largest(n int) []Entry {
	var files []Entry
	for _, e := range m.Entries {
		if !e.Dir {
			files = append(files, e)
		}
	}
	sort.SliceStable(files, func(i, j int) bool { return files[i].Size > files[j].Size })
	if n < len(files) {
		files = files[:max(n, 0)]
	}
	return files
}

type decision struct {
	Accept  bool    `json:"accept"`
	Reason  string  `json:"reason,omitempty"`
	Offsets []int64 `json:"offsets,omitempty"` // per entry; 0 for directories; the size for a file the receiver has in full
}

type result struct {
	OK    bool     `json:"ok"`
	Error string   `json:"error,omitempty"`
	Kinds []string `json:"kinds,omitempty"` // what failed, each at most once: see resultKinds
}

// resultKinds are the kinds of failure a result frame names, and the
// sentinel each stands for on the sender's side.
var resultKinds = map[string]error{
	"integrity": ErrIntegrity,
	"exists":    ErrExists,
	"disk-full": ErrDiskFull,
	"write":     ErrIncomplete,
}

// kindOf is the result kind of a receiver's failure.
func kindOf(err error) string {
	switch {
	case errors.Is(err, ErrIntegrity):
		return "integrity"
	case errors.Is(err, ErrExists):
		return "exists"
	case errors.Is(err, ErrDiskFull):
		return "disk-full"
	}
	return "write"
}

// RemoteError is the receiver's report of files that failed, as the
// sender gets it: the report (offered names and categories only) and the
// sentinels of the kinds of failure (ErrIntegrity, ErrExists, ErrDiskFull,
// ErrIncomplete), so errors.Is works across the wire.
type RemoteError struct {
	Report string
	Kinds  []error
}

func (e *RemoteError) Error() string {
	return "transfer: the receiver reports: " + Quote(e.Report)
}

// Unwrap returns the kinds' sentinels.
func (e *RemoteError) Unwrap() []error { return e.Kinds }

func writeFrame(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if len(b) > MaxFrameSize {
		return fmt.Errorf("transfer: frame of %d bytes exceeds %d", len(b), MaxFrameSize)
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(b)))
	if _, err := w.Write(append(hdr[:], b...)); err != nil {
		return err
	}
	return nil
}

// readFrameHeader reads a frame's length and checks it against limit.
func readFrameHeader(r io.Reader, limit uint32) (uint32, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > limit {
		return 0, fmt.Errorf("%w: frame of %d bytes exceeds %d", ErrProtocol, n, limit)
	}
	return n, nil
}

// readFrame reads one frame of at most limit bytes into v: strict JSON,
// no trailing data.
func readFrame(r io.Reader, v any, limit uint32) error {
	n, err := readFrameHeader(r, limit)
	if err != nil {
		return err
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return err
	}
	return decodeStrict(b, v)
}

func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: trailing data in a frame", ErrProtocol)
	}
	return nil
}

// CheckName reports whether a peer-supplied path is safe to create under
// the output directory: relative, slash-separated, clean (no "." or ".."
// components, no empty ones), valid UTF-8 without control characters or
// backslashes, within the length and depth limits. Its cost is linear in
// the length of p. The error is a *NameError.
func CheckName(p string) error {
	switch {
	case p == "":
		return unsafeName(p, "is empty")
	case len(p) > MaxPathLen:
		return unsafeName(p, fmt.Sprintf("is longer than %d bytes", MaxPathLen))
	case !utf8.ValidString(p):
		return unsafeName(p, "is not valid UTF-8")
	case strings.HasPrefix(p, "/"):
		return unsafeName(p, "is an absolute path")
	case strings.ContainsRune(p, '\\'):
		return unsafeName(p, "contains a backslash")
	}
	for _, r := range p {
		if unsafeRune(r) {
			return unsafeName(p, "contains control or invisible formatting characters")
		}
	}
	depth := 0
	for c := range strings.SplitSeq(p, "/") {
		depth++
		switch {
		case c == "" || c == ".":
			return unsafeName(p, "has an empty or '.' component")
		case c == "..":
			return unsafeName(p, "has a '..' component")
		case len(c) > MaxNameLen:
			return unsafeName(p, fmt.Sprintf("has a component longer than %d bytes", MaxNameLen))
		case depth > MaxPathDepth:
			return unsafeName(p, fmt.Sprintf("has more than %d components", MaxPathDepth))
		}
	}
	return nil
}

// Quote renders a peer-supplied name for a terminal: printable characters
// as they are, anything else escaped, so a name cannot inject terminal
// escape sequences.
func Quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == utf8.RuneError:
			b.WriteString(`\ufffd`)
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x100 && unsafeRune(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// unsafeRune reports control characters and invisible formatting
// characters (Unicode Cf, such as right-to-left overrides that make
// "gpj.exe" look like "exe.jpg"), and line and paragraph separators.
func unsafeRune(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029 || unicode.Is(unicode.Cf, r)
}

// Progress reports bytes moved so far. The first report comes when the
// receiver has accepted, before any file byte moves: its Done is what the
// receiver already has (resumed and already-here files), so a rate counts
// from there and from that moment.
type Progress struct {
	Done, Total int64
	File        string // the current file (sanitise before printing: use Quote)
}
