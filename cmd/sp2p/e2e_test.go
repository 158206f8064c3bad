package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sp2p/sp2p/invite"
)

// newHome makes a temporary HOME with an unencrypted identity.
func newHome(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	if r := runBinary(t, home, "", "keygen", "--no-passphrase"); r.code != 0 {
		t.Fatalf("keygen: %s", r.stderr)
	}
	return home
}

type proc struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
}

func startBinary(t *testing.T, home string, stdin []byte, args ...string) *proc {
	t.Helper()
	return startCmd(t, exec.Command(sp2pBinary, args...), stdin, "HOME="+home, "PATH="+os.Getenv("PATH"))
}

// startCmd starts cmd with exactly env, stdin and captured output; it is
// killed (by PID: only our own process) at cleanup if still running.
func startCmd(t *testing.T, cmd *exec.Cmd, stdin []byte, env ...string) *proc {
	t.Helper()
	p := &proc{cmd: cmd}
	p.cmd.Env = env
	p.cmd.Stdin = bytes.NewReader(stdin)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	})
	return p
}

func (p *proc) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	return waitExit(t, p.cmd, limit, p.stderr.String)
}

// waitExit waits for cmd to end and returns its exit code; after limit it
// kills it and fails the test, showing its stderr.
func waitExit(t *testing.T, cmd *exec.Cmd, limit time.Duration, stderr func() string) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(limit):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%v did not finish in %v\nstderr:\n%s", cmd.Args, limit, stderr())
	}
	return cmd.ProcessState.ExitCode()
}

// Two real sp2p processes with separate identities exchange tokens through
// files and carry data both ways in --pipe mode (with a half close on each
// side), byte for byte.
func TestBinaryPipeBothWays(t *testing.T) {
	t.Parallel()
	homeA, homeB := newHome(t), newHome(t)
	dir := t.TempDir()
	offer, answer := filepath.Join(dir, "offer"), filepath.Join(dir, "answer")
	dataA, dataB := make([]byte, 3<<20), make([]byte, 1<<20+17)
	rand.Read(dataA)
	rand.Read(dataB)
	a := startBinary(t, homeA, dataA, "invite", "--offer-file", offer, "--answer-file", answer, "--pipe", "--yes", "--loopback")
	b := startBinary(t, homeB, dataB, "accept", "--offer-file", offer, "--answer-file", answer, "--pipe", "--yes", "--loopback", "--save-peer", "alice")
	codeA, codeB := a.wait(t, 60*time.Second), b.wait(t, 60*time.Second)
	if codeA != 0 || codeB != 0 {
		t.Fatalf("exit codes %d %d\nA:\n%s\nB:\n%s", codeA, codeB, a.stderr.String(), b.stderr.String())
	}
	if !bytes.Equal(b.stdout.Bytes(), dataA) || !bytes.Equal(a.stdout.Bytes(), dataB) {
		t.Fatalf("data differs: A sent %d, B got %d; B sent %d, A got %d", len(dataA), b.stdout.Len(), len(dataB), a.stdout.Len())
	}
	for _, p := range []*proc{a, b} {
		if !strings.Contains(p.stderr.String(), "safety code: ") || !strings.Contains(p.stderr.String(), "UNKNOWN") {
			t.Errorf("stderr does not show the safety code and the unknown-peer notice:\n%s", p.stderr.String())
		}
	}
	code := func(s string) string { i := strings.Index(s, "safety code: "); return s[i+13 : i+13+23] }
	if code(a.stderr.String()) != code(b.stderr.String()) {
		t.Error("the two sides show different safety codes")
	}
	// --save-peer pinned the inviter on Bob's side.
	aliceID := strings.SplitN(runBinary(t, homeA, "", "id").stdout, "\n", 2)[0]
	if list := runBinary(t, homeB, "", "peers", "list").stdout; !strings.Contains(list, "alice") || !strings.Contains(list, aliceID) {
		t.Errorf("--save-peer did not pin alice:\n%s", list)
	}
}

// An invitation for a named peer is refused by anyone else, and accept
// --expect refuses an invitation from anyone but the expected inviter.
func TestBinaryRecipientAndExpect(t *testing.T) {
	t.Parallel()
	homeA, homeB, homeC := newHome(t), newHome(t), newHome(t)
	idOf := func(home string) string {
		return strings.SplitN(runBinary(t, home, "", "id").stdout, "\n", 2)[0]
	}
	dir := t.TempDir()
	offer := filepath.Join(dir, "offer")
	a := startBinary(t, homeA, nil, "invite", "--to", idOf(homeB), "--offer-file", offer, "--answer-file", filepath.Join(dir, "answer"), "--pipe", "--loopback", "--ttl", "20s")
	defer a.cmd.Process.Kill()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if b, err := os.ReadFile(offer); err == nil && len(b) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no offer written\n%s", a.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	r := runBinary(t, homeC, "", "accept", "--offer-file", offer, "--answer-file", filepath.Join(dir, "c-answer"), "--yes", "--loopback", "--pipe")
	if r.code != 1 || !strings.Contains(r.stderr, "someone else") {
		t.Fatalf("a third party accepted a --to invitation: exit %d\n%s", r.code, r.stderr)
	}
	r = runBinary(t, homeB, "", "accept", "--offer-file", offer, "--answer-file", filepath.Join(dir, "b-answer"), "--expect", idOf(homeC), "--loopback", "--pipe")
	if r.code != 1 || !strings.Contains(r.stderr, "unexpected identity") {
		t.Fatalf("--expect did not refuse another inviter: exit %d\n%s", r.code, r.stderr)
	}
}

// invite --qr-png writes the offer's QR code as a PNG (and --qr draws it
// on stderr); accept --qr-image reads the offer from that PNG.
func TestBinaryAcceptFromQRImage(t *testing.T) {
	t.Parallel()
	homeA, homeB := newHome(t), newHome(t)
	dir := t.TempDir()
	offerPath, pngPath := filepath.Join(dir, "offer"), filepath.Join(dir, "offer.png")
	a := startBinary(t, homeA, []byte("via qr"), "invite", "--offer-file", offerPath, "--answer-file", filepath.Join(dir, "answer"),
		"--qr", "--qr-style", "light", "--qr-png", pngPath, "--pipe", "--yes", "--loopback")
	for deadline := time.Now().Add(20 * time.Second); ; {
		if b, err := os.ReadFile(pngPath); err == nil && len(b) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("invite --qr-png wrote no PNG within 20 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	b := startBinary(t, homeB, nil, "accept", "--qr-image", pngPath, "--answer-file", filepath.Join(dir, "answer"), "--pipe", "--yes", "--loopback")
	if code := b.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("accept --qr-image: exit %d\n%s", code, b.stderr.String())
	}
	a.wait(t, 30*time.Second)
	if b.stdout.String() != "via qr" {
		t.Fatalf("received %q", b.stdout.String())
	}
	// Read once the inviter has exited: its stderr is written until then.
	if !strings.Contains(a.stderr.String(), "█") || strings.Contains(a.stderr.String(), "\x1b[") {
		t.Errorf("--qr --qr-style light drew no plain QR code on stderr:\n%s", a.stderr.String())
	}
}

// syncBuffer is a bytes.Buffer safe to read while a process writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitForBytes waits until some file in dir holds more than n bytes (a
// transfer is under way).
func waitForBytes(t *testing.T, dir string, n int64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("more than %d bytes in %s", n, dir), func() bool {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if info, err := e.Info(); err == nil && info.Size() > n {
				return true
			}
		}
		return false
	})
}

// Line chat between two processes: typed lines arrive on the other side,
// prefixed with the peer's name (JSON events with --json), and leaving
// with Ctrl-D (EOF) ends both sides cleanly.
func TestBinaryChat(t *testing.T) {
	t.Parallel()
	homeA, homeB := newHome(t), newHome(t)
	dir := t.TempDir()
	offer, answer := filepath.Join(dir, "offer"), filepath.Join(dir, "answer")
	start := func(home string, args ...string) (*exec.Cmd, io.WriteCloser, *syncBuffer, *syncBuffer) {
		return startPiped(t, home, args...)
	}
	// Bob is pinned as "bob" on Alice's side, so she sees his name.
	bobID := strings.SplitN(runBinary(t, homeB, "", "id").stdout, "\n", 2)[0]
	runBinary(t, homeA, "", "peers", "add", "bob", bobID)
	ca, ina, outa, erra := start(homeA, "invite", "--to", "bob", "--offer-file", offer, "--answer-file", answer, "--loopback")
	cb, inb, outb, errb := start(homeB, "accept", "--offer-file", offer, "--answer-file", answer, "--yes", "--loopback", "--json")
	waitFor(t, "both connected", func() bool {
		return strings.Contains(erra.String(), "safety code") && strings.Contains(errb.String(), "safety code")
	})
	io.WriteString(ina, "hello from alice \x1b[2J\n")
	waitFor(t, "bob to receive", func() bool { return strings.Contains(outb.String(), `"text":"hello from alice`) })
	io.WriteString(inb, "hi alice\x1b[31m \u202eevil\u2028sp2p: fake line\n")
	waitFor(t, "alice to receive", func() bool {
		return strings.Contains(outa.String(), `bob: hi alice\x1b[31m \u202eevil\u2028sp2p: fake line`)
	})
	ina.Close() // Alice presses Ctrl-D
	if err := ca.Wait(); err != nil {
		t.Fatalf("alice: %v\n%s", err, erra.String())
	}
	done := make(chan error, 1)
	go func() { done <- cb.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("bob: %v\n%s", err, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("bob did not end after alice left")
	}
	inb.Close()
	if !strings.Contains(errb.String(), "left") {
		t.Errorf("bob was not told that alice left:\n%s", errb.String())
	}
	// Bob's JSON lines carry the escape sequence as data; Alice's terminal
	// output never carries raw escapes from the peer.
	var sawConnected bool
	for _, line := range strings.Split(strings.TrimSpace(outb.String()), "\n") {
		var e map[string]string
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("--json line is not JSON: %q", line)
		}
		sawConnected = sawConnected || e["event"] == "connected"
	}
	if !sawConnected {
		t.Error("no connected event")
	}
	if strings.ContainsAny(outa.String(), "\x1b\u202e\u2028") {
		t.Error("a terminal escape, bidi override or line separator from the peer reached the terminal")
	}
}

// sp2p relay as the TURN server, both peers --relay-only: the data goes
// through the relay and arrives intact, and neither token carries a host
// or server-reflexive candidate. The relay runs with its default peer
// policy (no --allow-peer, although it is on loopback): two peers on the
// same relay talk relay to relay, which the policy permits.
func TestBinaryRelayOnly(t *testing.T) {
	t.Parallel()
	homeR, homeA, homeB := t.TempDir(), newHome(t), newHome(t)
	rcmd := exec.Command(sp2pBinary, "relay", "--listen", "127.0.0.1:0", "--relay-ip", "127.0.0.1", "--ports", "45000-46000", "--user", "friends")
	rcmd.Env = []string{"HOME=" + homeR, "SP2P_TURN_PASSWORD=s3cret"}
	rerr := &syncBuffer{}
	rcmd.Stderr = rerr
	if err := rcmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rcmd.Process.Kill(); rcmd.Wait() })
	var turnURL string
	waitFor(t, "the relay to start", func() bool {
		s := rerr.String()
		if i := strings.Index(s, "--turn '"); i >= 0 {
			rest := s[i+8:]
			turnURL = rest[:strings.Index(rest, "'")]
			return true
		}
		return false
	})
	dir := t.TempDir()
	offer, answer := filepath.Join(dir, "offer"), filepath.Join(dir, "answer")
	common := []string{"--offer-file", offer, "--answer-file", answer, "--pipe", "--yes", "--loopback", "--relay-only", "--turn", turnURL, "--turn-user", "friends"}
	start := func(home string, stdin []byte, args ...string) *proc {
		return startCmd(t, exec.Command(sp2pBinary, append(args, common...)...), stdin, "HOME="+home, "SP2P_TURN_PASSWORD=s3cret")
	}
	data := make([]byte, 1<<20)
	rand.Read(data)
	a := start(homeA, data, "invite")
	b := start(homeB, nil, "accept")
	if code := b.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("accept: exit %d\n%s", code, b.stderr.String())
	}
	a.wait(t, 30*time.Second)
	if !bytes.Equal(b.stdout.Bytes(), data) {
		t.Fatalf("received %d bytes, want %d", b.stdout.Len(), len(data))
	}
	for _, f := range []string{offer, answer} {
		raw, _ := os.ReadFile(f)
		kind, _, err := invite.Decode(string(raw))
		if err != nil {
			t.Fatal(err)
		}
		var cands []invite.Candidate
		if kind == invite.KindOffer {
			o, _ := invite.ParseOffer(string(raw))
			cands = o.Conn.Candidates
		} else {
			an, _ := invite.ParseAnswer(string(raw))
			cands = an.Conn.Candidates
		}
		for _, c := range cands {
			if c.Type != invite.Relay {
				t.Fatalf("%s carries a %v candidate under --relay-only", filepath.Base(f), c.Type)
			}
		}
	}
	if r := runBinary(t, homeA, "", "invite", "--relay-only", "--loopback"); r.code != 2 {
		t.Errorf("--relay-only without --turn: exit %d, want 2", r.code)
	}
}
