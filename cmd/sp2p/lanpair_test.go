package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/internal/safefile"
)

func testID(t testing.TB) identity.ID {
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return id.ID()
}

// The pairing file round-trips, is written 0600, and is refused when
// group or others can read it (it holds secrets, like the identity file),
// when it is malformed, and when it is too large.
func TestPairingFileChecks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.Chmod(dir, 0o700)
	path := filepath.Join(dir, pairingFile)
	id := testID(t)
	secret := bytes.Repeat([]byte{7}, 32)
	if err := writePairings(path, map[identity.ID][]byte{id: secret}); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode().Perm())
	}
	m, err := readPairings(path)
	if err != nil || !bytes.Equal(m[id], secret) {
		t.Fatalf("read back: %v %x", err, m[id])
	}
	os.Chmod(path, 0o640)
	if _, err := readPairings(path); !errors.Is(err, safefile.ErrUnsafe) {
		t.Fatalf("a group-readable pairing file: %v", err)
	}
	os.Chmod(path, 0o600)
	for what, text := range map[string]string{
		"one field":    id.String() + "\n",
		"short secret": id.String() + " 0707\n",
		"not hex":      id.String() + " " + strings.Repeat("zz", 32) + "\n",
		"bad ID":       "sp2p1nothing " + strings.Repeat("07", 32) + "\n",
	} {
		if _, err := parsePairings(path, []byte(text)); !errors.Is(err, errPairingFile) {
			t.Errorf("%s: %v", what, err)
		}
	}
	big := bytes.Repeat([]byte("#"), maxPairingFile+1)
	os.WriteFile(path, big, 0o600)
	if _, err := readPairings(path); !errors.Is(err, safefile.ErrTooLarge) {
		t.Fatalf("too large: %v", err)
	}
	if m, err := readPairings(filepath.Join(dir, "missing")); err != nil || len(m) != 0 {
		t.Fatalf("a missing file: %v", err)
	}
}

func FuzzPairingFile(f *testing.F) {
	id := testID(f)
	f.Add([]byte(id.String() + " " + strings.Repeat("07", 32) + "\n# comment\n\n"))
	f.Add([]byte("x y z\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parsePairings("f", b)
		if err != nil {
			if !errors.Is(err, errPairingFile) {
				t.Fatalf("error %v", err)
			}
			return
		}
		for _, s := range m {
			if len(s) != 32 {
				t.Fatalf("secret of %d bytes", len(s))
			}
		}
	})
}
