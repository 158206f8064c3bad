package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func fileHash(t *testing.T, p string) [32]byte {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	io.Copy(h, f)
	return [32]byte(h.Sum(nil))
}

func writeRandomFile(t *testing.T, p string, n int64) {
	t.Helper()
	os.MkdirAll(filepath.Dir(p), 0o755)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.Reader, n); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// Two real processes: a 200 MiB random file and a directory tree with
// nested folders and an empty file arrive identical.
func TestBinarySendReceive(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 200 MiB")
	}
	t.Parallel()
	homeA, homeB := newHome(t), newHome(t)
	src, out, dir := t.TempDir(), t.TempDir(), t.TempDir()
	big := filepath.Join(src, "big.bin")
	writeRandomFile(t, big, 200<<20)
	tree := filepath.Join(src, "tree")
	writeRandomFile(t, filepath.Join(tree, "a", "b", "c.txt"), 1234)
	writeRandomFile(t, filepath.Join(tree, "empty"), 0)
	os.MkdirAll(filepath.Join(tree, "a", "empty-dir"), 0o755)
	offer, answer := filepath.Join(dir, "offer"), filepath.Join(dir, "answer")
	a := startBinary(t, homeA, nil, "send", "--offer-file", offer, "--answer-file", answer, "--yes", "--loopback", big, tree)
	b := startBinary(t, homeB, nil, "receive", "--offer-file", offer, "--answer-file", answer, "--yes", "--loopback", "--out", out)
	if code := b.wait(t, 180*time.Second); code != 0 {
		t.Fatalf("receive: exit %d\n%s", code, b.stderr.String())
	}
	if code := a.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("send: exit %d\n%s", code, a.stderr.String())
	}
	if fileHash(t, big) != fileHash(t, filepath.Join(out, "big.bin")) {
		t.Fatal("big file differs")
	}
	for _, p := range []string{"tree/a/b/c.txt", "tree/empty"} {
		if fileHash(t, filepath.Join(src, p)) != fileHash(t, filepath.Join(out, p)) {
			t.Fatalf("%s differs", p)
		}
	}
	if fi, err := os.Stat(filepath.Join(out, "tree/a/empty-dir")); err != nil || !fi.IsDir() {
		t.Fatal("empty directory missing")
	}
	if !strings.Contains(b.stderr.String(), "received 3 files") || !strings.Contains(a.stderr.String(), "sent 3 files") {
		t.Errorf("no summary lines:\n%s\n%s", a.stderr.String(), b.stderr.String())
	}
	t.Logf("sender: %s", lastLine(a.stderr.String()))
}

// lastLine is the last line of a command's stderr that is not from the
// debug log (SP2P_DEBUG).
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i > 0; i-- {
		if !strings.Contains(lines[i], "level=DEBUG") {
			return lines[i]
		}
	}
	return lines[0]
}

// Killing the sender mid-transfer leaves no file under the final name and
// a clear error on the receiver; the same transfer again resumes and ends
// with the right content.
func TestBinaryKilledSenderThenResume(t *testing.T) {
	t.Parallel()
	homeA, homeB := newHome(t), newHome(t)
	src, out := t.TempDir(), t.TempDir()
	big := filepath.Join(src, "big.bin")
	writeRandomFile(t, big, 64<<20)
	run := func(dir string) (*proc, *proc) {
		offer, answer := filepath.Join(dir, "offer"), filepath.Join(dir, "answer")
		// A killed sender never comes back: the receiver tries to resume
		// for its resume window (5 s here), then gives up.
		a := startBinary(t, homeA, nil, "send", "--offer-file", offer, "--answer-file", answer, "--yes", "--loopback", "--json", "--heartbeat", "2s", "--resume-window", "5s", big)
		b := startBinary(t, homeB, nil, "receive", "--offer-file", offer, "--answer-file", answer, "--yes", "--loopback", "--json", "--heartbeat", "2s", "--resume-window", "5s", "--out", out)
		return a, b
	}
	a, b := run(t.TempDir())
	// Kill the sender once some data has arrived.
	waitForBytes(t, out, 4<<20)
	a.cmd.Process.Kill()
	a.cmd.Wait()
	if code := b.wait(t, 30*time.Second); code != 1 {
		t.Fatalf("receiver after the sender died: exit %d", code)
	}
	if !strings.Contains(b.stderr.String(), "interrupted") || !strings.Contains(b.stderr.String(), "resumes") {
		t.Errorf("receiver's error is not clear:\n%s", b.stderr.String())
	}
	if _, err := os.Stat(filepath.Join(out, "big.bin")); err == nil {
		t.Fatal("a partial file has the final name")
	}
	a, b = run(t.TempDir())
	if code := b.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("second receive: exit %d\n%s", code, b.stderr.String())
	}
	a.wait(t, 30*time.Second)
	if !strings.Contains(b.stderr.String(), "resumed: ") {
		t.Errorf("the second transfer did not resume:\n%s", b.stderr.String())
	}
	if fileHash(t, big) != fileHash(t, filepath.Join(out, "big.bin")) {
		t.Fatal("resumed file differs")
	}
	if ents, _ := os.ReadDir(out); len(ents) != 1 {
		t.Fatalf("leftovers in --out: %v", ents)
	}
	// --json progress lines were printed.
	if !bytes.Contains(b.stdout.Bytes(), []byte(`"event":"progress"`)) {
		t.Error("no JSON progress")
	}
}
