package identity

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sp2p/sp2p/internal/safefile"
)

func pass(s string) func() ([]byte, error) {
	return func() ([]byte, error) { return []byte(s), nil }
}

func TestIdentityFileEncryptedRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "identity")
	ident := fixedIdentity(t, 9)
	if err := Save(path, ident, SaveOptions{Passphrase: []byte("correct horse"), ScryptWorkFactor: 10}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600", fi.Mode().Perm())
	}
	if di, _ := os.Stat(filepath.Dir(path)); di.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v, want 0700", di.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), "secret-key") || !strings.Contains(string(data), "BEGIN AGE ENCRYPTED FILE") {
		t.Errorf("encrypted file does not look encrypted:\n%s", data)
	}
	got, prot, err := Load(path, pass("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	if got.ID() != ident.ID() || prot != Passphrase {
		t.Errorf("loaded %s (%v), want %s (passphrase)", got.ID(), prot, ident.ID())
	}
	pub, prot, err := ReadPublic(path)
	if err != nil || pub != ident.ID() || prot != Passphrase {
		t.Errorf("ReadPublic = %s, %v, %v", pub, prot, err)
	}
	// No temporary files are left behind.
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the identity", len(entries))
	}
}

func TestIdentityFileWrongPassphrase(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "identity")
	if err := Save(path, fixedIdentity(t, 9), SaveOptions{Passphrase: []byte("right"), ScryptWorkFactor: 10}); err != nil {
		t.Fatal(err)
	}
	_, _, err := Load(path, pass("wrong"))
	if !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v, want ErrWrongPassphrase", err)
	}
	if strings.Contains(err.Error(), "wrong\"") || strings.Contains(err.Error(), "right") {
		t.Errorf("error mentions a passphrase: %v", err)
	}
	_, _, err = Load(path, pass(""))
	if !errors.Is(err, ErrNoPassphrase) {
		t.Fatalf("empty passphrase: %v", err)
	}
}

func TestIdentityFilePermissions(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "identity")
	if err := Save(path, fixedIdentity(t, 9), SaveOptions{InsecureUnencrypted: true}); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o660, 0o644} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, _, err := Load(path, pass("x"))
		if !errors.Is(err, ErrPermissions) {
			t.Fatalf("mode %04o: %v, want ErrPermissions", mode, err)
		}
		if !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("error does not say how to fix it: %v", err)
		}
		if _, _, err := ReadPublic(path); !errors.Is(err, ErrPermissions) {
			t.Fatalf("ReadPublic with mode %04o: %v", mode, err)
		}
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(path, pass("x")); err != nil {
		t.Fatal(err)
	}
}

func TestIdentityFileNoOverwrite(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "identity")
	first, second := fixedIdentity(t, 1), fixedIdentity(t, 2)
	if err := Save(path, first, SaveOptions{InsecureUnencrypted: true}); err != nil {
		t.Fatal(err)
	}
	err := Save(path, second, SaveOptions{InsecureUnencrypted: true})
	if !errors.Is(err, ErrExists) {
		t.Fatalf("second Save: %v, want ErrExists", err)
	}
	if got, _, _ := Load(path, nil); got.ID() != first.ID() {
		t.Fatal("existing identity was replaced without Overwrite")
	}
	if err := Save(path, second, SaveOptions{InsecureUnencrypted: true, Overwrite: true}); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := Load(path, nil); got.ID() != second.ID() {
		t.Fatal("Overwrite did not replace the identity")
	}
}

// The link-based no-overwrite write refuses even when the file appears
// between the existence check and the write.
func TestWriteFileAtomicNoOverwriteRace(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := safefile.WriteAtomic(path, []byte("new"), 0o600, false); err == nil {
		t.Fatal("WriteAtomic replaced an existing file")
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Fatalf("file content %q", b)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary file left behind: %d entries", len(entries))
	}
}

func TestIdentityFileUnencrypted(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "identity")
	ident := fixedIdentity(t, 7)
	if err := Save(path, ident, SaveOptions{InsecureUnencrypted: true}); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if !strings.Contains(string(data), "UNENCRYPTED") {
		t.Errorf("unencrypted file is not marked as such:\n%s", data)
	}
	called := false
	got, prot, err := Load(path, func() ([]byte, error) { called = true; return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	if called {
		t.Error("passphrase asked for an unencrypted file")
	}
	if got.ID() != ident.ID() || prot != Unprotected {
		t.Errorf("got %s %v", got.ID(), prot)
	}
	if err := Save(filepath.Join(t.TempDir(), "x"), ident, SaveOptions{}); !errors.Is(err, ErrNoPassphrase) {
		t.Errorf("Save with neither passphrase nor InsecureUnencrypted: %v", err)
	}
}

func TestIdentityFileCorrupt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	if err := Save(good, fixedIdentity(t, 7), SaveOptions{InsecureUnencrypted: true}); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(good)
	other := fixedIdentity(t, 8).ID().String()
	lines := strings.Split(string(data), "\n")
	cases := map[string]string{
		"empty":        "",
		"magic":        "not an identity\n",
		"swapped id":   strings.Replace(string(data), lines[1], "public-id: "+other, 1),
		"bad base64":   strings.Replace(string(data), "secret-key: ", "secret-key: !!", 1),
		"short key":    lines[0] + "\n" + lines[1] + "\n" + lines[2] + "\nsecret-key: AAAA\n",
		"unknown prot": strings.Replace(string(data), "protection: none", "protection: rot13", 1),
		"huge":         strings.Repeat("a", maxIdentityFile+10),
	}
	for name, content := range cases {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := Load(p, pass("x")); !errors.Is(err, ErrCorruptFile) {
			t.Errorf("%s: %v, want ErrCorruptFile", name, err)
		}
	}
	if _, _, err := Load(filepath.Join(dir, "missing"), nil); !errors.Is(err, ErrNoIdentity) || strings.Contains(err.Error(), "sp2p ") {
		t.Errorf("missing file: %v", err)
	}
}

func TestDefaultPath(t *testing.T) {
	t.Setenv("SP2P_IDENTITY", "/some/where/id")
	if p, err := DefaultPath(); err != nil || p != "/some/where/id" {
		t.Errorf("DefaultPath with SP2P_IDENTITY = %q, %v", p, err)
	}
	t.Setenv("SP2P_IDENTITY", "")
	t.Setenv("XDG_CONFIG_HOME", "/cfg")
	if p, err := DefaultPath(); err != nil || p != "/cfg/sp2p/identity" {
		t.Errorf("DefaultPath = %q, %v", p, err)
	}
	if PeersPath("/cfg/sp2p/identity") != "/cfg/sp2p/known_peers" {
		t.Error("PeersPath is not next to the identity")
	}
}
