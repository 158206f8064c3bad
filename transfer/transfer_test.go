// The tests over real sessions: the real handshake and record layer,
// over the in-memory link (internal/memlink), so they run anywhere,
// WebAssembly included, and quickly. The CLI's end-to-end tests move files
// between real processes over real pion.

package transfer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/internal/memlink"
	"github.com/sp2p/sp2p/session"
)

// memNet is the in-memory network of the transfer tests.
var memNet = memlink.New(1, memlink.Faults{})

// sessionPair connects two real sessions over the in-memory link and
// returns their streams (sender, receiver).
func sessionPair(t *testing.T) (*session.Conn, *session.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	alice, _ := identity.Generate()
	bob, _ := identity.Generate()
	opts := session.Options{Link: memNet.Maker()}
	a, b, err := session.ConnectInProcess(ctx, alice, bob, opts, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a.Conn(), b.Conn()
}

func TestTreeRoundTrip(t *testing.T) {
	src, out := t.TempDir(), t.TempDir()
	tree := filepath.Join(src, "tree")
	writeRandom(t, filepath.Join(tree, "a", "b", "deep.bin"), 300_000)
	writeRandom(t, filepath.Join(tree, "top.txt"), 10)
	writeRandom(t, filepath.Join(tree, "empty"), 0)
	os.MkdirAll(filepath.Join(tree, "empty-dir"), 0o755)
	writeRandom(t, filepath.Join(tree, "run.sh"), 50)
	os.Chmod(filepath.Join(tree, "run.sh"), 0o755)
	os.Symlink("/etc/passwd", filepath.Join(tree, "link")) // skipped, never followed
	single := filepath.Join(src, "single.dat")
	writeRandom(t, single, 2<<20)
	s, r := sessionPair(t)
	sr, rr, serr, rerr := run(t, s, r, []string{tree, single}, ReceiveOptions{Dir: out})
	if serr != nil || rerr != nil {
		t.Fatalf("send %v, receive %v", serr, rerr)
	}
	want := treeHash(t, src)
	delete(want, "tree/link")
	got := treeHash(t, out)
	if len(got) != len(want) {
		t.Fatalf("received %d entries, want %d:\n%v\n%v", len(got), len(want), got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s differs: %s vs %s", k, got[k], v)
		}
	}
	if sr.Files != 5 || rr.Files != 5 || rr.Bytes != 300_000+10+50+2<<20 {
		t.Errorf("results: %+v %+v", sr, rr)
	}
}

// hostileOffers are offers whose names or fields every receiver refuses,
// whatever it writes into.
func hostileOffers() map[string][]Entry {
	return map[string][]Entry{
		"dot-dot":       {{Path: "../x", Size: 1}},
		"inner dot-dot": {{Path: "a/../../x", Size: 1}},
		"absolute":      {{Path: "/etc/x", Size: 1}},
		"escape codes":  {{Path: "evil\x1b]0;owned\x07.txt", Size: 1}},
		"backslash":     {{Path: `..\x`, Size: 1}},
		"file as dir":   {{Path: "f", Size: 1}, {Path: "f/x", Size: 1}},
		"duplicate":     {{Path: "d", Size: 1}, {Path: "d", Size: 1}},
		"sized dir":     {{Path: "n", Dir: true, Size: 1}},
		"negative size": {{Path: "n", Size: -1}},
	}
}

// A malicious sender, speaking the protocol directly over a real session,
// offers names that would escape the output directory or attack the
// terminal: each offer is refused and nothing is written anywhere.
func TestMaliciousNamesRefused(t *testing.T) {
	base := t.TempDir()
	out := filepath.Join(base, "out")
	outside := filepath.Join(base, "outside")
	os.MkdirAll(out, 0o755)
	os.MkdirAll(outside, 0o755)
	os.Symlink(outside, filepath.Join(out, "link")) // an escape route
	cases := hostileOffers()
	cases["symlink escape"] = []Entry{{Path: "link/x", Size: 1}}
	for name, entries := range cases {
		s, r := sessionPair(t)
		go func() {
			writeFrame(s, Manifest{Protocol: protocolHeader, Entries: entries})
			var d decision
			readFrame(s, &d, 1<<20)
			if d.Accept {
				s.Write([]byte("x"))
			}
		}()
		_, err := Receive(r, ReceiveOptions{Dir: out})
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
		if strings.Contains(err.Error(), "\x1b") {
			t.Errorf("%s: the error carries a raw escape: %q", name, err)
		}
		if ents, _ := os.ReadDir(outside); len(ents) != 0 {
			t.Fatalf("%s: something was written outside --out", name)
		}
		if ents, _ := os.ReadDir(out); len(ents) != 1 { // only the symlink
			t.Fatalf("%s: something was written in --out: %v", name, ents)
		}
	}
}

func TestDeclineAndNoOverwrite(t *testing.T) {
	src, out := t.TempDir(), t.TempDir()
	f := filepath.Join(src, "report.pdf")
	writeRandom(t, f, 1000)
	// Declining writes nothing.
	s, r := sessionPair(t)
	_, _, serr, rerr := run(t, s, r, []string{f}, ReceiveOptions{Dir: out, Confirm: func(*Offer) (bool, error) { return false, nil }})
	if !errors.Is(serr, ErrDeclined) || !errors.Is(rerr, ErrDeclined) {
		t.Fatalf("declined: %v / %v", serr, rerr)
	}
	if ents, _ := os.ReadDir(out); len(ents) != 0 {
		t.Fatal("a declined offer wrote something")
	}
	// An existing file is kept without --overwrite...
	os.WriteFile(filepath.Join(out, "report.pdf"), []byte("mine"), 0o644)
	s, r = sessionPair(t)
	_, _, serr, rerr = run(t, s, r, []string{f}, ReceiveOptions{Dir: out})
	if !errors.Is(rerr, ErrExists) || serr == nil {
		t.Fatalf("existing file: %v / %v", serr, rerr)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "report.pdf")); string(b) != "mine" {
		t.Fatal("existing file overwritten")
	}
	// ...and replaced with it.
	s, r = sessionPair(t)
	if _, _, serr, rerr = run(t, s, r, []string{f}, ReceiveOptions{Dir: out, Overwrite: true}); serr != nil || rerr != nil {
		t.Fatalf("overwrite: %v / %v", serr, rerr)
	}
	a, _ := os.ReadFile(f)
	b, _ := os.ReadFile(filepath.Join(out, "report.pdf"))
	if !bytes.Equal(a, b) {
		t.Fatal("not replaced")
	}
}

// A sender whose data does not match the hash it announced: the file never
// gets its final name.
func TestIntegrityFailure(t *testing.T) {
	out := t.TempDir()
	s, r := sessionPair(t)
	senderErr := make(chan error, 1)
	go func() {
		good := sha256.Sum256([]byte("good"))
		writeFrame(s, Manifest{Protocol: protocolHeader, Entries: []Entry{{Path: "f", Size: 4}}})
		var d decision
		readFrame(s, &d, 1<<20)
		s.Write([]byte("evil"))
		s.Write(good[:]) // the SHA-256 of what it should have been
		senderErr <- readResult(s)
	}()
	_, err := Receive(r, ReceiveOptions{Dir: out})
	if !errors.Is(err, ErrIntegrity) || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("tampered content: %v", err)
	}
	// The sender learns the kind of failure, as a sentinel, across the
	// wire.
	var remote *RemoteError
	if err := <-senderErr; !errors.Is(err, ErrIntegrity) || !errors.As(err, &remote) {
		t.Fatalf("the sender's error: %v, want a RemoteError wrapping ErrIntegrity", err)
	}
	if ents, _ := os.ReadDir(out); len(ents) != 0 {
		t.Fatalf("files left: %v", ents)
	}
}

// An interrupted transfer leaves no file under its final name; the same
// transfer again resumes from the partial file and ends with the right
// content.
func TestInterruptAndResume(t *testing.T) {
	src, out := t.TempDir(), t.TempDir()
	f := filepath.Join(src, "big.bin")
	writeRandom(t, f, 4<<20)
	m, local, _, err := BuildManifest([]string{f})
	t.Cleanup(func() { local.Close() })
	if err != nil {
		t.Fatal(err)
	}
	s, r := sessionPair(t)
	go func() {
		writeFrame(s, m)
		var d decision
		readFrame(s, &d, 1<<20)
		data, _ := os.ReadFile(f)
		s.Write(data[:1<<20+123]) // then the sender dies
		s.Close()
	}()
	_, err = Receive(r, ReceiveOptions{Dir: out})
	if !errors.Is(err, ErrIncomplete) {
		t.Fatalf("interrupted: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "big.bin")); err == nil {
		t.Fatal("a truncated file has the final name")
	}
	s, r = sessionPair(t)
	ch := make(chan error, 1)
	var sr *SendResult
	go func() {
		var err error
		sr, err = Send(s, m, local, nil)
		ch <- err
	}()
	rr, err := Receive(r, ReceiveOptions{Dir: out})
	if err != nil || <-ch != nil {
		t.Fatalf("resume: %v", err)
	}
	if rr.Resumed != 1<<20+123 || sr.Resumed != rr.Resumed || rr.Bytes != 4<<20-rr.Resumed {
		t.Fatalf("did not resume: %+v %+v", rr, sr)
	}
	a, _ := os.ReadFile(f)
	b, _ := os.ReadFile(filepath.Join(out, "big.bin"))
	if !bytes.Equal(a, b) {
		t.Fatal("resumed file differs")
	}
	if ents, _ := os.ReadDir(out); len(ents) != 1 {
		t.Fatalf("partial file left behind: %v", ents)
	}
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"a", "a/b", "résumé.pdf", "a b/c", strings.Repeat("x", 255)} {
		if err := CheckName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "./a", "a/", "a//b", "/a", "a/..", "a\x00b", "a\nb", "\u202e", "a\\b", strings.Repeat("x", 256), string([]byte{0xff})} {
		if err := CheckName(bad); !errors.Is(err, ErrUnsafeName) {
			t.Errorf("%q accepted", bad)
		}
	}
	if q := Quote("a\x1b[2Jb\"c\u202e"); q != `"a\x1b[2Jb\"c\u202e"` {
		t.Errorf("Quote = %s", q)
	}
}
