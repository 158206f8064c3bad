package main

import (
	"os"
	"os/exec"
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
		a := startCmdBuffered(t, homeA, "invite", "--offer-file", offer, "--answer-file", answer, "--loopback", "--yes")
		b := startCmdBuffered(t, homeB, "accept", "--offer-file", offer, "--answer-file", answer, "--loopback", "--yes")
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

// chatProc is the binary with its stdin held open (a chat that has not
// seen Ctrl-D) and its stderr readable while it runs.
type chatProc struct {
	cmd  *exec.Cmd
	errb syncBuffer
}

func startCmdBuffered(t *testing.T, home string, args ...string) *chatProc {
	t.Helper()
	p := &chatProc{cmd: exec.Command(sp2pBinary, args...)}
	p.cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
	in, err := p.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = &p.errb
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close()
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill() // by PID: only our own process
			p.cmd.Wait()
		}
	})
	return p
}

func (p *chatProc) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(limit):
		p.cmd.Process.Kill()
		<-done
		t.Fatalf("%v did not finish in %v\nstderr:\n%s", p.cmd.Args[1:], limit, p.errb.String())
	}
	return p.cmd.ProcessState.ExitCode()
}
