//go:build linux

package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/invite"
)

// Small things from "First contact without friction", each through the
// real binary.

func TestBinaryVersionFlag(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	cmd := runBinary(t, home, "", "version")
	flag := runBinary(t, home, "", "--version")
	if cmd.code != 0 || flag.code != 0 || flag.stdout != cmd.stdout || !strings.HasPrefix(flag.stdout, "sp2p ") {
		t.Fatalf("version: exit %d %q; --version: exit %d %q %s", cmd.code, cmd.stdout, flag.code, flag.stdout, flag.stderr)
	}
}

func TestBinarySendMissingPath(t *testing.T) {
	t.Parallel()
	home := newHome(t)
	r := runBinary(t, home, "", "send", "/nonexistent")
	if r.code != 1 || !strings.Contains(r.stderr, "sp2p: error: no such file: /nonexistent\n") || strings.Contains(r.stderr, "panic") {
		t.Fatalf("send /nonexistent: exit %d\n%s", r.code, r.stderr)
	}
}

func TestBinaryReceiveCreatesOut(t *testing.T) {
	t.Parallel()
	home := newHome(t)
	out := filepath.Join(home, "new", "downloads")
	// A bad token leaves nothing behind: --out is created only once the
	// invitation is checked.
	r := runBinary(t, home, "", "receive", "--out", out, "not-a-token")
	if r.code != 1 {
		t.Fatalf("receive with a bad token: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(home, "new")); !os.IsNotExist(err) {
		t.Fatalf("a bad token made --out's directories (%v)\n%s", err, r.stderr)
	}
	// A real transfer creates it, mode 0700, and says so.
	dir, src := t.TempDir(), t.TempDir()
	offer, answer := filepath.Join(dir, "offer"), filepath.Join(dir, "answer")
	os.WriteFile(filepath.Join(src, "f.txt"), []byte("hello"), 0o644)
	a := startBinary(t, newHome(t), nil, "send", "--loopback", "--offer-file", offer, "--answer-file", answer, "--yes", filepath.Join(src, "f.txt"))
	r = runBinary(t, home, "", "receive", "--loopback", "--offer-file", offer, "--answer-file", answer, "--yes", "--out", out)
	if r.code != 0 {
		t.Fatalf("receive: exit %d\n%s", r.code, r.stderr)
	}
	a.wait(t, 30*time.Second)
	fi, err := os.Stat(out)
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("--out not created as a 0700 directory (%v, %v)\n%s", fi, err, r.stderr)
	}
	if !strings.Contains(r.stderr, "created "+`"`+out+`"`+" (mode 0700)") {
		t.Errorf("creating --out is not reported:\n%s", r.stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "f.txt")); string(b) != "hello" {
		t.Errorf("the file in the new --out: %q", b)
	}

	// A file on the way: the error says so and what to do.
	file := filepath.Join(home, "afile")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r = runBinary(t, home, "", "receive", "--out", filepath.Join(file, "sub"), "not-a-token")
	if r.code != 1 || !strings.Contains(r.stderr, "not a directory") || !strings.Contains(r.stderr, "sp2p: hint: ") || !strings.Contains(r.stderr, "another --out") {
		t.Fatalf("--out under a file: exit %d\n%s", r.code, r.stderr)
	}
}

// One file reads as "1 file" on both sides: the offer, the question and
// the summaries.
func TestBinaryOneFileReadsNaturally(t *testing.T) {
	t.Parallel()
	dir, src, out := t.TempDir(), t.TempDir(), t.TempDir()
	offer, answer := filepath.Join(dir, "offer"), filepath.Join(dir, "answer")
	os.WriteFile(filepath.Join(src, "f.txt"), []byte("hello"), 0o644)
	a := startBinary(t, newHome(t), nil, "send", "--loopback", "--offer-file", offer, "--answer-file", answer, "--yes", filepath.Join(src, "f.txt"))
	b := startOnTTY(t, newHome(t), "receive", "--loopback", "--offer-file", offer, "--answer-file", answer, "--yes", "--out", out)
	b.waitText(t, "Pin this peer for next time?")
	b.typeKeys(t, "\r")
	if code := b.exitCode(t); code != 0 {
		t.Fatalf("receive: exit %d\n%s", code, b.out.String())
	}
	if code := a.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("send: exit %d\n%s", code, a.stderr.String())
	}
	all := a.stderr.String() + b.out.String()
	if strings.Contains(all, "(s)") {
		t.Errorf("output still says (s):\n%s", all)
	}
	for _, want := range []string{"offering 1 file, 5 B"} {
		if !strings.Contains(a.stderr.String(), want) {
			t.Errorf("sender does not say %q:\n%s", want, a.stderr.String())
		}
	}
	if !strings.Contains(a.stderr.String(), "sent 1 file, 5 B") {
		t.Errorf("sender summary:\n%s", a.stderr.String())
	}
	for _, want := range []string{"  1 file, 5 B in all", "received 1 file, 5 B"} {
		if !strings.Contains(b.out.String(), want) {
			t.Errorf("receiver does not say %q:\n%s", want, b.out.String())
		}
	}
}

// The question for one file says "this file". Answering no is reported
// once on each side: the receiver says it declined, the sender that the
// receiver declined, with no word of the session closing after it.
func TestBinaryDeclinedOnce(t *testing.T) {
	t.Parallel()
	dir, src, out := t.TempDir(), t.TempDir(), t.TempDir()
	offer, answer := filepath.Join(dir, "offer"), filepath.Join(dir, "answer")
	os.WriteFile(filepath.Join(src, "f.txt"), []byte("hello"), 0o644)
	a := startBinary(t, newHome(t), nil, "send", "--loopback", "--offer-file", offer, "--answer-file", answer, "--yes", filepath.Join(src, "f.txt"))
	b := startOnTTY(t, newHome(t), "receive", "--loopback", "--offer-file", offer, "--answer-file", answer, "--out", out)
	b.waitText(t, "Receive this file into ")
	b.typeKeys(t, "n\r")
	if code := b.exitCode(t); code != 1 || !b.shows("sp2p: error: declined by you: nothing was received\r\n", 5*time.Second) ||
		strings.Count(b.out.String(), "declined") != 1 {
		t.Errorf("receiver after answering no: exit %d\n%s", code, b.out.String())
	}
	if code := a.wait(t, 30*time.Second); code != 1 || !strings.Contains(a.stderr.String(), "sp2p: error: the receiver declined the files: nothing was sent\n") ||
		strings.Count(a.stderr.String(), "declined") != 1 || strings.Contains(a.stderr.String(), "closed") {
		t.Errorf("sender after the receiver's no: exit %d\n%s", code, a.stderr.String())
	}
	if left := dirEntries(t, out); len(left) != 0 {
		t.Errorf("declining left %v in --out", left)
	}
}

// 'accept -' on a terminal says what it waits for; with stdin from a pipe
// it says nothing of pasting. A bare 'accept' names '-' among the ways.
func TestBinaryAcceptPastePrompt(t *testing.T) {
	t.Parallel()
	home := newHome(t)
	p := startOnTTY(t, home, "accept", "-")
	p.waitText(t, "sp2p: paste the invitation token (or link), then press Enter:")
	p.typeKeys(t, "\x04")
	if code := p.exitCode(t); code != 1 {
		t.Errorf("accept - then Ctrl-D: exit %d\n%s", code, p.out.String())
	}

	r := runBinary(t, home, "not a token\n", "accept", "-")
	if r.code != 1 || strings.Contains(r.stderr, "paste") {
		t.Errorf("accept - from a pipe: exit %d\n%s", r.code, r.stderr)
	}

	r = runBinary(t, home, "", "accept")
	if r.code != 2 || !strings.Contains(r.stderr, "'-' to paste it on stdin") || !strings.Contains(r.stderr, "--offer-file") || !strings.Contains(r.stderr, "--qr-image") {
		t.Errorf("bare accept: exit %d\n%s", r.code, r.stderr)
	}
}

// An expired invitation is said before the passphrase is asked for (here
// there is no terminal to ask on, and no passphrase file: asking first
// would fail on that), with its time as "valid until" shows it.
func TestBinaryAcceptExpiredBeforePassphrase(t *testing.T) {
	t.Parallel()
	home := encryptedHome(t)
	alice, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	offer, err := invite.NewOffer(alice, invite.OfferParams{Conn: invite.ConnDesc{
		Role:       invite.RoleActPass,
		Candidates: []invite.Candidate{{Type: invite.Host, Addr: netip.MustParseAddrPort("192.0.2.1:4000")}},
	}, Now: time.Now().Add(-10 * time.Minute), Lifetime: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if offer.Expires().Local().Day() != time.Now().Day() {
		t.Skip("the expiry was yesterday: shown with its date")
	}
	r := runBinary(t, home, "", "accept", offer.Text())
	want := "sp2p: error: this invitation expired at " + offer.Expires().Local().Format("15:04:05") + "\n"
	if r.code != 1 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "sp2p: hint: ask the inviter for a new invitation") {
		t.Errorf("accept of an expired invitation: exit %d, want %q in\n%s", r.code, want, r.stderr)
	}
	if strings.Contains(r.stderr, "assphrase") {
		t.Errorf("the passphrase came first:\n%s", r.stderr)
	}
}

// keygen warns of a weak passphrase, never showing it, and still makes
// the identity; a good one gets no warning.
func TestBinaryKeygenWeakPassphrase(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ pass, why string }{
		{"Tr0ub4dor&3", "shorter than 12 characters"},
		{"MyPassword-2024!", "a common password"},
		{"correcthorse", "only lowercase letters"},
		{"ababababababababababab", "only a few different characters"},
		{"correct horse battery staple", ""},
		{"glacier-Otter-77-lamp", ""},
	} {
		home := t.TempDir()
		passFile := filepath.Join(home, "pass")
		if err := os.WriteFile(passFile, []byte(c.pass+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		r := runBinary(t, home, "", "keygen", "--passphrase-file", passFile)
		if r.code != 0 || !strings.Contains(r.stdout, "fingerprint: ") {
			t.Errorf("keygen with %q: exit %d\n%s", c.pass, r.code, r.stderr)
			continue
		}
		warned := strings.Contains(r.stderr, "sp2p: warning: this passphrase is weak")
		if c.why == "" {
			if warned {
				t.Errorf("keygen with %q warns:\n%s", c.pass, r.stderr)
			}
			continue
		}
		if !warned || !strings.Contains(r.stderr, c.why) {
			t.Errorf("keygen with %q: no warning %q:\n%s", c.pass, c.why, r.stderr)
		}
		if strings.Contains(r.stderr+r.stdout, c.pass) {
			t.Errorf("keygen with %q printed the passphrase:\n%s", c.pass, r.stderr)
		}
	}
}
