//go:build !js

package main

// The page (sp2p web) in a real headless Chromium against the real CLI:
// invitations both ways, chat, files both ways, tabs that find each
// other, a stock Chromium on a LAN with no STUN server, and bad tokens.
// The figures (page load, connect time, throughput) are logged, never
// asserted.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sp2p/sp2p/internal/browser"
	"github.com/sp2p/sp2p/invite"
)

// webServer runs `sp2p web` (inside netns when it is not empty) and
// returns the page's URL.
func webServer(t *testing.T, netns string) string {
	t.Helper()
	args := []string{"web", "--listen", "127.0.0.1:0"}
	cmd := exec.Command(sp2pBinary, args...)
	if netns != "" {
		cmd = exec.Command("ip", append([]string{"netns", "exec", netns, sp2pBinary}, args...)...)
	}
	out := &syncBuffer{}
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var url string
	re := regexp.MustCompile(`http://127\.0\.0\.1:[0-9]+/`)
	waitFor(t, "sp2p web to print its URL", func() bool {
		url = re.FindString(out.String())
		return url != ""
	})
	if strings.Contains(out.String(), "go generate") {
		t.Fatalf("sp2p web: %s", out.String())
	}
	return url
}

// openPage opens url in a new tab of b and waits until the page has
// loaded sp2p and its identity; it logs how long that took.
func openPage(t *testing.T, b *browser.Browser, name, url string) *browser.Page {
	t.Helper()
	return openPageWith(t, b.Open, name, url)
}

func openPageWith(t *testing.T, open func(name, url string) *browser.Page, name, url string) *browser.Page {
	t.Helper()
	start := time.Now()
	p := open(name, url)
	p.MustWaitFor(60*time.Second, `(() => { const e = document.getElementById('identity-id'); return e && e.textContent.startsWith('sp2p1'); })()`)
	t.Logf("%s: page loaded with its identity in %v", name, time.Since(start).Round(time.Millisecond))
	return p
}

// cli is a running sp2p command with its stdin open.
type cli struct {
	cmd      *exec.Cmd
	in       io.WriteCloser
	out, err *syncBuffer
}

func startCLI(t *testing.T, home, netns string, args ...string) *cli {
	t.Helper()
	cmd := exec.Command(sp2pBinary, args...)
	if netns != "" {
		cmd = exec.Command("ip", append([]string{"netns", "exec", netns, sp2pBinary}, args...)...)
	}
	cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &cli{cmd: cmd, in: in, out: &syncBuffer{}, err: &syncBuffer{}}
	cmd.Stdout, cmd.Stderr = c.out, c.err
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return c
}

func (c *cli) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	return waitExit(t, c.cmd, limit, c.err.String)
}

var safetyRE = regexp.MustCompile(`safety code: ([0-9 ]+[0-9])`)

// cliSafetyCode waits for the CLI to print its safety code.
func (c *cli) safetyCode(t *testing.T) string {
	t.Helper()
	var code string
	waitFor(t, "the CLI's safety code", func() bool {
		if m := safetyRE.FindStringSubmatch(c.err.String()); m != nil {
			code = m[1]
		}
		return code != ""
	})
	return code
}

// readFileWhenWritten waits for a token file the CLI writes.
func readFileWhenWritten(t *testing.T, path string) string {
	t.Helper()
	var s string
	waitFor(t, "the token in "+filepath.Base(path), func() bool {
		b, _ := os.ReadFile(path)
		s = strings.TrimSpace(string(b))
		return strings.HasPrefix(s, "SP2P:")
	})
	return s
}

// visible is a JavaScript expression: the element with this id is shown.
func visible(id string) string {
	return fmt.Sprintf(`(() => { const e = document.getElementById(%q); return !!e && !e.closest('[hidden]') && e.offsetParent !== null; })()`, id)
}

// pageInvite makes an invitation in the page and returns its token.
func pageInvite(t *testing.T, p *browser.Page) string {
	t.Helper()
	p.MustWaitFor(10*time.Second, visible("invite-button"))
	p.Click("invite-button")
	p.MustWaitFor(30*time.Second, `document.getElementById('offer-token').textContent.startsWith('SP2P:')`)
	token := strings.TrimSpace(p.Text("offer-token"))
	if link := p.Text("offer-link"); !strings.HasSuffix(link, "#"+token) {
		t.Fatalf("the link %q does not carry the token", link)
	}
	return token
}

// pageConnect pastes the answer into the page, confirms, and waits for
// the session; it returns the page's safety code and the time from the
// confirmation to the open session.
func pageConnect(t *testing.T, p *browser.Page, answer string) (string, time.Duration) {
	t.Helper()
	p.SetValue("answer-input", answer)
	p.Click("answer-button")
	p.MustWaitFor(20*time.Second, visible("connect-button"))
	start := time.Now()
	p.Click("connect-button")
	p.MustWaitFor(60*time.Second, `document.getElementById('status').textContent.includes('connected')`)
	return strings.TrimSpace(p.Text("safety-code")), time.Since(start)
}

// received waits until the page shows a received message with this text.
func received(t *testing.T, p *browser.Page, text string) {
	t.Helper()
	p.MustWaitFor(20*time.Second, fmt.Sprintf(`[...document.querySelectorAll('#messages > :not(.mine)')].some(e => e.textContent === %q)`, text))
}

func pageSend(t *testing.T, p *browser.Page, text string) {
	t.Helper()
	p.SetValue("message-input", text)
	p.Click("send-button")
}

func randomFile(t *testing.T, dir string, n int) (string, string) {
	t.Helper()
	data := randomBytes(n)
	path := filepath.Join(dir, "big.bin")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return path, hex.EncodeToString(sum[:])
}

// Test 1: the page invites and the CLI accepts; chat both ways with
// matching safety codes; then a 20 MiB file from the page to the CLI.
func TestBrowserPageInvitesCLI(t *testing.T) {
	t.Parallel()
	url := webServer(t, "")
	b := browser.Start(t, browser.Options{})
	p := openPage(t, b, "page", url)
	home, dir := newHome(t), t.TempDir()
	offerFile, answerFile := filepath.Join(dir, "offer"), filepath.Join(dir, "answer")

	token := pageInvite(t, p)
	os.WriteFile(offerFile, []byte(token), 0o600)
	c := startCLI(t, home, "", "accept", "--offer-file", offerFile, "--answer-file", answerFile, "--yes", "--loopback")
	code, took := pageConnect(t, p, readFileWhenWritten(t, answerFile))
	t.Logf("page ↔ CLI chat session open %v after the confirmation", took.Round(time.Millisecond))
	if cc := c.safetyCode(t); cc != code {
		t.Fatalf("safety codes differ: page %q, CLI %q", code, cc)
	}
	io.WriteString(c.in, "hello from the cli\n")
	received(t, p, "hello from the cli")
	pageSend(t, p, "hello from the page")
	waitFor(t, "the CLI to print the page's message", func() bool { return strings.Contains(c.out.String(), "hello from the page") })
	c.in.Close()
	if code := c.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("accept exited %d\n%s", code, c.err.String())
	}
	p.MustWaitFor(20*time.Second, visible("after-panel"))

	// A file from the page to the CLI, in a fresh tab.
	p2 := openPage(t, b, "files", url)
	path, sum := randomFile(t, t.TempDir(), 20<<20)
	p2.Click("purpose-files")
	p2.UploadFiles("file-input", path)
	token = pageInvite(t, p2)
	out := t.TempDir()
	os.WriteFile(offerFile, []byte(token), 0o600)
	os.Remove(answerFile)
	r := startCLI(t, home, "", "receive", "--offer-file", offerFile, "--answer-file", answerFile, "--yes", "--loopback", "--out", out)
	_, _ = pageConnect(t, p2, readFileWhenWritten(t, answerFile))
	start := time.Now()
	if code := r.wait(t, 120*time.Second); code != 0 {
		p2.DumpLogs()
		t.Fatalf("receive exited %d\n%s", code, r.err.String())
	}
	d := time.Since(start)
	got, err := os.ReadFile(filepath.Join(out, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if s := sha256.Sum256(got); hex.EncodeToString(s[:]) != sum {
		t.Fatal("the file the CLI received from the page differs")
	}
	t.Logf("page → CLI: 20 MiB in %v (%.1f MB/s, including the receiver's confirmation)", d.Round(time.Millisecond), 20*1.048576/d.Seconds())
	p2.MustWaitFor(20*time.Second, `document.getElementById('transfers').textContent.length > 0`)
}

// Test 2: the CLI invites (sp2p send) and the page accepts from a link,
// with no typing but the confirmations; the 20 MiB file arrives intact
// (its SHA-256 is computed in the page, from the Blob it offers).
func TestBrowserLinkAcceptsCLISend(t *testing.T) {
	t.Parallel()
	url := webServer(t, "")
	b := browser.Start(t, browser.Options{})
	home, dir := newHome(t), t.TempDir()
	path, sum := randomFile(t, t.TempDir(), 20<<20)
	offerFile, answerFile := filepath.Join(dir, "offer"), filepath.Join(dir, "answer")
	s := startCLI(t, home, "", "send", "--offer-file", offerFile, "--answer-file", answerFile, "--yes", "--loopback", path)
	token := readFileWhenWritten(t, offerFile)

	// The test reads the received file back from the page's blob: URL,
	// which the page's own connect-src refuses.
	p := openPageWith(t, b.OpenBypassingCSP, "page", url+"#"+token)
	p.MustWaitFor(20*time.Second, visible("accept-confirm-button"))
	if id := p.Text("inviter-id"); !strings.HasPrefix(id, "sp2p1") {
		t.Fatalf("the page does not show who invites: %q", id)
	}
	p.Click("accept-confirm-button")
	p.MustWaitFor(30*time.Second, `document.getElementById('answer-token').textContent.startsWith('SP2P:')`)
	os.WriteFile(answerFile, []byte(p.Text("answer-token")), 0o600)
	p.MustWaitFor(60*time.Second, visible("file-accept-button"))
	if cc := s.safetyCode(t); cc != strings.TrimSpace(p.Text("safety-code")) {
		t.Fatalf("safety codes differ: page %q, CLI %q", p.Text("safety-code"), cc)
	}
	start := time.Now()
	p.Click("file-accept-button")
	p.MustWaitFor(120*time.Second, `!!document.querySelector('#transfers a[download]')`)
	d := time.Since(start)
	t.Logf("CLI → page: 20 MiB in %v (%.1f MB/s)", d.Round(time.Millisecond), 20*1.048576/d.Seconds())
	got := browser.MustEval[string](p, 30*time.Second, `(async () => {
		const a = document.querySelector('#transfers a[download]');
		const buf = await (await fetch(a.href)).arrayBuffer();
		const h = new Uint8Array(await crypto.subtle.digest('SHA-256', buf));
		return a.getAttribute('download') + ' ' + [...h].map(b => b.toString(16).padStart(2, '0')).join('');
	})()`)
	if got != "big.bin "+sum {
		t.Fatalf("the page offers %q, want big.bin %s", got, sum)
	}
	if code := s.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("send exited %d\n%s", code, s.err.String())
	}
}

// Test 3: two tabs of one browser connect through BroadcastChannel with
// nothing pasted; both show the peer and the same safety code.
func TestBrowserTabsFindEachOther(t *testing.T) {
	t.Parallel()
	url := webServer(t, "")
	b := browser.Start(t, browser.Options{})
	a := openPage(t, b, "tab A", url)
	bb := openPage(t, b, "tab B", url)
	pageInvite(t, a)
	bb.MustWaitFor(20*time.Second, `!!document.querySelector('#tab-offers button.primary')`)
	browser.MustEval[bool](bb, 10*time.Second, `(() => { document.querySelector('#tab-offers button.primary').click(); return true; })()`)
	a.MustWaitFor(30*time.Second, visible("connect-button"))
	if got, want := a.Text("answerer-id"), bb.Text("identity-id"); got != want {
		t.Fatalf("tab A sees answerer %q, tab B is %q", got, want)
	}
	a.Click("connect-button")
	for _, p := range []*browser.Page{a, bb} {
		p.MustWaitFor(60*time.Second, `document.getElementById('status').textContent.includes('connected')`)
	}
	if ca, cb := a.Text("safety-code"), bb.Text("safety-code"); ca == "" || ca != cb {
		t.Fatalf("safety codes: tab A %q, tab B %q", ca, cb)
	}
	pageSend(t, a, "hello, tab B")
	received(t, bb, "hello, tab B")
}

// The LAN for test 4: a switch namespace with a bridge, and two hosts on
// it. Host b's firewall drops every new inbound connection but mDNS, so
// the CLI there must reach the browser itself, which it can only do by
// resolving the browser's mDNS host names.
const lanScript = `
set -eu
P=$1
ns() { ip netns exec "$P-$1" "${@:2}"; }
down() { for n in sw a b; do ip netns del "$P-$n" 2>/dev/null || true; done; }
if [ "$2" = down ]; then down; exit 0; fi
down
for n in sw a b; do ip netns add "$P-$n"; ns $n ip link set lo up; done
ns sw ip link add br0 type bridge
ip link add eth0 netns $P-a type veth peer name pa netns $P-sw
ip link add eth0 netns $P-b type veth peer name pb netns $P-sw
for l in pa pb; do ns sw ip link set $l master br0; ns sw ip link set $l up; done
ns sw ip link set br0 up
for n in a b; do
  ns $n sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.eth0.accept_dad=0
done
ns a ip addr add 10.88.0.2/24 dev eth0; ns a ip link set eth0 up
ns b ip addr add 10.88.0.3/24 dev eth0; ns b ip link set eth0 up
# Chromium gathers no candidates on a host without a default route.
for n in a b; do ns $n ip route add default via 10.88.0.1 dev eth0; done
ns b nft -f - <<NFT
table inet fw {
  chain input {
    type filter hook input priority 0;
    iifname "eth0" udp dport 5353 accept
    iifname "eth0" ct state new drop
  }
}
NFT
`

// Test 4: a stock Chromium (local addresses hidden behind mDNS names) and
// the CLI on one LAN, no STUN server: they connect, because the token
// carries the mDNS names and the CLI resolves them.
func TestBrowserStockChromiumOnLAN(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("network namespace tests need root")
	}
	t.Parallel()
	p := fmt.Sprintf("sp2pw%d", os.Getpid()%100000)
	lan := func(args ...string) {
		out, err := exec.Command("bash", append([]string{"-c", lanScript, "lan"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("lan %v: %v\n%s", args, err, out)
		}
	}
	lan(p, "up")
	t.Cleanup(func() { lan(p, "down") })
	url := webServer(t, p+"-a")
	b := browser.Start(t, browser.Options{Netns: p + "-a", Stock: true})
	pg := openPage(t, b, "stock page", url)
	token := pageInvite(t, pg)
	offer, err := invite.ParseOffer(token)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range offer.Conn.Candidates {
		if c.Name.IsZero() {
			t.Fatalf("a stock Chromium's token carries an address (%v): the test does not test mDNS", c)
		}
	}
	home, dir := newHome(t), t.TempDir()
	offerFile, answerFile := filepath.Join(dir, "offer"), filepath.Join(dir, "answer")
	os.WriteFile(offerFile, []byte(token), 0o600)
	c := startCLI(t, home, p+"-b", "accept", "--offer-file", offerFile, "--answer-file", answerFile, "--yes")
	code, took := pageConnect(t, pg, readFileWhenWritten(t, answerFile))
	t.Logf("stock Chromium ↔ CLI on a LAN, no STUN: open %v after the confirmation", took.Round(time.Millisecond))
	if cc := c.safetyCode(t); cc != code {
		t.Fatalf("safety codes differ: page %q, CLI %q", code, cc)
	}
	io.WriteString(c.in, "hello over the LAN\n")
	received(t, pg, "hello over the LAN")
}

// Test 5: a tampered token, an expired one and a replayed answer are
// refused in the page with the CLI's meanings, and the page keeps working.
func TestBrowserRefusesBadTokens(t *testing.T) {
	t.Parallel()
	url := webServer(t, "")
	b := browser.Start(t, browser.Options{})
	p := openPage(t, b, "page", url)
	home, dir := newHome(t), t.TempDir()

	acceptError := func(token string) string {
		t.Helper()
		p.SetValue("accept-input", token)
		p.Click("accept-button")
		p.MustWaitFor(20*time.Second, `document.getElementById('error').textContent.length > 0`)
		msg := p.Text("error")
		p.SetValue("accept-input", "")
		return msg
	}

	// Tampered: one character of a real invitation changed.
	offerFile, answerFile := filepath.Join(dir, "offer"), filepath.Join(dir, "answer")
	inv := startCLI(t, home, "", "invite", "--offer-file", offerFile, "--answer-file", answerFile, "--loopback", "--ttl", "10s")
	token := readFileWhenWritten(t, offerFile)
	i := len(token) / 2
	c := byte('A')
	if token[i] == 'A' {
		c = 'B'
	}
	tampered := token[:i] + string(c) + token[i+1:]
	if msg := acceptError(tampered); !strings.Contains(msg, "damaged or altered") {
		t.Errorf("tampered token: the page says %q", msg)
	}

	// Expired: the same invitation after its 10 s.
	time.Sleep(11 * time.Second)
	if msg := acceptError(token); !strings.Contains(msg, "expired") {
		t.Errorf("expired token: the page says %q", msg)
	}
	inv.cmd.Process.Kill()

	// Replayed: an answer that opened a session with the page's first
	// invitation, pasted into its next one.
	token = pageInvite(t, p)
	os.WriteFile(offerFile, []byte(token), 0o600)
	os.Remove(answerFile)
	a := startCLI(t, home, "", "accept", "--offer-file", offerFile, "--answer-file", answerFile, "--yes", "--loopback")
	answer := readFileWhenWritten(t, answerFile)
	pageConnect(t, p, answer)
	a.in.Close()
	a.wait(t, 20*time.Second)
	p.MustWaitFor(20*time.Second, visible("again-button"))
	p.Click("again-button")
	pageInvite(t, p)
	p.SetValue("answer-input", answer)
	p.Click("answer-button")
	p.MustWaitFor(20*time.Second, `document.getElementById('error').textContent.length > 0`)
	if msg := p.Text("error"); !strings.Contains(msg, "another invitation") {
		t.Errorf("replayed answer: the page says %q", msg)
	}
	// The invitation is still open: a bad paste did not end it.
	if !strings.Contains(p.Text("status"), "aiting for the answer") {
		t.Errorf("after a replayed answer the page's status is %q", p.Text("status"))
	}
}
