package identity

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// FuzzKnownPeers parses known_peers contents: it never panics; what it
// accepts has valid, unique names and usable (not weak) IDs, and writing
// the lines back gives a file that parses to the same peers.
func FuzzKnownPeers(f *testing.F) {
	a, b := fixedIdentity(f, 1).ID(), fixedIdentity(f, 2).ID()
	f.Add([]byte("# sp2p known peers\nalice " + a.String() + "\nbob " + strings.ToUpper(b.String()) + "  # phone\n\n"))
	f.Add([]byte("alice " + a.String() + "\nalice " + b.String() + "\n"))
	f.Add([]byte("mallory sp2p1qyqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq46zsqd\n"))
	f.Add([]byte("-x " + a.String() + "\n"))
	f.Add([]byte("a\tb c\r\n#\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lines, err := parsePeers(data)
		if err != nil {
			if !strings.Contains(err.Error(), ":") && !strings.HasPrefix(err.Error(), " ") {
				t.Fatalf("error without a line number: %v", err)
			}
			return
		}
		var out bytes.Buffer
		seen := map[string]bool{}
		var peers []Peer
		for _, l := range lines {
			if l.name == "" {
				out.WriteString(l.raw + "\n")
				continue
			}
			if err := CheckPeerName(l.name); err != nil {
				t.Fatalf("accepted name %q: %v", l.name, err)
			}
			if seen[l.name] {
				t.Fatalf("name %q twice", l.name)
			}
			seen[l.name] = true
			if err := l.id.Check(); err != nil {
				t.Fatalf("accepted ID %x: %v", l.id, err)
			}
			peers = append(peers, Peer{l.name, l.id})
			out.WriteString(l.name + " " + l.id.String() + "\n")
		}
		again, err := parsePeers(out.Bytes())
		if err != nil {
			t.Fatalf("rewritten file refused: %v\n%q", err, out.Bytes())
		}
		var peers2 []Peer
		for _, l := range again {
			if l.name != "" {
				peers2 = append(peers2, Peer{l.name, l.id})
			}
		}
		if len(peers) != len(peers2) {
			t.Fatalf("%d peers, %d after rewriting", len(peers), len(peers2))
		}
		for i := range peers {
			if peers[i] != peers2[i] {
				t.Fatalf("peer %d changed: %v, %v", i, peers[i], peers2[i])
			}
		}
	})
}

var errFuzzNoPassphrase = errors.New("fuzz: no passphrase")

// FuzzIdentityFile parses identity files and loads the unencrypted ones.
// It never runs scrypt: for an encrypted file the passphrase callback
// fails, which comes after the header and work-factor checks. It checks
// that an accepted encrypted file never asks for more than MaxWorkFactor,
// that a loaded key matches the public-id header, and that no error but
// the sentinels' escapes.
func FuzzIdentityFile(f *testing.F) {
	id := fixedIdentity(f, 7)
	f.Add([]byte(fileMagic + "\npublic-id: " + id.ID().String() + "\nprotection: " + protNone + "\nsecret-key: " + strings.Repeat("BwcH", 10) + "Bwc=\n"))
	f.Add([]byte(fileMagic + "\npublic-id: " + id.ID().String() + "\nprotection: age-scrypt\n\n-----BEGIN AGE ENCRYPTED FILE-----\nYWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IHNjcnlwdCBzYWx0IDE4Ci0tLSBtYWMK\n-----END AGE ENCRYPTED FILE-----\n"))
	f.Add([]byte(fileMagic + "\npublic-id: " + id.ID().String() + "\nprotection: age-scrypt\n\n-----BEGIN AGE ENCRYPTED FILE-----\nYWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IHNjcnlwdCBzYWx0IDIyCi0tLSBtYWMK\n-----END AGE ENCRYPTED FILE-----\n"))
	f.Add([]byte(fileMagic + "\npublic-id: " + id.ID().String() + "\nprotection: none\nsecret-key: AAAA\nsecret-key: BBBB\n"))
	f.Add([]byte(fileMagic + "\nprotection: none\n"))
	f.Add([]byte("sp2p-identity v2\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxIdentityFile {
			return
		}
		c, err := parseIdentityFile(data)
		if err != nil {
			return
		}
		if c.id.Check() != nil {
			t.Fatalf("accepted public-id %x", c.id)
		}
		if c.prot == Passphrase {
			wf, err := scryptWorkFactor(c.body)
			if err != nil || wf > MaxWorkFactor {
				t.Fatalf("accepted work factor %d (%v)", wf, err)
			}
		}
		ident, prot, err := c.load("fuzz", func() ([]byte, error) { return nil, errFuzzNoPassphrase })
		switch {
		case c.prot == Passphrase:
			if !errors.Is(err, errFuzzNoPassphrase) {
				t.Fatalf("encrypted file: %v, want the passphrase asked for", err)
			}
		case err != nil:
			if !errors.Is(err, ErrCorruptFile) {
				t.Fatalf("error without a sentinel: %v", err)
			}
		default:
			if prot != Unprotected || !ident.ID().Equal(c.id) {
				t.Fatalf("loaded %s (%v), header says %s", ident.ID(), prot, c.id)
			}
		}
	})
}
