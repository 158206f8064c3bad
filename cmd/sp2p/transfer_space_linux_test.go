package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Two real processes: an offer larger than the free space of --out (a
// 1 MiB tmpfs) is refused before anything is written; the receiver says
// how much is needed and free, the sender is told "not enough space", and
// neither names the receiver's directory to the other.
func TestBinaryReceiveNoSpace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	t.Parallel()
	out := filepath.Join(t.TempDir(), "bobs-downloads")
	os.MkdirAll(out, 0o755)
	if err := syscall.Mount("tmpfs", out, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(out, syscall.MNT_DETACH) })
	homeA, homeB := newHome(t), newHome(t)
	src, dir := t.TempDir(), t.TempDir()
	big := filepath.Join(src, "big.bin")
	writeRandomFile(t, big, 3<<20)
	offer, answer := filepath.Join(dir, "offer"), filepath.Join(dir, "answer")
	a := startBinary(t, homeA, nil, "send", "--offer-file", offer, "--answer-file", answer, "--yes", "--loopback", big)
	b := startBinary(t, homeB, nil, "receive", "--offer-file", offer, "--answer-file", answer, "--yes", "--loopback", "--out", out)
	if code := b.wait(t, 60*time.Second); code != 1 {
		t.Fatalf("receive: exit %d\n%s", code, b.stderr.String())
	}
	if code := a.wait(t, 30*time.Second); code != 1 {
		t.Fatalf("send: exit %d\n%s", code, a.stderr.String())
	}
	if !strings.Contains(b.stderr.String(), "not enough free space") || !strings.Contains(b.stderr.String(), "3.0 MiB") {
		t.Errorf("the receiver does not say why:\n%s", b.stderr.String())
	}
	if !strings.Contains(a.stderr.String(), "not enough space") || strings.Contains(a.stderr.String(), "bobs-downloads") {
		t.Errorf("the sender's error:\n%s", a.stderr.String())
	}
	if ents, _ := os.ReadDir(out); len(ents) != 0 {
		t.Errorf("written: %v", ents)
	}
	t.Logf("receiver: %s\nsender: %s", lastLine(b.stderr.String()), lastLine(a.stderr.String()))
}
