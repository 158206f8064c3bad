package identity

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age/armor"
	"filippo.io/edwards25519"
)

// smallOrderPoints are the canonical encodings of the eight points of
// small order (orders 1, 2, 4, 4, 8, 8, 8, 8), as listed in Chalkias et
// al., "Taming the many EdDSAs" (2020), table 5.
var smallOrderPoints = []string{
	"0100000000000000000000000000000000000000000000000000000000000000", // identity
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 2
	"0000000000000000000000000000000000000000000000000000000000000000", // order 4
	"0000000000000000000000000000000000000000000000000000000000000080", // order 4
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", // order 8
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85", // order 8
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// nonCanonical returns the encodings with y >= p = 2^255 - 19 (y = p + k,
// k = 0..18) and both sign bits, and the encodings of x = 0 with the sign
// bit set (y = 1 and y = -1), that decode to a curve point.
func nonCanonical(t testing.TB) [][]byte {
	var out [][]byte
	for k := 0; k <= 18; k++ {
		for _, sign := range []byte{0, 0x80} {
			b := bytes.Repeat([]byte{0xff}, 32)
			b[0] = byte(0xed + k)
			b[31] = 0x7f | sign
			if _, err := new(edwards25519.Point).SetBytes(b); err == nil {
				out = append(out, b)
			}
		}
	}
	id := unhex(t, smallOrderPoints[0])
	id[31] |= 0x80
	minus1 := unhex(t, smallOrderPoints[1])
	minus1[31] |= 0x80
	return append(out, id, minus1)
}

// For the identity point as public key, one fixed signature (R = the
// identity, S = 0) verifies every message under crypto/ed25519. sp2p
// refuses such keys, and the other small-order and non-canonical ones,
// wherever a key is parsed: IDs (and so known_peers and identity files)
// and ID.Verify.
func TestWeakKeysRejected(t *testing.T) {
	t.Parallel()
	identityKey := unhex(t, smallOrderPoints[0])
	forgery := append(bytes.Clone(identityKey), make([]byte, 32)...)
	for _, msg := range []string{"", "pay mallory", "sp2p v2 offer\x00anything"} {
		if !ed25519.Verify(identityKey, []byte(msg), forgery) {
			t.Fatalf("the forgery does not verify under crypto/ed25519 for %q", msg)
		}
	}
	var weakID ID
	copy(weakID[:], identityKey)
	if err := weakID.Verify(ContextOffer, []byte("anything"), forgery); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("ID.Verify accepted the forgery for the identity point: %v", err)
	}

	nc := nonCanonical(t)
	if len(nc) < 4 {
		t.Fatalf("only %d non-canonical encodings decode", len(nc))
	}
	var weak [][]byte
	for _, s := range smallOrderPoints {
		weak = append(weak, unhex(t, s))
	}
	weak = append(weak, nc...)
	for _, key := range weak {
		err := CheckKey(key)
		if !errors.Is(err, ErrWeakKey) && !bytes.Equal(key, make([]byte, 32)) {
			t.Errorf("CheckKey(%x) = %v, want ErrWeakKey", key, err)
		}
		if !errors.Is(err, ErrIDKey) {
			t.Errorf("CheckKey(%x) = %v, want ErrIDKey", key, err)
		}
		text := bech32mEncode(idHRP, key)
		if _, err := ParseID(text); !errors.Is(err, ErrIDKey) {
			t.Errorf("ParseID accepted the weak key %x: %v", key, err)
		}
		var id ID
		copy(id[:], key)
		if err := id.Verify(ContextOffer, nil, forgery); err == nil {
			t.Errorf("Verify with the weak key %x accepted a signature", key)
		}
	}
	// A non-canonical encoding of a point of large order is refused too.
	var bigOrder bool
	for _, key := range nc {
		p, _ := new(edwards25519.Point).SetBytes(key)
		if new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 0 {
			bigOrder = true
		}
	}
	if !bigOrder {
		t.Error("no non-canonical encoding of a large-order point among the vectors")
	}
	// Not a point at all.
	notPoint := unhex(t, "0200000000000000000000000000000000000000000000000000000000000000")
	if _, err := new(edwards25519.Point).SetBytes(notPoint); err == nil {
		t.Fatal("test vector is a point")
	}
	if err := CheckKey(notPoint); !errors.Is(err, ErrIDKey) || errors.Is(err, ErrWeakKey) {
		t.Errorf("CheckKey(off the curve) = %v", err)
	}
	// Real keys pass.
	for b := range 50 {
		if err := fixedIdentity(t, byte(b)).ID().Check(); err != nil {
			t.Fatalf("generated key refused: %v", err)
		}
	}

	// known_peers and identity files parse IDs: a weak one is refused.
	dir := t.TempDir()
	peers := filepath.Join(dir, DefaultPeersName)
	os.WriteFile(peers, []byte("mallory "+bech32mEncode(idHRP, identityKey)+"\n"), 0o600)
	if _, err := OpenPeers(peers); !errors.Is(err, ErrPeersFile) || !errors.Is(err, ErrWeakKey) {
		t.Errorf("known_peers with the identity point: %v", err)
	}
	p, _ := OpenPeers(filepath.Join(dir, "other"))
	if err := p.Add("mallory", weakID); !errors.Is(err, ErrWeakKey) {
		t.Errorf("Add of the identity point: %v", err)
	}
	idFile := filepath.Join(dir, "identity")
	os.WriteFile(idFile, []byte(fileMagic+"\npublic-id: "+bech32mEncode(idHRP, identityKey)+"\nprotection: none\nsecret-key: "+strings.Repeat("A", 43)+"=\n"), 0o600)
	if _, _, err := ReadPublic(idFile); !errors.Is(err, ErrCorruptFile) || !errors.Is(err, ErrWeakKey) {
		t.Errorf("identity file with the identity point: %v", err)
	}
}

// Only ASCII is case-folded in IDs: characters that Unicode folds to an
// ASCII letter are refused, with an error naming them.
func TestIDNonASCIIRefused(t *testing.T) {
	t.Parallel()
	// An ID with a 'k' in its data part, for the Kelvin sign.
	var s string
	for b := byte(1); !strings.Contains(s[min(len(s), 5):], "k"); b++ {
		s = fixedIdentity(t, b).ID().String()
	}
	if _, err := ParseID(strings.ToUpper(s)); err != nil {
		t.Fatalf("upper case: %v", err)
	}
	k := 5 + strings.Index(s[5:], "k")
	cases := map[string]string{
		s[:k] + "\u212a" + s[k+1:]: "U+212A", // Kelvin sign, which strings.ToLower makes k
		"\u017f" + s[1:]:           "U+017F", // long s, which strings.ToUpper makes S
		s[:5] + "\u0131" + s[6:]:   "U+0131", // dotless i, which strings.ToUpper makes I
		s[:10] + "\xff" + s[11:]:   "invalid UTF-8",
	}
	for in, want := range cases {
		_, err := ParseID(in)
		if !errors.Is(err, ErrIDCharacter) || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseID(%q) = %v, want ErrIDCharacter naming %s", in, err, want)
		}
	}
}

// The 256-byte input limit counts the raw input, white space included.
func TestBoundariesIDInput(t *testing.T) {
	t.Parallel()
	s := fixedIdentity(t, 0x42).ID().String()
	at := s + strings.Repeat(" ", maxIDInput-len(s))
	if len(at) != 256 {
		t.Fatal(len(at))
	}
	if _, err := ParseID(at); err != nil {
		t.Errorf("256 bytes: %v", err)
	}
	if _, err := ParseID(at + " "); !errors.Is(err, ErrIDLength) || !strings.Contains(err.Error(), "257 bytes") {
		t.Errorf("257 bytes: %v", err)
	}
	if _, err := ParseID(s + strings.Repeat(" ", 5000)); !errors.Is(err, ErrIDLength) {
		t.Errorf("5000 trailing spaces: %v", err)
	}
	if _, err := ParseID("\t\n " + s + "\u00a0\r\n"); err != nil {
		t.Errorf("surrounding white space: %v", err)
	}
}

// setWorkFactor rewrites the scrypt work factor in the age header of an
// encrypted identity file (the MAC no longer matches; that is never
// reached).
func setWorkFactor(t *testing.T, path string, orig []byte, wf string) {
	t.Helper()
	c, err := parseIdentityFile(orig)
	if err != nil {
		t.Fatal(err)
	}
	var plain bytes.Buffer
	if _, err := plain.ReadFrom(armor.NewReader(bytes.NewReader(c.body))); err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(plain.String(), "\n", 3)
	f := strings.Fields(lines[1])
	f[3] = wf
	lines[1] = strings.Join(f, " ")
	var out bytes.Buffer
	out.WriteString(fileMagic + "\npublic-id: " + c.id.String() + "\nprotection: age-scrypt\n\n")
	aw := armor.NewWriter(&out)
	aw.Write([]byte(strings.Join(lines, "\n")))
	aw.Close()
	out.WriteByte('\n')
	if err := os.WriteFile(path, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A work factor above 2^18 (256 MiB of scrypt memory) is refused before
// the passphrase is asked for, so before any key derivation; 2^18 itself
// gets as far as asking. Save refuses to write one.
func TestIdentityFileWorkFactorLimit(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "identity")
	ident := fixedIdentity(t, 9)
	if err := Save(path, ident, SaveOptions{Passphrase: []byte("pw"), ScryptWorkFactor: 10}); err != nil {
		t.Fatal(err)
	}
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	errAsked := errors.New("asked")
	asked := func() ([]byte, error) { return nil, errAsked }
	setWorkFactor(t, path, orig, "18")
	if _, _, err := Load(path, asked); !errors.Is(err, errAsked) {
		t.Fatalf("work factor 18: %v, want the passphrase asked for", err)
	}
	for _, wf := range []string{"19", "22", "40", "99"} {
		setWorkFactor(t, path, orig, wf)
		_, _, err := Load(path, asked)
		if !errors.Is(err, ErrWorkFactor) || !strings.Contains(err.Error(), "2^"+wf) || !strings.Contains(err.Error(), "256 MiB") {
			t.Errorf("work factor %s: %v, want ErrWorkFactor before the passphrase", wf, err)
		}
		if _, _, err := ReadPublic(path); !errors.Is(err, ErrWorkFactor) {
			t.Errorf("ReadPublic, work factor %s: %v", wf, err)
		}
	}
	for _, wf := range []string{"", "018", "1x", "100"} {
		setWorkFactor(t, path, orig, wf)
		if _, _, err := Load(path, asked); !errors.Is(err, ErrCorruptFile) {
			t.Errorf("work factor %q: %v, want ErrCorruptFile", wf, err)
		}
	}
	err = Save(filepath.Join(t.TempDir(), "identity"), ident, SaveOptions{Passphrase: []byte("pw"), ScryptWorkFactor: 19})
	if !errors.Is(err, ErrWorkFactor) {
		t.Errorf("Save with work factor 19: %v", err)
	}
}

// The identity file and known_peers are refused when another user owns
// them or their directory, or when group or others can write their
// directory (or, for known_peers, the file): such a user could swap them.
func TestFileOwnerAndDirectoryChecks(t *testing.T) {
	t.Parallel()
	type file struct {
		name string
		make func(t *testing.T, path string)
		open func(path string) error
	}
	files := []file{
		{"identity", func(t *testing.T, path string) {
			if err := Save(path, fixedIdentity(t, 3), SaveOptions{InsecureUnencrypted: true}); err != nil {
				t.Fatal(err)
			}
		}, func(path string) error { _, _, err := Load(path, nil); return err }},
		{DefaultPeersName, func(t *testing.T, path string) {
			p, _ := OpenPeers(path)
			if err := p.Add("bob", fixedIdentity(t, 4).ID()); err != nil {
				t.Fatal(err)
			}
		}, func(path string) error { _, err := OpenPeers(path); return err }},
	}
	for _, f := range files {
		setup := func(t *testing.T) (dir, path string) {
			dir = filepath.Join(t.TempDir(), "sp2p")
			path = filepath.Join(dir, f.name)
			f.make(t, path)
			if err := f.open(path); err != nil {
				t.Fatalf("%s as written: %v", f.name, err)
			}
			return dir, path
		}
		t.Run(f.name, func(t *testing.T) {
			for _, perm := range []os.FileMode{0o720, 0o702, 0o777} {
				dir, path := setup(t)
				os.Chmod(dir, perm)
				err := f.open(path)
				if !errors.Is(err, ErrPermissions) || !strings.Contains(err.Error(), "chmod go-w "+dir) {
					t.Errorf("directory %04o: %v", perm, err)
				}
			}
			for _, perm := range []os.FileMode{0o620, 0o602} {
				_, path := setup(t)
				os.Chmod(path, perm)
				if err := f.open(path); !errors.Is(err, ErrPermissions) || !strings.Contains(err.Error(), path) {
					t.Errorf("file %04o: %v", perm, err)
				}
			}
			if os.Geteuid() != 0 {
				t.Skip("needs root to give files away")
			}
			dir, path := setup(t)
			os.Chown(path, 4242, 4242)
			if err := f.open(path); !errors.Is(err, ErrPermissions) || !strings.Contains(err.Error(), "owned by uid 4242") || !strings.Contains(err.Error(), "chown 0 "+path) {
				t.Errorf("file of another user: %v", err)
			}
			os.Chown(path, 0, 0)
			os.Chown(dir, 4242, 4242)
			if err := f.open(path); !errors.Is(err, ErrPermissions) || !strings.Contains(err.Error(), "chown 0 "+dir) {
				t.Errorf("directory of another user: %v", err)
			}
		})
	}
}

// Files are refused from their size, before they are read: a 2 GiB
// sparse identity or known_peers file is refused at once.
func TestFileSizeChecked(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, name := range []string{"identity", DefaultPeersName} {
		path := filepath.Join(dir, name)
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(2 << 30); err != nil {
			t.Skip(err)
		}
		f.Close()
	}
	if _, _, err := Load(filepath.Join(dir, "identity"), nil); !errors.Is(err, ErrCorruptFile) || !errors.Is(err, ErrFileTooLarge) {
		t.Errorf("2 GiB identity file: %v", err)
	}
	if _, err := OpenPeers(filepath.Join(dir, DefaultPeersName)); !errors.Is(err, ErrPeersFile) || !errors.Is(err, ErrFileTooLarge) {
		t.Errorf("2 GiB known_peers: %v", err)
	}
}
