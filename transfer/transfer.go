// Package transfer sends files and directory trees over an sp2p session's
// byte stream, with an offer the receiver confirms first, SHA-256 integrity
// per file, safe writes (temporary names, renamed only after the hash
// matches), resumption of interrupted transfers, and strict checks of every
// name the sender supplies.
//
// The protocol, over any ordered, reliable byte stream (a session.Conn):
//
//  1. sender → receiver: the manifest frame (every entry's path, kind,
//     size, executable bit and SHA-256);
//  2. receiver → sender: the decision frame (accept or refuse, and for each
//     file the offset to resume from);
//  3. sender → receiver: the bytes of every file from its offset, in
//     manifest order, back to back;
//  4. receiver → sender: the result frame.
//
// A frame is a 4-byte big-endian length and a JSON object. SECURITY.md
// lists the limits.
package transfer

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of the protocol.
const (
	MaxFrameSize   = 16 << 20
	MaxEntries     = 100_000
	MaxPathLen     = 4096
	MaxNameLen     = 255
	MaxFileSize    = 1 << 50
	protocolHeader = "sp2p-transfer v1"
)

// Errors.
var (
	ErrBadManifest = errors.New("transfer: invalid offer from the sender")
	ErrUnsafeName  = errors.New("transfer: unsafe name")
	ErrDeclined    = errors.New("transfer: declined by the receiver")
	ErrExists      = errors.New("transfer: file exists (use --overwrite to replace it)")
	ErrIntegrity   = errors.New("transfer: file content does not match its SHA-256")
	ErrIncomplete  = errors.New("transfer: interrupted")
	ErrProtocol    = errors.New("transfer: protocol error")
)

// Entry is one file or directory of a transfer.
type Entry struct {
	Path   string `json:"path"` // slash-separated, relative
	Dir    bool   `json:"dir,omitempty"`
	Size   int64  `json:"size,omitempty"`
	Exec   bool   `json:"exec,omitempty"`
	SHA256 string `json:"sha256,omitempty"` // hex, files only
}

// Manifest is what the sender offers.
type Manifest struct {
	Protocol string  `json:"protocol"`
	Entries  []Entry `json:"entries"`
}

// Totals returns the number of files and directories and the bytes.
func (m *Manifest) Totals() (files, dirs int, bytes int64) {
	for _, e := range m.Entries {
		if e.Dir {
			dirs++
		} else {
			files++
			bytes += e.Size
		}
	}
	return
}

type decision struct {
	Accept  bool    `json:"accept"`
	Reason  string  `json:"reason,omitempty"`
	Offsets []int64 `json:"offsets,omitempty"` // per entry; 0 for directories
}

type result struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

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

// readFrame reads one frame into v: bounded, strict JSON, no trailing data.
func readFrame(r io.Reader, v any) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > MaxFrameSize {
		return fmt.Errorf("%w: frame of %d bytes exceeds %d", ErrProtocol, n, MaxFrameSize)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return err
	}
	return decodeStrict(b, v)
}

func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data in a frame", ErrProtocol)
	}
	return nil
}

// CheckName reports whether a peer-supplied path is safe to create under
// the output directory: relative, slash-separated, clean (no "." or ".."
// components, no empty ones), valid UTF-8 without control characters or
// backslashes, within the length limits.
func CheckName(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("%w: empty name", ErrUnsafeName)
	case len(p) > MaxPathLen:
		return fmt.Errorf("%w: name longer than %d bytes", ErrUnsafeName, MaxPathLen)
	case !utf8.ValidString(p):
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrUnsafeName, Quote(p))
	case strings.HasPrefix(p, "/"):
		return fmt.Errorf("%w: %s is an absolute path", ErrUnsafeName, Quote(p))
	case strings.ContainsRune(p, '\\'):
		return fmt.Errorf("%w: %s contains a backslash", ErrUnsafeName, Quote(p))
	}
	for _, r := range p {
		if unsafeRune(r) {
			return fmt.Errorf("%w: %s contains control or invisible formatting characters", ErrUnsafeName, Quote(p))
		}
	}
	for _, c := range strings.Split(p, "/") {
		switch {
		case c == "" || c == ".":
			return fmt.Errorf("%w: %s has an empty or '.' component", ErrUnsafeName, Quote(p))
		case c == "..":
			return fmt.Errorf("%w: %s has a '..' component", ErrUnsafeName, Quote(p))
		case len(c) > MaxNameLen:
			return fmt.Errorf("%w: a component of %s is longer than %d bytes", ErrUnsafeName, Quote(p), MaxNameLen)
		}
	}
	if path.Clean(p) != p {
		return fmt.Errorf("%w: %s is not a clean path", ErrUnsafeName, Quote(p))
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

// validate checks a received manifest before anything is written.
func (m *Manifest) validate() error {
	if m.Protocol != protocolHeader {
		return fmt.Errorf("%w: unknown protocol %s", ErrBadManifest, Quote(m.Protocol))
	}
	if len(m.Entries) == 0 || len(m.Entries) > MaxEntries {
		return fmt.Errorf("%w: %d entries (1 to %d allowed)", ErrBadManifest, len(m.Entries), MaxEntries)
	}
	kinds := make(map[string]bool, len(m.Entries)) // path → is directory
	for i, e := range m.Entries {
		if err := CheckName(e.Path); err != nil {
			return err
		}
		if _, dup := kinds[e.Path]; dup {
			return fmt.Errorf("%w: %s appears twice", ErrBadManifest, Quote(e.Path))
		}
		if e.Dir {
			if e.Size != 0 || e.SHA256 != "" || e.Exec {
				return fmt.Errorf("%w: directory %s with file fields", ErrBadManifest, Quote(e.Path))
			}
		} else {
			if e.Size < 0 || e.Size > MaxFileSize {
				return fmt.Errorf("%w: entry %d has size %d", ErrBadManifest, i, e.Size)
			}
			if h, err := hex.DecodeString(e.SHA256); err != nil || len(h) != 32 {
				return fmt.Errorf("%w: %s has no valid SHA-256", ErrBadManifest, Quote(e.Path))
			}
		}
		kinds[e.Path] = e.Dir
	}
	// No entry may sit inside a path that is declared as a file.
	for p := range kinds {
		for dir := path.Dir(p); dir != "."; dir = path.Dir(dir) {
			if isDir, ok := kinds[dir]; ok && !isDir {
				return fmt.Errorf("%w: %s is inside the file %s", ErrBadManifest, Quote(p), Quote(dir))
			}
		}
	}
	return nil
}

// Progress reports bytes moved so far.
type Progress struct {
	Done, Total int64
	File        string // the current file (sanitise before printing: use Quote)
}
