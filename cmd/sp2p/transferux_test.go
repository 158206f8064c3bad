//go:build linux

package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
)

// liveProc is the built binary with its stdin held open until closeStdin
// and its stdout and stderr readable while it runs.
type liveProc struct {
	cmd       *exec.Cmd
	stdin     io.WriteCloser
	out, errb syncBuffer
}

func startLive(t *testing.T, home string, args ...string) *liveProc {
	t.Helper()
	p := &liveProc{cmd: exec.Command(sp2pBinary, args...)}
	p.cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
	in, err := p.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.stdin = in
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.errb
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

func (p *liveProc) wait(t *testing.T, limit time.Duration) int {
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

// tokenFiles returns fresh offer and answer token file names.
func tokenFiles(t *testing.T) []string {
	dir := t.TempDir()
	return []string{"--offer-file", filepath.Join(dir, "offer"), "--answer-file", filepath.Join(dir, "answer")}
}

func args(parts ...any) []string {
	var out []string
	for _, p := range parts {
		switch v := p.(type) {
		case string:
			out = append(out, v)
		case []string:
			out = append(out, v...)
		}
	}
	return out
}

// Ctrl-C in the middle of a transfer, on either side: the side that
// pressed it exits 130 with the advice to run the same command again to
// resume; the other side is told at once (well within its heartbeat
// timeout) that the peer stopped, with the same advice, and no word of a
// heartbeat timeout (the peer closed cleanly, it was not lost). The second
// run resumes from what the first one left.
func TestBinaryInterruptedTransferExplains(t *testing.T) {
	t.Parallel()
	homeA, homeB := newHome(t), newHome(t)
	src, out := t.TempDir(), t.TempDir()
	big := filepath.Join(src, "big.bin")
	writeRandomFile(t, big, 64<<20)
	for _, side := range []string{"sender", "receiver"} {
		tok := tokenFiles(t)
		a := startLive(t, homeA, args("send", tok, "--yes", "--loopback", "--heartbeat", "60s", big)...)
		b := startLive(t, homeB, args("receive", tok, "--yes", "--loopback", "--heartbeat", "60s", "--out", out)...)
		var have int64
		if ents, _ := os.ReadDir(out); len(ents) == 1 {
			info, _ := ents[0].Info()
			have = info.Size()
		}
		waitForBytes(t, out, have+4<<20)
		me, peer, cmd := a, b, "send"
		if side == "receiver" {
			me, peer, cmd = b, a, "receive"
		}
		me.cmd.Process.Signal(os.Interrupt)
		if code := me.wait(t, 10*time.Second); code != 130 {
			t.Fatalf("%s after Ctrl-C: exit %d\n%s", side, code, me.errb.String())
		}
		if e := me.errb.String(); !strings.Contains(e, "sp2p: interrupted") || !strings.Contains(e, "run the same "+cmd+" again") || !strings.Contains(e, "resume") {
			t.Errorf("%s's Ctrl-C says nothing about resuming:\n%s", side, e)
		}
		code := peer.wait(t, 15*time.Second) // the heartbeat timeout is 60 s
		e := peer.errb.String()
		if code != 1 {
			t.Fatalf("the peer of the %s that pressed Ctrl-C: exit %d\n%s", side, code, e)
		}
		what := map[string]string{"sender": "the sender stopped sending", "receiver": "the receiver stopped receiving"}[side]
		other := map[string]string{"sender": "receive", "receiver": "send"}[side]
		if !strings.Contains(e, what) || !strings.Contains(e, "run the same "+other+" again") {
			t.Errorf("the peer of the %s is not told that it stopped, and how to resume:\n%s", side, e)
		}
		t.Logf("the %s pressed Ctrl-C:\n%s\nits peer:\n%s", side, me.errb.String(), e)
		if strings.Contains(e, "heartbeat") || strings.Contains(e, "lost") {
			t.Errorf("a clean stop by the %s is reported as a lost peer:\n%s", side, e)
		}
	}
	tok := tokenFiles(t)
	a := startLive(t, homeA, args("send", tok, "--yes", "--loopback", big)...)
	b := startLive(t, homeB, args("receive", tok, "--yes", "--loopback", "--out", out)...)
	if code := b.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("the third run: exit %d\n%s", code, b.errb.String())
	}
	a.wait(t, 30*time.Second)
	if !strings.Contains(b.errb.String(), "resumed: ") || fileHash(t, big) != fileHash(t, filepath.Join(out, "big.bin")) {
		t.Fatalf("the third run did not resume to the right content:\n%s", b.errb.String())
	}
}

var secondsRE = regexp.MustCompile(`"event":"done".*"seconds":([0-9.e+-]+)`)

func doneSeconds(t *testing.T, who, jsonLines string) float64 {
	t.Helper()
	m := secondsRE.FindStringSubmatch(jsonLines)
	if m == nil {
		t.Fatalf("%s: no done event:\n%s", who, jsonLines)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// The summary's time (and so its rate) counts from the first byte: the
// seconds the receiver spends at its question are not in it, on either
// side.
func TestBinaryTransferSummaryFromFirstByte(t *testing.T) {
	t.Parallel()
	src, out := t.TempDir(), t.TempDir()
	f := filepath.Join(src, "f.bin")
	writeRandomFile(t, f, 2<<20)
	tok := tokenFiles(t)
	a := startLive(t, newHome(t), args("send", tok, "--yes", "--loopback", "--json", f)...)
	b := startOnTTY(t, newHome(t), args("receive", tok, "--loopback", "--json", "--out", out)...)
	b.waitText(t, "Receive this file into ")
	const atPrompt = 3 * time.Second
	time.Sleep(atPrompt)
	b.typeKeys(t, "y\r")
	if code := b.exitCode(t); code != 0 {
		t.Fatalf("receive: exit %d\n%s", code, b.out.String())
	}
	if code := a.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("send: exit %d\n%s", code, a.errb.String())
	}
	for who, s := range map[string]float64{"receiver": doneSeconds(t, "receiver", b.out.String()), "sender": doneSeconds(t, "sender", a.out.String())} {
		if s >= atPrompt.Seconds() {
			t.Errorf("the %s's summary counts the time at the prompt: %v s", who, s)
		}
	}
}

// Receiving the same files into the same --out again is no error: a file
// already there with the same SHA-256 is "already here", skipped, and both
// summaries say so. A different file at the name is still refused.
func TestBinaryReceiveAlreadyHere(t *testing.T) {
	t.Parallel()
	homeA, homeB := newHome(t), newHome(t)
	src, out := t.TempDir(), t.TempDir()
	f := filepath.Join(src, "f.bin")
	writeRandomFile(t, f, 1<<20)
	transfer := func() (*liveProc, *liveProc, int, int) {
		tok := tokenFiles(t)
		a := startLive(t, homeA, args("send", tok, "--yes", "--loopback", f)...)
		b := startLive(t, homeB, args("receive", tok, "--yes", "--loopback", "--out", out)...)
		cb := b.wait(t, 60*time.Second)
		return a, b, a.wait(t, 30*time.Second), cb
	}
	if _, b, ca, cb := transfer(); ca != 0 || cb != 0 {
		t.Fatalf("first transfer: exit %d, %d\n%s", ca, cb, b.errb.String())
	}
	a, b, ca, cb := transfer()
	if ca != 0 || cb != 0 {
		t.Fatalf("the same transfer again: exit %d, %d\n%s\n%s", ca, cb, a.errb.String(), b.errb.String())
	}
	if e := b.errb.String(); !strings.Contains(e, "already here: 1 file, 1.0 MiB") || !strings.Contains(e, "received 0 files, 0 B") {
		t.Errorf("the receiver does not say the file was already here:\n%s", e)
	}
	if e := a.errb.String(); !strings.Contains(e, "1 file was already on the receiver's side") || !strings.Contains(e, "sent 0 files, 0 B") {
		t.Errorf("the sender does not say the file was skipped:\n%s", e)
	}
	writeRandomFile(t, filepath.Join(out, "f.bin"), 1<<20)
	_, b, ca, cb = transfer()
	if ca != 1 || cb != 1 || !strings.Contains(b.errb.String(), "exists") {
		t.Errorf("a different file at the name: exit %d, %d\n%s", ca, cb, b.errb.String())
	}
}

var rateRE = regexp.MustCompile(`([0-9.]+) ([kKMGTPE]?i?B)/s`)

// A resumed transfer's bar counts from the resume point: it starts at 0 of
// what is left (its description says how much was already there), its rate
// is that of the bytes moving now (not tens of TB/s from the bytes already
// there), and it speaks the summary's units (MiB, not MB).
func TestBinaryResumedProgressBar(t *testing.T) {
	t.Parallel()
	src, out := t.TempDir(), t.TempDir()
	big := filepath.Join(src, "big.bin")
	writeRandomFile(t, big, 48<<20)
	data, err := os.ReadFile(big)
	if err != nil {
		t.Fatal(err)
	}
	part := filepath.Join(out, ".big.bin.sp2p-part")
	if err := os.WriteFile(part, data[:40<<20], 0o600); err != nil {
		t.Fatal(err)
	}
	tok := tokenFiles(t)
	a := startOnTTY(t, newHome(t), args("send", tok, "--yes", "--loopback", "--save-peer", "bob", big)...)
	b := startOnTTY(t, newHome(t), args("receive", tok, "--yes", "--loopback", "--save-peer", "alice", "--out", out)...)
	for _, p := range []*ttyProc{a, b} { // a wide terminal: the bar has room
		pty.Setsize(p.ptmx, &pty.Winsize{Rows: 50, Cols: 160})
	}
	for who, p := range map[string]*ttyProc{"receiver": b, "sender": a} {
		if code := p.exitCode(t); code != 0 {
			t.Fatalf("%s: exit %d\n%s", who, code, p.out.String())
		}
	}
	for who, p := range map[string]*ttyProc{"receiver": b, "sender": a} {
		screen := p.out.String()
		if !strings.Contains(screen, "40.0 MiB of 48.0 MiB already there") {
			t.Errorf("%s: the bar does not say what was already there:\n%q", who, screen)
		}
		rates := rateRE.FindAllStringSubmatch(screen, -1)
		if len(rates) == 0 {
			t.Errorf("%s: no rate shown:\n%q", who, screen)
		}
		for _, r := range rates {
			v, _ := strconv.ParseFloat(r[1], 64)
			if !strings.Contains(r[2], "i") && r[2] != "B" {
				t.Errorf("%s: SI units %q on the screen, the summary says MiB", who, r[0])
			}
			if r[2] == "TiB" || r[2] == "TB" || r[2] == "PiB" || r[2] == "PB" || (strings.HasPrefix(r[2], "G") && v >= 4) {
				t.Errorf("%s: an impossible rate %q: the bar counted the bytes already there", who, r[0])
			}
		}
		t.Logf("%s's screen:\n%q", who, screen)
		if !strings.Contains(screen, " 8.0 MiB in ") {
			t.Errorf("%s: the summary does not count only the bytes moved now:\n%q", who, screen)
		}
	}
}

// --pipe says on stderr when one direction has ended and what ends the
// session: the side whose input ended waits for the peer, and the side
// whose peer finished is told that its own input (or Ctrl-C) ends it.
func TestBinaryPipeSaysWhoFinished(t *testing.T) {
	t.Parallel()
	tok := tokenFiles(t)
	a := startLive(t, newHome(t), args("invite", tok, "--pipe", "--yes", "--loopback")...)
	b := startLive(t, newHome(t), args("accept", tok, "--pipe", "--yes", "--loopback")...)
	io.WriteString(a.stdin, "hello\n")
	a.stdin.Close()
	waitFor(t, "the data", func() bool { return strings.Contains(b.out.String(), "hello") })
	waitFor(t, "the receiver to be told", func() bool { return strings.Contains(b.errb.String(), "has finished sending") })
	waitFor(t, "the sender to be told", func() bool { return strings.Contains(a.errb.String(), "your input has ended") })
	if e := b.errb.String(); !strings.Contains(e, "the session ends when your input ends") {
		t.Errorf("the side still sending is not told what ends the session:\n%s", e)
	}
	if e := a.errb.String(); !strings.Contains(e, "waiting for peer to finish sending") || !strings.Contains(e, "Ctrl-C ends the session") {
		t.Errorf("the side that finished is not told what it waits for:\n%s", e)
	}
	if a.cmd.ProcessState != nil {
		t.Fatal("the inviter ended while the peer was still sending")
	}
	b.stdin.Close()
	if ca, cb := a.wait(t, 10*time.Second), b.wait(t, 10*time.Second); ca != 0 || cb != 0 {
		t.Fatalf("exit %d, %d\n%s\n%s", ca, cb, a.errb.String(), b.errb.String())
	}
}

// send and receive pin the peer: under --save-peer NAME, or by the
// question after the transfer when a person is at the terminal.
func TestBinaryTransferSavesPeer(t *testing.T) {
	t.Parallel()
	homeA, homeB, homeC := newHome(t), newHome(t), newHome(t)
	src, outB, outC := t.TempDir(), t.TempDir(), t.TempDir()
	f := filepath.Join(src, "f.txt")
	os.WriteFile(f, []byte("hello"), 0o644)
	id := func(home string) string { return strings.SplitN(runBinary(t, home, "", "id").stdout, "\n", 2)[0] }
	pinned := func(home, name, peer string) bool {
		return strings.Contains(runBinary(t, home, "", "peers", "list").stdout, name) &&
			strings.Contains(runBinary(t, home, "", "peers", "list").stdout, id(peer))
	}

	// The sender with --save-peer; the receiver on a terminal is asked.
	tok := tokenFiles(t)
	a := startLive(t, homeA, args("send", tok, "--yes", "--loopback", "--save-peer", "bob", f)...)
	b := startOnTTY(t, homeB, args("receive", tok, "--yes", "--loopback", "--out", outB)...)
	b.waitText(t, "Pin this peer for next time? Name (Enter to skip): ")
	b.typeKeys(t, "alice\r")
	if code := b.exitCode(t); code != 0 || !b.shows("saved the peer as alice", 5*time.Second) {
		t.Fatalf("receive: exit %d\n%s", code, b.out.String())
	}
	if code := a.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("send: exit %d\n%s", code, a.errb.String())
	}
	if !pinned(homeA, "bob", homeB) {
		t.Error("send --save-peer bob did not pin the receiver")
	}
	if !pinned(homeB, "alice", homeA) {
		t.Error("the question after receive did not pin the sender")
	}

	// The receiver with --save-peer, the sender (pinned to bob only) from a
	// script: it is not asked.
	tok = tokenFiles(t)
	a = startLive(t, homeA, args("send", tok, "--yes", "--loopback", f)...)
	c := startLive(t, homeC, args("receive", tok, "--yes", "--loopback", "--save-peer", "alice", "--out", outC)...)
	if cc, ca := c.wait(t, 30*time.Second), a.wait(t, 30*time.Second); cc != 0 || ca != 0 {
		t.Fatalf("exit %d, %d\n%s\n%s", cc, ca, c.errb.String(), a.errb.String())
	}
	if !pinned(homeC, "alice", homeA) {
		t.Errorf("receive --save-peer alice did not pin the sender:\n%s", c.errb.String())
	}
	if !strings.Contains(a.errb.String(), "hint: pin this peer for next time") {
		t.Errorf("the sender from a script got no hint to pin the peer:\n%s", a.errb.String())
	}
}
