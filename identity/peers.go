package identity

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sp2p/sp2p/internal/safefile"
)

// Limits of the known-peers file.
const (
	MaxPeerNameLen = 64
	maxPeersFile   = 4 << 20
)

// Errors of the known-peers store. Test for them with errors.Is.
var (
	ErrPeerConflict = errors.New("name is already bound to a different ID")
	ErrUnknownPeer  = errors.New("unknown peer")
	ErrPeerName     = errors.New("invalid peer name")
	ErrPeersFile    = errors.New("known-peers file is invalid")
)

// Peer is a known peer: a name the user chose, bound to an ID.
type Peer struct {
	Name string `json:"name"`
	ID   ID     `json:"id"`
}

// Peers is the known-peers store: a plain-text file, one "NAME ID" per line,
// with '#' comments and blank lines allowed, so that people can read and edit
// it by hand. Changes rewrite the file atomically and keep comments.
type Peers struct {
	path  string
	lines []peerLine
}

type peerLine struct {
	raw  string // the line as read, written back unchanged
	name string // "" for comments and blank lines
	id   ID
}

// OpenPeers reads the known-peers file at path. A missing file is an empty
// store; it is created on the first Add. A file over 4 MiB is refused from
// its size before it is read (ErrPeersFile, ErrFileTooLarge); a file that
// group or others can write, that another user owns, or whose directory
// group or others can write or another user owns is refused with
// ErrPermissions, as ssh's StrictModes would.
func OpenPeers(path string) (*Peers, error) {
	p := &Peers{path: path}
	if err := p.reload(); err != nil {
		return nil, err
	}
	return p, nil
}

// peersFilePolicy: at most 4 MiB, owned by the user (or root), not
// writable by group or others, in a directory only they can change.
var peersFilePolicy = safefile.Policy{Max: maxPeersFile, Strict: true}

func (p *Peers) reload() error {
	p.lines = nil
	data, err := safefile.ReadFile(p.path, peersFilePolicy)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case errors.Is(err, safefile.ErrTooLarge):
		return fmt.Errorf("identity: %w: %w", ErrPeersFile, err)
	case err != nil:
		return fmt.Errorf("identity: known peers: %w", err)
	}
	lines, err := parsePeers(data)
	if err != nil {
		return fmt.Errorf("identity: %w: %s:%w", ErrPeersFile, p.path, err)
	}
	p.lines = lines
	return nil
}

func parsePeers(data []byte) ([]peerLine, error) {
	var lines []peerLine
	seen := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxPeersFile)
	for n := 1; sc.Scan(); n++ {
		raw := sc.Text()
		text, _, _ := strings.Cut(raw, "#")
		fields := strings.Fields(text)
		if len(fields) == 0 {
			lines = append(lines, peerLine{raw: raw})
			continue
		}
		if len(fields) != 2 {
			return nil, fmt.Errorf("%d: want \"NAME ID\", found %d fields", n, len(fields))
		}
		if err := CheckPeerName(fields[0]); err != nil {
			return nil, fmt.Errorf("%d: %v", n, err)
		}
		id, err := ParseID(fields[1])
		if err != nil {
			return nil, fmt.Errorf("%d: %w", n, err)
		}
		if first, dup := seen[fields[0]]; dup {
			return nil, fmt.Errorf("%d: name %q is already used on line %d", n, fields[0], first)
		}
		seen[fields[0]] = n
		lines = append(lines, peerLine{raw: raw, name: fields[0], id: id})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf(" %v", err)
	}
	return lines, nil
}

// CheckPeerName reports whether name can name a known peer: 1 to 64
// characters from letters, digits, '.', '_' and '-', not starting with '-'.
func CheckPeerName(name string) error {
	if name == "" || len(name) > MaxPeerNameLen {
		return fmt.Errorf("%w: a name has 1 to %d characters", ErrPeerName, MaxPeerNameLen)
	}
	if name[0] == '-' {
		return fmt.Errorf("%w: a name cannot start with '-'", ErrPeerName)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: only letters, digits, '.', '_' and '-' are allowed", ErrPeerName)
		}
	}
	return nil
}

// Path returns the file the store reads and writes.
func (p *Peers) Path() string { return p.path }

// List returns the known peers in file order.
func (p *Peers) List() []Peer {
	var out []Peer
	for _, l := range p.lines {
		if l.name != "" {
			out = append(out, Peer{Name: l.name, ID: l.id})
		}
	}
	return out
}

// Lookup returns the ID bound to name.
func (p *Peers) Lookup(name string) (ID, bool) {
	for _, l := range p.lines {
		if l.name == name {
			return l.id, true
		}
	}
	return ID{}, false
}

// LookupID returns the first name bound to id.
func (p *Peers) LookupID(id ID) (string, bool) {
	for _, l := range p.lines {
		if l.name != "" && l.id.Equal(id) {
			return l.name, true
		}
	}
	return "", false
}

// Resolve turns what a user typed — a known peer's name or an ID — into an
// ID and, when known, its name.
func (p *Peers) Resolve(s string) (ID, string, error) {
	if id, ok := p.Lookup(s); ok {
		return id, s, nil
	}
	id, err := ParseID(s)
	if err != nil {
		if hasIDPrefix(s) {
			return ID{}, "", err
		}
		return ID{}, "", fmt.Errorf("identity: %w %q: not a known peer name nor an ID", ErrUnknownPeer, s)
	}
	name, _ := p.LookupID(id)
	return id, name, nil
}

// Add binds name to id and saves the file. Adding the same binding again is
// not an error. Binding a name that is already bound to a different ID fails
// with ErrPeerConflict: that is what a substituted key looks like, and the
// user must remove the old binding first if the change is genuine.
func (p *Peers) Add(name string, id ID) error {
	if err := CheckPeerName(name); err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	if err := id.Check(); err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	if err := p.reload(); err != nil {
		return err
	}
	if old, ok := p.Lookup(name); ok {
		if old.Equal(id) {
			return nil
		}
		return &PeerConflictError{Name: name, Pinned: old, Offered: id}
	}
	p.lines = append(p.lines, peerLine{raw: name + " " + id.String(), name: name, id: id})
	return p.save()
}

// PeerConflictError is Add's refusal to bind a name that is pinned to
// another ID: what a substituted key looks like. It wraps ErrPeerConflict.
type PeerConflictError struct {
	Name            string
	Pinned, Offered ID
}

func (e *PeerConflictError) Error() string {
	return fmt.Sprintf("identity: %v: %q is pinned to %s, not %s", ErrPeerConflict, e.Name, e.Pinned, e.Offered)
}

// Unwrap returns ErrPeerConflict.
func (e *PeerConflictError) Unwrap() error { return ErrPeerConflict }

// Remove deletes name's binding and saves the file.
func (p *Peers) Remove(name string) error {
	if err := p.reload(); err != nil {
		return err
	}
	for i, l := range p.lines {
		if l.name == name {
			p.lines = append(p.lines[:i], p.lines[i+1:]...)
			return p.save()
		}
	}
	return fmt.Errorf("identity: %w %q", ErrUnknownPeer, name)
}

func (p *Peers) save() error {
	var b bytes.Buffer
	if len(p.lines) == 0 || !strings.HasPrefix(p.lines[0].raw, "#") {
		b.WriteString("# sp2p known peers: one \"NAME ID\" per line; '#' starts a comment.\n")
	}
	for _, l := range p.lines {
		b.WriteString(l.raw)
		b.WriteByte('\n')
	}
	if err := os.MkdirAll(filepath.Dir(p.path), 0o700); err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	if err := safefile.WriteAtomic(p.path, b.Bytes(), 0o600, true); err != nil {
		return fmt.Errorf("identity: writing %s: %w", p.path, err)
	}
	return p.reload()
}
