package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Ctrl-C (SIGINT) leaves a chat as Ctrl-D does: exit 0, every time (the
// cancelled context used to race with the receive loop's own error, which
// then exited 1 with "context canceled").
func TestChatCtrlCLeaves(t *testing.T) {
	t.Parallel()
	homeA, homeB := newHome(t), newHome(t)
	for i := range 3 {
		dir := t.TempDir()
		offer, answer := filepath.Join(dir, "offer"), filepath.Join(dir, "answer")
		a := startLive(t, homeA, "invite", "--offer-file", offer, "--answer-file", answer, "--loopback", "--yes")
		b := startLive(t, homeB, "accept", "--offer-file", offer, "--answer-file", answer, "--loopback", "--yes")
		waitFor(t, "both connected", func() bool {
			return strings.Contains(a.errb.String(), "safety code: ") && strings.Contains(b.errb.String(), "safety code: ")
		})
		a.cmd.Process.Signal(os.Interrupt)
		if code := a.wait(t, 10*time.Second); code != 0 {
			t.Fatalf("run %d: Ctrl-C in the chat: exit %d\n%s", i, code, a.errb.String())
		}
		if code := b.wait(t, 10*time.Second); code != 0 {
			t.Fatalf("run %d: the peer after the other left: exit %d\n%s", i, code, b.errb.String())
		}
	}
}
