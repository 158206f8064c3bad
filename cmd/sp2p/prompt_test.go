//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// ttyProc is the built binary run on a new pseudo-terminal that is its
// controlling terminal (so /dev/tty is the pty) and its stdin, stdout and
// stderr, as in a terminal window.
type ttyProc struct {
	cmd       *exec.Cmd
	ptmx, tty *os.File
	out       syncBuffer
	exited    chan struct{}
}

func startOnTTY(t *testing.T, home string, args ...string) *ttyProc {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	p := &ttyProc{cmd: exec.Command(sp2pBinary, args...), ptmx: ptmx, tty: tty, exited: make(chan struct{})}
	p.cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "TERM=dumb"}
	p.cmd.Stdin, p.cmd.Stdout, p.cmd.Stderr = tty, tty, tty
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			p.out.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	go func() { p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill() // by PID: only our own process
			<-p.exited
		}
		tty.Close()
		ptmx.Close()
	})
	return p
}

// waitText waits until the terminal shows text.
func (p *ttyProc) waitText(t *testing.T, text string) {
	t.Helper()
	if !p.shows(text, 30*time.Second) {
		t.Fatalf("%v: timed out waiting for %q:\n%s", p.cmd.Args[1:], text, p.out.String())
	}
}

// shows reports whether the terminal shows text within limit (the output
// of a process that has exited may still be on its way).
func (p *ttyProc) shows(text string, limit time.Duration) bool {
	for deadline := time.Now().Add(limit); !strings.Contains(p.out.String(), text); {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// typeKeys writes keys to the terminal, as typed.
func (p *ttyProc) typeKeys(t *testing.T, keys string) {
	t.Helper()
	time.Sleep(100 * time.Millisecond) // the prompt is shown before the terminal is read
	if _, err := p.ptmx.WriteString(keys); err != nil {
		t.Fatal(err)
	}
}

// exitCode waits a few seconds for the process to end: a prompt that
// ignores Ctrl-C or Ctrl-D fails here.
func (p *ttyProc) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		t.Fatalf("%v still running 5s after the keys:\n%s", p.cmd.Args[1:], p.out.String())
	}
	p.drain()
	return p.cmd.ProcessState.ExitCode()
}

// drain waits (up to 2 s) until what the exited process wrote to the
// terminal has been read into p.out: nothing left to read on the master
// side and p.out no longer growing. (The test keeps the terminal's slave
// side open, so the reader never sees an end of file.)
func (p *ttyProc) drain() {
	pending := func() int {
		n := 0
		if rc, err := p.ptmx.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), unix.TIOCINQ) })
		}
		return n
	}
	deadline := time.Now().Add(2 * time.Second)
	last := -1
	for time.Now().Before(deadline) {
		l := len(p.out.String())
		if pending() == 0 && l == last {
			return
		}
		last = l
		time.Sleep(50 * time.Millisecond)
	}
}

// checkRestored fails if the process left the terminal without echo or
// line editing.
func (p *ttyProc) checkRestored(t *testing.T) {
	t.Helper()
	tio, err := unix.IoctlGetTermios(int(p.tty.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if tio.Lflag&unix.ECHO == 0 || tio.Lflag&unix.ICANON == 0 || tio.Lflag&unix.ISIG == 0 || tio.Oflag&unix.OPOST == 0 {
		t.Errorf("terminal left in raw or no-echo mode: lflag %#x oflag %#x", tio.Lflag, tio.Oflag)
	}
}

// encryptedHome is a HOME whose identity is encrypted with a passphrase.
func encryptedHome(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	pass := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(pass, []byte("correct horse battery staple\n"), 0o600)
	if r := runBinary(t, home, "", "keygen", "--passphrase-file", pass); r.code != 0 {
		t.Fatalf("keygen: %s", r.stderr)
	}
	return home
}

// offerToken runs an inviter that writes an offer token to a file and
// waits (killed at cleanup); it returns the token.
func offerToken(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	offer := filepath.Join(dir, "offer")
	startBinary(t, newHome(t), nil, "invite", "--offer-file", offer, "--answer-file", filepath.Join(dir, "answer"), "--loopback", "--yes")
	var token string
	waitFor(t, "the offer token", func() bool {
		b, err := os.ReadFile(offer)
		token = strings.TrimSpace(string(b))
		return err == nil && token != ""
	})
	return token
}

func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// Ctrl-C at the passphrase prompt of accept exits 130 at once ("sp2p:
// interrupted"), writes no answer token and restores the terminal; Ctrl-D
// exits 1 saying no passphrase was given, without keygen's advice.
func TestPassphrasePromptCtrlCAndCtrlD(t *testing.T) {
	t.Parallel()
	token := offerToken(t)
	for _, c := range []struct {
		key, want string
		code      int
	}{
		{"\x03", "sp2p: interrupted", 130},
		{"\x04", "no passphrase given (Ctrl-D)", 1},
		{"\r", "empty passphrase", 1},
	} {
		home, dir := encryptedHome(t), t.TempDir()
		p := startOnTTY(t, home, "accept", "--loopback", "--answer-file", filepath.Join(dir, "answer"), token)
		p.waitText(t, "Passphrase for ")
		p.typeKeys(t, c.key)
		if code := p.exitCode(t); code != c.code {
			t.Errorf("%q at the passphrase prompt: exit %d, want %d\n%s", c.key, code, c.code, p.out.String())
		}
		if !p.shows(c.want, 5*time.Second) {
			t.Errorf("%q at the passphrase prompt: the terminal does not show %q:\n%s", c.key, c.want, p.out.String())
		}
		if p.shows("sp2p: hint:", time.Second); strings.Contains(p.out.String(), "--no-passphrase") {
			t.Errorf("%q at accept's passphrase prompt gives keygen's advice:\n%s", c.key, p.out.String())
		}
		if left := dirEntries(t, dir); len(left) != 0 {
			t.Errorf("%q at the passphrase prompt left %v", c.key, left)
		}
		p.checkRestored(t)
	}
}

// keygen: Ctrl-C at the new passphrase (or its repetition) exits 130 and
// writes no identity; Ctrl-D says no passphrase was given and points to
// --no-passphrase.
func TestKeygenPromptCtrlCAndCtrlD(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		keys, want string
		code       int
	}{
		{"\x03", "sp2p: interrupted", 130},
		{"secret\r\x03", "sp2p: interrupted", 130},
		{"\x04", "--no-passphrase", 1},
	} {
		home := t.TempDir()
		p := startOnTTY(t, home, "keygen")
		p.waitText(t, "New passphrase for ")
		p.typeKeys(t, c.keys)
		if code := p.exitCode(t); code != c.code || !p.shows(c.want, 5*time.Second) {
			t.Errorf("%q at keygen's prompt: exit %d, want %d saying %q\n%s", c.keys, code, c.code, c.want, p.out.String())
		}
		if _, err := os.Stat(filepath.Join(home, ".config", "sp2p", "identity")); err == nil {
			t.Errorf("%q at keygen's prompt: an identity was written", c.keys)
		}
		p.checkRestored(t)
	}
}

// The y/N question of accept: Ctrl-C exits 130, Ctrl-D means no; either
// way no answer token is made. Typing "y" after Backspace and Ctrl-U
// edits still answers yes.
func TestPromptCtrlC(t *testing.T) {
	t.Parallel()
	token := offerToken(t)
	for _, c := range []struct {
		keys, want string
		code       int
	}{
		{"\x03", "sp2p: interrupted", 130},
		{"\x04", "refused by you", 1},
		{"y\x15n\r", "refused by you", 1},
	} {
		home, dir := newHome(t), t.TempDir()
		p := startOnTTY(t, home, "accept", "--loopback", "--answer-file", filepath.Join(dir, "answer"), token)
		p.waitText(t, "Accept this invitation? [y/N] ")
		p.typeKeys(t, c.keys)
		if code := p.exitCode(t); code != c.code || !p.shows(c.want, 5*time.Second) {
			t.Errorf("%q at accept's question: exit %d, want %d saying %q\n%s", c.keys, code, c.code, c.want, p.out.String())
		}
		if left := dirEntries(t, dir); len(left) != 0 {
			t.Errorf("%q at accept's question left %v", c.keys, left)
		}
		p.checkRestored(t)
	}
}

// Backspace edits the answer to the y/N question; Ctrl-C while accept
// then waits for the inviter exits 130 and removes the answer token file
// it wrote.
func TestPromptEditThenCtrlCWhileWaiting(t *testing.T) {
	t.Parallel()
	token := offerToken(t)
	dir := t.TempDir()
	answer := filepath.Join(dir, "answer")
	p := startOnTTY(t, newHome(t), "accept", "--loopback", "--answer-file", answer, token)
	p.waitText(t, "Accept this invitation? [y/N] ")
	p.typeKeys(t, "no\x7f\x7fy\r")
	p.waitText(t, "waiting for the inviter to connect")
	if _, err := os.Stat(answer); err != nil {
		t.Fatalf("no answer token after a yes: %v\n%s", err, p.out.String())
	}
	p.typeKeys(t, "\x03")
	if code := p.exitCode(t); code != 130 || !p.shows("sp2p: interrupted", 5*time.Second) {
		t.Errorf("Ctrl-C while accept waits: exit %d\n%s", code, p.out.String())
	}
	if left := dirEntries(t, dir); len(left) != 0 {
		t.Errorf("Ctrl-C while accept waits left %v", left)
	}
	p.checkRestored(t)
}

// Ctrl-C at the inviter's question (after the answer came) exits 130,
// closes the invitation without connecting and removes the offer token
// file it wrote.
func TestInvitePromptCtrlC(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	offer, answer := filepath.Join(dir, "offer"), filepath.Join(dir, "answer")
	a := startOnTTY(t, newHome(t), "invite", "--loopback", "--offer-file", offer, "--answer-file", answer)
	b := startBinary(t, newHome(t), nil, "accept", "--loopback", "--offer-file", offer, "--answer-file", answer, "--yes")
	a.waitText(t, "Connect to this peer? [y/N] ")
	a.typeKeys(t, "\x03")
	if code := a.exitCode(t); code != 130 || !a.shows("sp2p: interrupted", 5*time.Second) {
		t.Errorf("Ctrl-C at invite's question: exit %d\n%s", code, a.out.String())
	}
	if _, err := os.Stat(offer); err == nil {
		t.Error("the offer token file is left behind")
	}
	a.checkRestored(t)
	// The invitee is told that the inviter gave up
	// (TestBinaryInviterRefuses); it must not have connected.
	b.cmd.Process.Kill() // by PID: only our own process
	b.cmd.Wait()
	if strings.Contains(b.stderr.String(), "connected to") {
		t.Errorf("the invitee connected to an interrupted inviter:\n%s", b.stderr.String())
	}
}

// Ctrl-C at receive's question exits 130 and writes nothing in --out;
// the sender learns that the files were declined.
func TestReceivePromptCtrlC(t *testing.T) {
	t.Parallel()
	dir, src, out := t.TempDir(), t.TempDir(), t.TempDir()
	offer, answer := filepath.Join(dir, "offer"), filepath.Join(dir, "answer")
	os.WriteFile(filepath.Join(src, "f.txt"), []byte("hello"), 0o644)
	a := startBinary(t, newHome(t), nil, "send", "--loopback", "--offer-file", offer, "--answer-file", answer, "--yes", filepath.Join(src, "f.txt"))
	b := startOnTTY(t, newHome(t), "receive", "--loopback", "--offer-file", offer, "--answer-file", answer, "--out", out)
	b.waitText(t, "Receive this file into ")
	b.typeKeys(t, "\x03")
	if code := b.exitCode(t); code != 130 || !b.shows("sp2p: interrupted", 5*time.Second) {
		t.Errorf("Ctrl-C at receive's question: exit %d\n%s", code, b.out.String())
	}
	if left := dirEntries(t, out); len(left) != 0 {
		t.Errorf("Ctrl-C at receive's question left %v in --out", left)
	}
	b.checkRestored(t)
	if code := a.wait(t, 30*time.Second); code != 1 || !strings.Contains(a.stderr.String(), "declined") {
		t.Errorf("sender after the receiver's Ctrl-C: exit %d\n%s", code, a.stderr.String())
	}
}

// SIGTERM while a prompt reads the terminal: the terminal is restored and
// the command exits 130.
func TestPromptSignalRestoresTerminal(t *testing.T) {
	t.Parallel()
	p := startOnTTY(t, t.TempDir(), "keygen")
	p.waitText(t, "New passphrase for ")
	p.typeKeys(t, "abc")
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.exitCode(t); code != 130 {
		t.Errorf("SIGTERM at a prompt: exit %d\n%s", code, p.out.String())
	}
	p.checkRestored(t)
}

// The inviter waiting for the answer to be pasted: Ctrl-C exits 130;
// Ctrl-D ends with an error that names the answer token.
func TestInvitePasteCtrlCAndCtrlD(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		key, want string
		code      int
	}{
		{"\x03", "sp2p: interrupted", 130},
		{"\x04", "reading the answer token: input ended before a complete token", 1},
	} {
		p := startOnTTY(t, newHome(t), "invite", "--loopback")
		p.waitText(t, "(paste it here)")
		p.typeKeys(t, c.key)
		if code := p.exitCode(t); code != c.code || !p.shows(c.want, 5*time.Second) {
			t.Errorf("%q while invite waits for the pasted answer: exit %d, want %d saying %q\n%s", c.key, code, c.code, c.want, p.out.String())
		}
		p.checkRestored(t)
	}
}
