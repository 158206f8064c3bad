//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/base32"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/invite"
)

// First contact without friction: what a new user meets at the prompts
// (a bad paste, a damaged token, a token wrapped over lines, a known peer,
// a refusal).

// randConn is a valid connection description with 1 to 16 random
// candidates (UDP and TCP, IPv4 and IPv6, mDNS names, every type). Its
// ICE credentials are left to the token (derived from its ephemeral key).
func randConn(rng *rand.Rand, role invite.DTLSRole) invite.ConnDesc {
	d := invite.ConnDesc{Role: role}
	for i := range d.Fingerprint {
		d.Fingerprint[i] = byte(rng.Uint32())
	}
	for n := 1 + rng.IntN(invite.MaxCandidates); len(d.Candidates) < n; {
		var addr netip.Addr
		if rng.IntN(2) == 0 {
			addr = netip.AddrFrom4([4]byte{10, byte(rng.Uint32()), byte(rng.Uint32()), 1 + byte(rng.IntN(254))})
		} else {
			var a [16]byte
			a[0], a[1], a[2], a[3] = 0x20, 0x01, 0x0d, 0xb8
			for i := 4; i < 16; i++ {
				a[i] = byte(rng.Uint32())
			}
			addr = netip.AddrFrom16(a)
		}
		c := invite.Candidate{Type: invite.CandidateType(rng.IntN(4)), Addr: netip.AddrPortFrom(addr, uint16(1+rng.IntN(65535)))}
		switch rng.IntN(6) {
		case 0, 1:
			c.TCP, c.TCPType = true, invite.TCPType(1+rng.IntN(3))
		case 2:
			c.Type, c.Addr = invite.Host, netip.AddrPortFrom(netip.Addr{}, c.Addr.Port())
			for i := range c.Name {
				c.Name[i] = byte(rng.Uint32())
			}
		}
		dup := false
		for _, p := range d.Candidates {
			dup = dup || p == c
		}
		if !dup {
			d.Candidates = append(d.Candidates, c)
		}
	}
	return d
}

// randTokens makes n real signed tokens, offers and answers alternately,
// with random identities, candidates, lifetimes and recipients.
func randTokens(t *testing.T, rng *rand.Rand, n int) []string {
	t.Helper()
	var out []string
	for len(out) < n {
		alice, _ := identity.Generate()
		bob, _ := identity.Generate()
		// Chat invitations: the tests accept them with plain accept.
		p := invite.OfferParams{Conn: randConn(rng, invite.RoleActPass), Lifetime: time.Duration(10+rng.IntN(86_391)) * time.Second}
		if rng.IntN(2) == 0 {
			p.Recipient = bob.ID()
		}
		if rng.IntN(2) == 0 {
			p.Options = invite.ChannelOptions{Unordered: true, PartialReliability: true, MaxRetransmits: byte(rng.IntN(256))}
		}
		for i := range p.Ephemeral {
			p.Ephemeral[i] = byte(rng.Uint32())
		}
		offer, err := invite.NewOffer(alice, p)
		if err != nil {
			t.Fatal(err)
		}
		ap := invite.AnswerParams{Conn: randConn(rng, invite.DTLSRole(1+rng.IntN(2)))}
		for i := range ap.Ephemeral {
			ap.Ephemeral[i] = byte(rng.Uint32())
		}
		answer, err := invite.NewAnswer(bob, offer, ap)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, offer.Text(), answer.Text())
	}
	return out[:n]
}

// wrap breaks text into lines of width characters, as mail and chat
// programs do.
func wrap(text string, width int, eol string) string {
	var b strings.Builder
	for len(text) > width {
		b.WriteString(text[:width] + eol)
		text = text[width:]
	}
	b.WriteString(text)
	return b.String()
}

// Random real tokens wrapped at the usual widths are read whole (the
// reader stops only when the whole token parses), and nothing after the
// token's last line is consumed.
func TestPasteReaderWrappedTokens(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(13, 2))
	ctx := context.Background()
	cutShortBefore := 0
	for _, tok := range randTokens(t, rng, 200) {
		for _, width := range []int{20, 40, 64, 76} {
			for _, eol := range []string{"\n", "\r\n"} {
				in := wrap(tok, width, eol)
				// What the reader before this fix did: stop at the first
				// line after which the text decodes with a known kind.
				for acc, rest := "", in; rest != ""; {
					line, more, _ := strings.Cut(rest, eol)
					acc, rest = acc+line, more
					if k, _, err := invite.Decode(acc); err == nil && (k == invite.KindOffer || k == invite.KindAnswer) {
						if acc != tok {
							cutShortBefore++
						}
						break
					}
				}
				for _, after := range []string{eol + "after" + eol, ""} {
					r := strings.NewReader(in + after)
					got, err := newPasteReader(r).token(ctx, nil)
					if err != nil || got != tok {
						t.Fatalf("width %d: read %q, %v\nwant %q", width, got, err, tok)
					}
					if left := len(after) - len(eol); after != "" && r.Len() != left {
						t.Fatalf("width %d: the reader consumed %d bytes past the token", width, left-r.Len())
					}
					if _, _, err := invite.Decode(got); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
	t.Logf("the reader before the fix would have cut %d of %d wrapped tokens short", cutShortBefore, 200*4*2)
}

// The reader ends a paste that cannot become a token at once (a word
// typed by mistake), at a blank line, and at the end of the input; it
// says so when a paste pauses with the token incomplete.
func TestPasteReaderStops(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tok := randTokens(t, rand.New(rand.NewPCG(1, 1)), 1)[0]
	pr := newPasteReader(strings.NewReader("hello\n\n" + tok[:50] + "\n\n" + tok[:50] + "\n" + tok[50:] + "\n"))
	for _, want := range []string{"hello", tok[:50], tok} {
		if got, err := pr.token(ctx, nil); err != nil || got != want {
			t.Fatalf("read %q, %v; want %q", got, err, want)
		}
	}
	if _, err := pr.token(ctx, nil); err == nil || !strings.Contains(err.Error(), "input ended") {
		t.Fatalf("at the end of the input: %v", err)
	}
	if got, err := newPasteReader(strings.NewReader(tok[:60])).token(ctx, nil); err != nil || got != tok[:60] {
		t.Fatalf("a cut token at the end of the input: %q %v", got, err)
	}
	// A paste that pauses half-way.
	r, w := io.Pipe()
	defer w.Close()
	told := make(chan int, 1)
	done := make(chan string, 1)
	go func() {
		got, _ := newPasteReader(r).token(ctx, func(n int) { told <- n })
		done <- got
	}()
	io.WriteString(w, wrap(tok[:100], 40, "\n")+"\n")
	select {
	case n := <-told:
		if n != 100 {
			t.Errorf("told %d characters so far, want 100", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a paste that stopped half-way was not reported")
	}
	io.WriteString(w, tok[100:]+"\n")
	if got := <-done; got != tok {
		t.Fatalf("after the pause: %q", got)
	}
}

// mutate changes the character at i to another one of the same class
// (base32 stays base32), as a bad copy does.
func mutate(text string, i int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	b := []byte(text)
	if j := strings.IndexByte(alphabet, b[i]); j >= 0 {
		b[i] = alphabet[(j+1)%len(alphabet)]
	} else {
		b[i] = 'X'
	}
	return string(b)
}

// Every one-character change of a real token is reported as damaged or
// altered, with the advice to copy it again and the library's error as the
// detail; none claims a newer version (a changed version byte is put back
// and the token then verifies: damaged, not newer). A well-formed token
// with a higher version is reported as made by a newer sp2p.
func TestDamagedTokenMessages(t *testing.T) {
	t.Parallel()
	home := newHome(t)
	idFile := filepath.Join(home, ".config", "sp2p", "identity")
	getenv := func(string) string { return "" }
	rng := rand.New(rand.NewPCG(3, 3))
	toks := randTokens(t, rng, 2)
	offer, answer := toks[0], toks[1]
	accept := func(text string) (int, string) {
		var out, errb bytes.Buffer
		code := run([]string{"accept", "--identity", idFile, "--loopback", "--yes", text}, strings.NewReader(""), &out, &errb, getenv)
		return code, errb.String()
	}
	_, origRaw, _ := invite.Decode(offer)
	for i := range offer {
		bad := mutate(offer, i)
		code, msg := accept(bad)
		if code != 1 || !strings.Contains(msg, "damaged or altered") || !strings.Contains(msg, "copy it again in full") || !strings.Contains(msg, "\nsp2p: detail: invite: ") {
			t.Errorf("character %d changed: exit %d\n%s", i, code, msg)
		}
		if strings.Contains(msg, "newer") {
			_, raw, err := invite.Decode(bad)
			onlyVersion := err == nil && len(raw) == len(origRaw) && bytes.Equal(raw[1:], origRaw[1:])
			if !onlyVersion {
				t.Errorf("character %d changed: a newer version is claimed for a damaged token:\n%s", i, msg)
			}
		}
	}
	// An answer where an offer is expected is no damage.
	if code, msg := accept(answer); code != 1 || strings.Contains(msg, "damaged") || !strings.Contains(msg, "answer token, expected an offer") {
		t.Errorf("an answer given to accept: exit %d\n%s", code, msg)
	}
	// A word typed by mistake is no token.
	if code, msg := accept("hello"); code != 1 || !strings.Contains(msg, "not an offer token") {
		t.Errorf("a word given to accept: exit %d\n%s", code, msg)
	}
	// A well-formed token of a later version.
	raw := append([]byte{invite.Version + 1, byte(invite.KindOffer)}, bytes.Repeat([]byte{0x5a}, 300)...)
	b32 := base32.StdEncoding.WithPadding(base32.NoPadding)
	newer := invite.TextPrefix + b32.EncodeToString(raw)
	if code, msg := accept(newer); code != 1 || !strings.Contains(msg, "made by a newer version of sp2p (token version 3; this one reads version 2)") {
		t.Errorf("a token of version 3: exit %d\n%s", code, msg)
	}
	// A genuine token of version 1 (signed as an older sp2p signed its
	// offers), and the same with one byte changed.
	alice, _ := identity.Generate()
	aliceID := alice.ID()
	body := append(append([]byte{1, byte(invite.KindOffer)}, aliceID[:]...), bytes.Repeat([]byte{0x33}, 180)...)
	v1 := append(body, alice.Sign("sp2p v1 offer", body)...)
	if code, msg := accept(invite.TextPrefix + b32.EncodeToString(v1)); code != 1 ||
		!strings.Contains(msg, "this offer token is version 1, from an older sp2p; this program reads version 2: ask for a new token") {
		t.Errorf("a token of version 1: exit %d\n%s", code, msg)
	}
	v1[50] ^= 4
	if code, msg := accept(invite.TextPrefix + b32.EncodeToString(v1)); code != 1 || !strings.Contains(msg, "damaged or altered") || strings.Contains(msg, "older") {
		t.Errorf("a damaged token of version 1: exit %d\n%s", code, msg)
	}
	// The real binary says the same.
	for _, i := range []int{2, 5, len(offer) / 2, len(offer) - 1} {
		r := runBinary(t, home, "", "accept", "--loopback", "--yes", mutate(offer, i))
		if r.code != 1 || !strings.Contains(r.stderr, "sp2p: error: the offer token is damaged or altered") || !strings.Contains(r.stderr, "\nsp2p: detail: invite: ") {
			t.Errorf("binary, character %d changed: exit %d\n%s", i, r.code, r.stderr)
		}
	}
}

// idOf is the ID of the identity in home.
func idOf(t *testing.T, home string) string {
	t.Helper()
	return strings.SplitN(runBinary(t, home, "", "id").stdout, "\n", 2)[0]
}

// noTTYProc is a process (no terminal) whose output can be read while it runs.
type noTTYProc struct {
	cmd            *exec.Cmd
	stdout, stderr syncBuffer
	exited         chan struct{}
}

// startNoTTY starts the binary in a session of its own, with no
// controlling terminal (a question cannot be asked); it is killed (by
// PID: only our own process) at cleanup if still running.
func startNoTTY(t *testing.T, home string, stdin []byte, args ...string) *noTTYProc {
	t.Helper()
	p := &noTTYProc{cmd: exec.Command(sp2pBinary, args...), exited: make(chan struct{})}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	p.cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
	p.cmd.Stdin = bytes.NewReader(stdin)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

func (p *noTTYProc) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(limit):
		p.cmd.Process.Kill()
		<-p.exited
		t.Fatalf("%v did not finish in %v\nstderr:\n%s", p.cmd.Args[1:], limit, p.stderr.String())
	}
	return p.cmd.ProcessState.ExitCode()
}

func (p *noTTYProc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// A known (pinned) peer is not asked about: two pinned peers without
// --yes and without a terminal connect and carry data both ways.
func TestBinaryKnownPeerNotAsked(t *testing.T) {
	t.Parallel()
	homeA, homeB := newHome(t), newHome(t)
	runBinary(t, homeA, "", "peers", "add", "bob", idOf(t, homeB))
	runBinary(t, homeB, "", "peers", "add", "alice", idOf(t, homeA))
	dir := t.TempDir()
	offer, answer := filepath.Join(dir, "offer"), filepath.Join(dir, "answer")
	a := startNoTTY(t, homeA, []byte("from alice"), "invite", "--loopback", "--offer-file", offer, "--answer-file", answer, "--pipe")
	b := startNoTTY(t, homeB, []byte("from bob"), "accept", "--loopback", "--offer-file", offer, "--answer-file", answer, "--pipe")
	codeA, codeB := a.wait(t, 60*time.Second), b.wait(t, 60*time.Second)
	if codeA != 0 || codeB != 0 || a.stdout.String() != "from bob" || b.stdout.String() != "from alice" {
		t.Fatalf("pinned peers: exit %d %d, got %q %q\nA:\n%s\nB:\n%s", codeA, codeB, a.stdout.String(), b.stdout.String(), a.stderr.String(), b.stderr.String())
	}
	for _, p := range []*noTTYProc{a, b} {
		if s := p.stderr.String(); strings.Contains(s, "[y/N]") || strings.Contains(s, "no terminal") || !strings.Contains(s, "known peer: ") {
			t.Errorf("a known peer was asked about:\n%s", s)
		}
	}
}

// An unknown answerer is asked about; with no terminal to ask on, the
// inviter gives up, and the invitee is told at once.
func TestBinaryUnknownPeerAskedWithoutTerminal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	offer, answer := filepath.Join(dir, "offer"), filepath.Join(dir, "answer")
	a := startNoTTY(t, newHome(t), nil, "invite", "--loopback", "--offer-file", offer, "--answer-file", answer, "--pipe")
	b := startNoTTY(t, newHome(t), nil, "accept", "--loopback", "--offer-file", offer, "--answer-file", answer, "--pipe", "--yes")
	if code := a.wait(t, 60*time.Second); code != 1 || !strings.Contains(a.stderr.String(), "no terminal to ask for confirmation") {
		t.Errorf("inviter: exit %d\n%s", code, a.stderr.String())
	}
	// The invitation lasts 5 minutes; the invitee must not wait for that.
	if code := b.wait(t, 30*time.Second); code != 1 || !strings.Contains(b.stderr.String(), "the inviter gave up") {
		t.Errorf("invitee: exit %d\n%s", code, b.stderr.String())
	}
}

// The inviter answers N: the invitee exits at once saying that the
// inviter refused. Ctrl-C at the question: the inviter gave up.
func TestBinaryInviterRefuses(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ keys, inviter, invitee string }{
		{"n\r", "refused by you", "the inviter refused"},
		{"\x03", "sp2p: interrupted", "the inviter gave up"},
	} {
		dir := t.TempDir()
		offer, answer := filepath.Join(dir, "offer"), filepath.Join(dir, "answer")
		a := startOnTTY(t, newHome(t), "invite", "--loopback", "--offer-file", offer, "--answer-file", answer)
		b := startBinary(t, newHome(t), nil, "accept", "--loopback", "--offer-file", offer, "--answer-file", answer, "--yes")
		a.waitText(t, "Connect to this peer? [y/N] ")
		a.typeKeys(t, c.keys)
		a.exitCode(t)
		if !a.shows(c.inviter, 5*time.Second) {
			t.Errorf("%q at the inviter's question: the inviter does not say %q:\n%s", c.keys, c.inviter, a.out.String())
		}
		if code := b.wait(t, 30*time.Second); code != 1 || !strings.Contains(b.stderr.String(), c.invitee) {
			t.Errorf("%q at the inviter's question: invitee exit %d, want 1 saying %q\n%s", c.keys, code, c.invitee, b.stderr.String())
		}
		a.checkRestored(t)
	}
}

// The inviter's answer prompt refuses what is not a usable answer, says
// why, and goes on waiting: a word, the inviter's own offer, an answer to
// another invitation, a damaged answer. Then the real answer, wrapped over
// lines and pasted twice: the second copy does not answer the y/N
// question, which is asked about the unknown answerer; "y" connects.
func TestBinaryAnswerPromptRetries(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	offer, answer := filepath.Join(dir, "offer"), filepath.Join(dir, "answer")
	a := startOnTTY(t, newHome(t), "invite", "--loopback", "--offer-file", offer)
	startBinary(t, newHome(t), nil, "accept", "--loopback", "--offer-file", offer, "--answer-file", answer, "--yes")
	a.waitText(t, "(paste it here)")
	var ans string
	waitFor(t, "the answer token", func() bool {
		data, err := os.ReadFile(answer)
		ans = strings.TrimSpace(string(data))
		return err == nil && ans != ""
	})
	own, _ := os.ReadFile(offer)
	stale := randTokens(t, rand.New(rand.NewPCG(5, 5)), 2)[1] // an answer to another invitation
	for _, c := range []struct{ paste, want string }{
		{"hello", "that is not an answer token"},
		{strings.TrimSpace(string(own)), "that is an offer token"},
		{stale, "that answer is for another invitation"},
		{mutate(ans, len(ans)/2), "the answer token is damaged or altered"},
	} {
		a.typeKeys(t, c.paste+"\r")
		a.waitText(t, c.want)
	}
	a.typeKeys(t, wrap(ans, 64, "\r")+"\r"+ans+"\r")
	a.waitText(t, "Connect to this peer? [y/N] ")
	if !a.shows("ignored ", time.Second) {
		t.Errorf("the second paste was not set aside:\n%s", a.out.String())
	}
	a.typeKeys(t, "y\r")
	a.waitText(t, "safety code: ")
	if strings.Contains(a.out.String(), "refused by you") {
		t.Errorf("the second paste answered the question:\n%s", a.out.String())
	}
}

// An answer file left from an earlier invitation is refused with the
// reason, and the inviter waits for the file to change.
func TestBinaryStaleAnswerFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	offer, answer := filepath.Join(dir, "offer"), filepath.Join(dir, "answer")
	stale := randTokens(t, rand.New(rand.NewPCG(6, 6)), 2)[1]
	if err := os.WriteFile(answer, []byte(stale+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := startNoTTY(t, newHome(t), []byte("data"), "invite", "--loopback", "--offer-file", offer, "--answer-file", answer, "--pipe", "--yes")
	waitFor(t, "the stale answer refused", func() bool { return strings.Contains(a.stderr.String(), "for another invitation") })
	b := startNoTTY(t, newHome(t), nil, "accept", "--loopback", "--offer-file", offer, "--answer-file", answer, "--pipe", "--yes")
	if codeA, codeB := a.wait(t, 60*time.Second), b.wait(t, 60*time.Second); codeA != 0 || codeB != 0 || b.stdout.String() != "data" {
		t.Fatalf("exit %d %d, got %q\nA:\n%s\nB:\n%s", codeA, codeB, b.stdout.String(), a.stderr.String(), b.stderr.String())
	}
}

// accept - reads an offer wrapped over lines whole, also where the reader
// before the fix stopped early (at a line after which the text decoded).
func TestBinaryAcceptWrappedToken(t *testing.T) {
	t.Parallel()
	token := offerToken(t)
	width := 0
	for w := 16; w <= 80 && width == 0; w++ {
		for n := w; n < len(token); n += w {
			if k, _, err := invite.Decode(token[:n]); err == nil && k == invite.KindOffer {
				width = w
				break
			}
		}
	}
	if width == 0 {
		t.Skip("no width cuts this token where its prefix decodes")
	}
	answer := filepath.Join(t.TempDir(), "answer")
	b := startNoTTY(t, newHome(t), []byte(wrap(token, width, "\n")+"\n"), "accept", "--loopback", "--yes", "--answer-file", answer, "-")
	waitFor(t, "the answer token", func() bool {
		_, err := os.Stat(answer)
		return err == nil || !b.running()
	})
	if _, err := os.Stat(answer); err != nil || !strings.Contains(b.stderr.String(), "invitation from") {
		t.Fatalf("wrapped at %d: %v\n%s", width, err, b.stderr.String())
	}
}

// An invitation says what it is for (signed in the offer): accept, accept
// --pipe and receive each refuse one made for another command, before
// anything is answered, and say which command reads it.
func TestWrongPurposeRefused(t *testing.T) {
	t.Parallel()
	home := newHome(t)
	idFile := filepath.Join(home, ".config", "sp2p", "identity")
	alice, _ := identity.Generate()
	token := func(p invite.Purpose) string {
		o, err := invite.NewOffer(alice, invite.OfferParams{Purpose: p, Conn: invite.ConnDesc{Role: invite.RoleActPass,
			Candidates: []invite.Candidate{{Type: invite.Host, Addr: netip.MustParseAddrPort("192.0.2.1:4000")}}}})
		if err != nil {
			t.Fatal(err)
		}
		return o.Text()
	}
	for _, c := range []struct {
		args    []string
		purpose invite.Purpose
		want    []string
	}{
		{[]string{"accept"}, invite.PurposeFiles, []string{"this invitation is to send you files (made with 'sp2p send')", "hint: receive the files with: sp2p receive TOKEN"}},
		{[]string{"accept", "--pipe"}, invite.PurposeFiles, []string{"to send you files", "sp2p receive TOKEN"}},
		{[]string{"accept"}, invite.PurposeStream, []string{"for a byte stream (made with 'sp2p invite --pipe')", "hint: accept it with --pipe: sp2p accept --pipe TOKEN"}},
		{[]string{"accept", "--pipe"}, invite.PurposeChat, []string{"for a chat (made with 'sp2p invite')", "hint: accept it without --pipe: sp2p accept TOKEN"}},
		{[]string{"receive"}, invite.PurposeChat, []string{"for a chat", "hint: this is no file transfer; join the chat with: sp2p accept TOKEN"}},
		{[]string{"receive"}, invite.PurposeStream, []string{"for a byte stream", "sp2p accept --pipe TOKEN"}},
	} {
		var out, errb bytes.Buffer
		args := append(append(c.args, "--identity", idFile, "--loopback", "--yes"), token(c.purpose))
		code := run(args, strings.NewReader(""), &out, &errb, func(string) string { return "" })
		for _, w := range c.want {
			if code != 1 || !strings.Contains(errb.String(), w) {
				t.Errorf("%v with a %v token: exit %d, want %q in\n%s", c.args, c.purpose, code, w, errb.String())
			}
		}
		if out.Len() != 0 || strings.Contains(errb.String(), "answer token") {
			t.Errorf("%v with a %v token answered it:\n%s%s", c.args, c.purpose, out.String(), errb.String())
		}
	}
}
