package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sp2p/sp2p/discovery"
	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/internal/safefile"
	"github.com/sp2p/sp2p/session"
)

// The pairwise secrets of known peers, for finding each other on a LAN
// (SECURITY.md, "LAN discovery and short codes"): the file lan_pairing
// next to the identity, one "ID SECRET" line per peer (SECRET in 64 hex
// digits), private like the identity file.
const (
	pairingFile     = "lan_pairing"
	pairingLabel    = "lan pairing"
	maxPairingFile  = 1 << 20
	maxPairingLines = 4096
)

var errPairingFile = errors.New("LAN pairing file")

func (a *app) pairingPath() (string, error) {
	p, err := a.idPath()
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(p), pairingFile), nil
}

// readPairings reads the pairing file; a missing one is empty.
func readPairings(path string) (map[identity.ID][]byte, error) {
	out := map[identity.ID][]byte{}
	b, err := safefile.ReadFile(path, safefile.Policy{Max: maxPairingFile, Private: true, Strict: true})
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", errPairingFile, path, err)
	}
	defer clear(b)
	return parsePairings(path, b)
}

// parsePairings reads the pairing file's contents b (path names it in
// errors).
func parsePairings(path string, b []byte) (map[identity.ID][]byte, error) {
	out := map[identity.ID][]byte{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 4096)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if len(out) >= maxPairingLines {
			return nil, fmt.Errorf("%w %s: more than %d peers", errPairingFile, path, maxPairingLines)
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("%w %s, line %d: want ID SECRET", errPairingFile, path, n)
		}
		id, err := identity.ParseID(f[0])
		if err != nil {
			return nil, fmt.Errorf("%w %s, line %d: %w", errPairingFile, path, n, err)
		}
		s, err := hex.DecodeString(f[1])
		if err != nil || len(s) != discovery.SecretSize {
			return nil, fmt.Errorf("%w %s, line %d: the secret is not %d hex digits", errPairingFile, path, n, 2*discovery.SecretSize)
		}
		out[id] = s
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w %s: %w", errPairingFile, path, err)
	}
	return out, nil
}

func writePairings(path string, m map[identity.ID][]byte) error {
	var b bytes.Buffer
	b.WriteString("# sp2p: secrets for finding known peers on a LAN; keep this file private\n")
	ids := make([]string, 0, len(m))
	byText := map[string][]byte{}
	for id, s := range m {
		ids = append(ids, id.String())
		byText[id.String()] = s
	}
	sort.Strings(ids)
	for _, id := range ids {
		fmt.Fprintf(&b, "%s %s\n", id, hex.EncodeToString(byText[id]))
	}
	defer clear(b.Bytes())
	return safefile.WriteAtomic(path, b.Bytes(), 0o600, true)
}

// pairingSecret returns the stored secret shared with id, or nil.
func (a *app) pairingSecret(id identity.ID) ([]byte, error) {
	path, err := a.pairingPath()
	if err != nil {
		return nil, err
	}
	m, err := readPairings(path)
	if err != nil {
		return nil, err
	}
	return m[id], nil
}

// rememberPairing keeps the secret exported from session s, and stores it
// when the peer is pinned (now, or later by savePeer through
// storePairing): the next time, the two find each other on a LAN.
func (a *app) rememberPairing(f *connFlags, s *session.Session, peers *identity.Peers) {
	secret, err := s.ExportSecret(pairingLabel, discovery.SecretSize)
	if err != nil {
		return
	}
	f.pairing = &pendingPairing{peer: s.Peer(), secret: secret}
	if _, known := peers.LookupID(s.Peer()); known {
		a.storePairing(f, s.Peer())
	}
}

type pendingPairing struct {
	peer   identity.ID
	secret []byte
}

// storePairing writes the secret of the session with id, if there is one.
func (a *app) storePairing(f *connFlags, id identity.ID) {
	p := f.pairing
	if p == nil || p.peer != id {
		return
	}
	path, err := a.pairingPath()
	if err != nil {
		return
	}
	m, err := readPairings(path)
	if err != nil {
		a.warnf("not keeping the LAN pairing with this peer: %v", err)
		return
	}
	m[id] = p.secret
	if err := writePairings(path, m); err != nil {
		a.warnf("not keeping the LAN pairing with this peer: %v", err)
	}
}
