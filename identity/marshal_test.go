package identity

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Marshal's bytes are Save's file, and Unmarshal reads what Save wrote (and
// the reverse), with and without a passphrase: a file kept by a browser
// loads in the CLI.
func TestMarshalIsSavesFile(t *testing.T) {
	t.Parallel()
	ident := fixedIdentity(t, 11)
	for _, opts := range []SaveOptions{
		{InsecureUnencrypted: true},
		{Passphrase: []byte("correct horse"), ScryptWorkFactor: 10},
	} {
		data, err := Marshal(ident, opts)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "identity")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		got, prot, err := Load(path, pass("correct horse"))
		if err != nil {
			t.Fatalf("Load of Marshal's bytes: %v", err)
		}
		if !got.ID().Equal(ident.ID()) {
			t.Fatal("Load of Marshal's bytes: another identity")
		}
		want := Unprotected
		if opts.Passphrase != nil {
			want = Passphrase
		}
		if prot != want {
			t.Errorf("protection %v, want %v", prot, want)
		}

		path2 := filepath.Join(t.TempDir(), "identity")
		if err := Save(path2, ident, opts); err != nil {
			t.Fatal(err)
		}
		saved, _ := os.ReadFile(path2)
		if opts.InsecureUnencrypted && !bytes.Equal(saved, data) {
			t.Errorf("Save wrote\n%s\nMarshal returned\n%s", saved, data)
		}
		got, prot, err = Unmarshal(saved, pass("correct horse"))
		if err != nil {
			t.Fatalf("Unmarshal of Save's file: %v", err)
		}
		if !got.ID().Equal(ident.ID()) || prot != want {
			t.Fatalf("Unmarshal of Save's file: %v %v", got.ID(), prot)
		}
	}
}

func TestUnmarshalErrors(t *testing.T) {
	t.Parallel()
	ident := fixedIdentity(t, 12)
	enc, err := Marshal(ident, SaveOptions{Passphrase: []byte("right"), ScryptWorkFactor: 10})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := Marshal(ident, SaveOptions{InsecureUnencrypted: true})
	if err != nil {
		t.Fatal(err)
	}
	called := false
	asked := func() ([]byte, error) { called = true; return []byte("x"), nil }
	if _, _, err := Unmarshal(plain, asked); err != nil || called {
		t.Errorf("unencrypted: err %v, passphrase asked %v", err, called)
	}
	if _, _, err := Unmarshal(enc, pass("wrong")); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("wrong passphrase: %v", err)
	} else if strings.Contains(err.Error(), " for ") {
		t.Errorf("wrong passphrase names a path: %v", err)
	}
	if _, _, err := Unmarshal(enc, pass("")); !errors.Is(err, ErrNoPassphrase) {
		t.Errorf("empty passphrase: %v", err)
	}
	if _, _, err := Unmarshal([]byte("not an identity"), asked); !errors.Is(err, ErrCorruptFile) {
		t.Errorf("garbage: %v", err)
	}
	big := append(bytes.Clone(plain), bytes.Repeat([]byte("#"), maxIdentityFile)...)
	if _, _, err := Unmarshal(big, asked); !errors.Is(err, ErrCorruptFile) || !errors.Is(err, ErrFileTooLarge) {
		t.Errorf("too large: %v", err)
	}
	// Another key under the same public-id header.
	other := fixedIdentity(t, 13)
	otherFile, _ := Marshal(other, SaveOptions{InsecureUnencrypted: true})
	swapped := strings.Replace(string(otherFile), other.ID().String(), ident.ID().String(), 1)
	if _, _, err := Unmarshal([]byte(swapped), asked); !errors.Is(err, ErrCorruptFile) {
		t.Errorf("mismatched header: %v", err)
	}
	if _, err := Marshal(ident, SaveOptions{}); !errors.Is(err, ErrNoPassphrase) {
		t.Errorf("Marshal with no protection chosen: %v", err)
	}
	if _, err := Marshal(ident, SaveOptions{Passphrase: []byte("p"), ScryptWorkFactor: MaxWorkFactor + 1}); !errors.Is(err, ErrWorkFactor) {
		t.Errorf("Marshal over the work factor: %v", err)
	}
}
