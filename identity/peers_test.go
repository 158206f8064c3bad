package identity

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPeersAddListRemove(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "cfg", "known_peers")
	p, err := OpenPeers(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.List()) != 0 {
		t.Fatal("new store is not empty")
	}
	alice, bob := fixedIdentity(t, 1).ID(), fixedIdentity(t, 2).ID()
	if err := p.Add("alice", alice); err != nil {
		t.Fatal(err)
	}
	if err := p.Add("bob", bob); err != nil {
		t.Fatal(err)
	}
	if err := p.Add("alice", alice); err != nil {
		t.Fatalf("re-adding the same binding: %v", err)
	}
	// A fresh reader sees what was written.
	q, err := OpenPeers(path)
	if err != nil {
		t.Fatal(err)
	}
	list := q.List()
	if len(list) != 2 || list[0] != (Peer{"alice", alice}) || list[1] != (Peer{"bob", bob}) {
		t.Fatalf("List = %v", list)
	}
	if id, ok := q.Lookup("bob"); !ok || id != bob {
		t.Error("Lookup(bob)")
	}
	if name, ok := q.LookupID(alice); !ok || name != "alice" {
		t.Error("LookupID(alice)")
	}
	if id, name, err := q.Resolve(bob.String()); err != nil || id != bob || name != "bob" {
		t.Errorf("Resolve(bob's ID) = %s %q %v", id, name, err)
	}
	if _, _, err := q.Resolve("carol"); !errors.Is(err, ErrUnknownPeer) {
		t.Errorf("Resolve(carol) = %v", err)
	}
	if err := q.Remove("alice"); err != nil {
		t.Fatal(err)
	}
	if err := q.Remove("alice"); !errors.Is(err, ErrUnknownPeer) {
		t.Errorf("second Remove: %v", err)
	}
	r, _ := OpenPeers(path)
	if list := r.List(); len(list) != 1 || list[0].Name != "bob" {
		t.Fatalf("after Remove: %v", list)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
}

func TestPeersConflictRefused(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "known_peers")
	p, _ := OpenPeers(path)
	alice, mallory := fixedIdentity(t, 1).ID(), fixedIdentity(t, 6).ID()
	if err := p.Add("alice", alice); err != nil {
		t.Fatal(err)
	}
	err := p.Add("alice", mallory)
	if !errors.Is(err, ErrPeerConflict) {
		t.Fatalf("rebinding alice: %v, want ErrPeerConflict", err)
	}
	if !strings.Contains(err.Error(), alice.String()) || !strings.Contains(err.Error(), mallory.String()) {
		t.Errorf("conflict error does not show both IDs: %v", err)
	}
	q, _ := OpenPeers(path)
	if id, _ := q.Lookup("alice"); id != alice {
		t.Fatal("conflicting Add changed the file")
	}
}

func TestPeersHandEdited(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "known_peers")
	alice, bob := fixedIdentity(t, 1).ID(), fixedIdentity(t, 2).ID()
	content := "# my peers\n\n   \nalice   " + strings.ToUpper(alice.String()) + "   # met at the conference\n\t# old:\nbob\t" + bob.String() + "\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := OpenPeers(path)
	if err != nil {
		t.Fatal(err)
	}
	if list := p.List(); len(list) != 2 || list[0].ID != alice || list[1].ID != bob {
		t.Fatalf("List = %v", list)
	}
	if err := p.Add("carol", fixedIdentity(t, 3).ID()); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(data), content) {
		t.Errorf("rewriting lost the hand-edited lines:\n%s", data)
	}
}

func TestPeersCorruptLineNumber(t *testing.T) {
	t.Parallel()
	alice := fixedIdentity(t, 1).ID().String()
	typo := alice[:20] + "x" + alice[21:]
	if typo == alice {
		typo = alice[:20] + "y" + alice[21:]
	}
	cases := map[string]string{
		"# c\nalice " + alice + "\nbob " + typo + "\n": ":3: identity: invalid ID",
		"\n\n\n\nonlyname\n":                           ":5: want \"NAME ID\"",
		"alice " + alice + "\nalice " + alice + "\n":   ":2: name \"alice\" is already used on line 1",
		"# x\n-bad " + alice + "\n":                    ":2: invalid peer name",
		"alice " + alice + " extra\n":                  ":1: want \"NAME ID\", found 3 fields",
	}
	for content, want := range cases {
		path := filepath.Join(t.TempDir(), "known_peers")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := OpenPeers(path)
		if !errors.Is(err, ErrPeersFile) || !strings.Contains(err.Error(), path+want) {
			t.Errorf("file %q: error %v, want it to contain %q", content, err, path+want)
		}
	}
}

func TestPeersFileWritableByOthersRefused(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "known_peers")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenPeers(path); !errors.Is(err, ErrPermissions) {
		t.Fatalf("world-writable known_peers: %v", err)
	}
}

func TestCheckPeerName(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"bob", "Bob-2", "a.b_c", strings.Repeat("x", 64)} {
		if err := CheckPeerName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-x", "a b", "é", "a\x1b[31m", strings.Repeat("x", 65), "a#b"} {
		if err := CheckPeerName(bad); !errors.Is(err, ErrPeerName) {
			t.Errorf("%q accepted", bad)
		}
	}
}
