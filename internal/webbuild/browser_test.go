//go:build !js

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/internal/browser"
	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/session"
	"github.com/sp2p/sp2p/transfer"
)

// These tests run web/sp2p.js and the WebAssembly build in headless
// Chromium: two tabs of one origin, and a tab with this process's native
// sessions (what the CLI runs), over real WebRTC on loopback.

var (
	siteOnce sync.Once
	siteDir  string
	siteErr  error
)

// site builds the browser files once per test binary into a directory laid
// out as web/ is (sp2p.js, dist/), with the test page under t/.
func site(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the WebAssembly module and runs Chromium")
	}
	if _, ok := browser.Path(); !ok {
		t.Skip("no Chromium (Debian package chromium)")
	}
	siteOnce.Do(func() {
		siteDir, siteErr = os.MkdirTemp("", "sp2p-web-")
		if siteErr != nil {
			return
		}
		root, err := moduleRoot()
		if err != nil {
			siteErr = err
			return
		}
		if siteErr = build(root, filepath.Join(siteDir, "dist")); siteErr != nil {
			return
		}
		for src, dst := range map[string]string{
			filepath.Join(root, "web", "sp2p.js"):  "sp2p.js",
			filepath.Join("testdata", "page.html"): filepath.Join("t", "page.html"),
		} {
			b, err := os.ReadFile(src)
			if err == nil {
				os.MkdirAll(filepath.Dir(filepath.Join(siteDir, dst)), 0o755)
				err = os.WriteFile(filepath.Join(siteDir, dst), b, 0o644)
			}
			if err != nil {
				siteErr = err
				return
			}
		}
	})
	if siteErr != nil {
		t.Fatal(siteErr)
	}
	return siteDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if siteDir != "" {
		os.RemoveAll(siteDir)
	}
	os.Exit(code)
}

// serve serves the site and starts a browser; open opens the test page.
func serve(t *testing.T) (open func(name, db, fragment string) *browser.Page) {
	return serveWith(t, browser.Options{})
}

func serveWith(t *testing.T, opts browser.Options) (open func(name, db, fragment string) *browser.Page) {
	srv := httptest.NewServer(http.FileServer(http.Dir(site(t))))
	t.Cleanup(srv.Close)
	b := browser.Start(t, opts)
	return func(name, db, fragment string) *browser.Page {
		url := srv.URL + "/t/page.html"
		if fragment != "" {
			url += "#" + fragment
		}
		p := b.Open(name, url)
		p.MustWaitFor(60*time.Second, `window.T !== undefined`)
		browser.MustEval[string](p, 60*time.Second, fmt.Sprintf(`T.init(%q)`, db))
		return p
	}
}

func eval(t *testing.T, p *browser.Page, expr string) string {
	t.Helper()
	return browser.MustEval[string](p, 90*time.Second, expr)
}

// Two tabs find each other on the BroadcastChannel, connect, chat and
// close; the safety codes match.
func TestTabsChat(t *testing.T) { tabsChat(t, serve(t)) }

// The same with Chromium's defaults: its host addresses hidden behind
// mDNS names, which tokens of version 2 carry and the browser resolves.
func TestTabsChatMDNS(t *testing.T) { tabsChat(t, serveWith(t, browser.Options{Stock: true})) }

func tabsChat(t *testing.T, open func(name, db, fragment string) *browser.Page) {
	a := open("a", "tab-a", "")
	b := open("b", "tab-b", "")
	eval(t, a, `T.invite({lifetime: 60}).then(() => "")`)
	browser.MustEval[any](a, 10*time.Second, `T.announce()`)
	a.MustWaitFor(60*time.Second, `T.connected()`)
	b.MustWaitFor(60*time.Second, `T.connected()`)
	if ca, cb := eval(t, a, `T.safetyCode()`), eval(t, b, `T.safetyCode()`); ca != cb {
		t.Fatalf("safety codes %q and %q", ca, cb)
	}
	eval(t, a, `T.send("hello from a")`)
	eval(t, b, `T.send(new Uint8Array(2 << 20).fill(255))`) // not UTF-8; past the browser's send buffer
	eval(t, b, `T.send("hello from b")`)
	if m := eval(t, b, `T.next()`); m != "hello from a" {
		t.Errorf("b got %q", m)
	}
	if m := eval(t, a, `T.next()`); m != "bytes:2097152" {
		t.Errorf("a got %q", m)
	}
	if m := eval(t, a, `T.next()`); m != "hello from b" {
		t.Errorf("a got %q", m)
	}
	eval(t, a, `T.close()`)
	b.MustWaitFor(30*time.Second, `T.closed() === null`)
}

func loopback() session.Options { return session.Options{LoopbackOnly: true, UDP4Only: true} }

func newIdentity(t *testing.T) *identity.Identity {
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// A native inviter (the CLI's code) and a page that opens the invitation's
// link: the page reads the token from location.hash, answers, and the two
// chat; the page's errors for bad tokens are SP2PErrors with the codes of
// sp2p.d.ts.
func TestNativeInvitesPage(t *testing.T) { nativeInvitesPage(t, serve(t), loopback()) }

// The same with Chromium's defaults (mDNS names for its host addresses,
// no loopback), the native side on every interface.
func TestNativeInvitesPageMDNS(t *testing.T) {
	nativeInvitesPage(t, serveWith(t, browser.Options{Stock: true}), session.Options{UDP4Only: true})
}

func nativeInvitesPage(t *testing.T, open func(name, db, fragment string) *browser.Page, opts session.Options) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	inv, err := session.Invite(ctx, newIdentity(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer inv.Close()
	p := open("page", "native-a", inv.Token())
	token := eval(t, p, `T.fromLocation()`)
	if token != inv.Token() {
		t.Fatalf("tokenFromLocation %q, want the invitation's token", token)
	}
	damaged := []byte(token)
	damaged[len(damaged)/2] ^= 'A' ^ 'B'
	if e := eval(t, p, fmt.Sprintf(`T.errAccept(%q)`, damaged)); !strings.Contains(e, "copy it again in full") {
		t.Errorf("damaged token: %s", e)
	}
	answer := eval(t, p, fmt.Sprintf(`T.accept(%q)`, token))
	a, err := inv.ReadAnswer(answer)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the page's candidates: %v", a.Conn.Candidates)
	s, err := inv.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p.MustWaitFor(30*time.Second, `T.connected()`)
	if c := eval(t, p, `T.safetyCode()`); c != s.SafetyCode() {
		t.Errorf("safety codes %q and %q", c, s.SafetyCode())
	}
	if err := s.Send(ctx, []byte("hello from go")); err != nil {
		t.Fatal(err)
	}
	if m := eval(t, p, `T.next()`); m != "hello from go" {
		t.Errorf("page got %q", m)
	}
	eval(t, p, `T.send("hello from the page")`)
	if m, err := s.Receive(ctx); err != nil || string(m) != "hello from the page" {
		t.Errorf("go got %q, %v", m, err)
	}
	s.Close()
	p.MustWaitFor(30*time.Second, `T.closed() === null`)
}

// A page invites for files and sends them to a native receiver (the
// transfer protocol of sp2p receive); then a native sender sends files to
// a page, which gets them as checked Blobs.
func TestFilesPageAndNative(t *testing.T) {
	open := serve(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The page sends.
	p := open("sender", "files-a", "")
	token := eval(t, p, `T.invite({purpose: "files"})`)
	offer, err := invite.ParseOffer(token)
	if err != nil {
		t.Fatal(err)
	}
	if err := offer.CheckPurpose(invite.PurposeFiles); err != nil {
		t.Fatal(err)
	}
	acc, err := session.Accept(ctx, newIdentity(t), offer, loopback())
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close()
	applied := make(chan error, 1)
	go func() {
		_, err := browser.Eval[string](p, 60*time.Second, fmt.Sprintf(`T.apply(%q)`, acc.Token()))
		applied <- err
	}()
	s, err := acc.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-applied; err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p.MustWaitFor(30*time.Second, `T.connected()`)
	time.AfterFunc(90*time.Second, func() { s.Close() }) // a transfer that hangs fails the test
	sent := make(chan string, 1)
	go func() {
		r, err := browser.Eval[string](p, 90*time.Second, `T.sendFiles([["big.bin", 3000000, 1], ["dir/small.txt", 10, 2]])`)
		if err != nil {
			r = err.Error()
		}
		sent <- r
	}()
	sink := transfer.NewMemorySink(1 << 30)
	if _, err := transfer.ReceiveTo(s.Conn(), sink, transfer.ReceiveOptions{}); err != nil {
		t.Fatal(err)
	}
	var res struct{ Files, Bytes int }
	if r := <-sent; json.Unmarshal([]byte(r), &res) != nil || res.Files != 2 || res.Bytes != 3000010 {
		t.Errorf("sendFiles: %s", r)
	}
	got := sink.Files()
	if len(got) != 2 || got[0].Path != "big.bin" || got[1].Path != "dir/small.txt" {
		t.Fatalf("received %d files", len(got))
	}
	for i, f := range got {
		want := pattern(len(f.Data), byte(i+1))
		if !bytes.Equal(f.Data, want) {
			t.Errorf("%s: the bytes differ", f.Path)
		}
	}
	s.Close()

	// The page receives.
	q := open("receiver", "files-b", "")
	opts := loopback()
	opts.Purpose = invite.PurposeFiles
	inv, err := session.Invite(ctx, newIdentity(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer inv.Close()
	answer := eval(t, q, fmt.Sprintf(`T.accept(%q)`, inv.Token()))
	a, err := inv.ReadAnswer(answer)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := inv.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	q.MustWaitFor(30*time.Second, `T.connected()`)
	time.AfterFunc(90*time.Second, func() { s2.Close() })
	received := make(chan string, 1)
	go func() {
		r, err := browser.Eval[string](q, 90*time.Second, `T.receiveFiles()`)
		if err != nil {
			r = err.Error()
		}
		received <- r
	}()
	files := [][]byte{pattern(2500000, 3), []byte("small\n")}
	var src []transfer.SourceFile
	for i, f := range files {
		src = append(src, transfer.SourceFile{Path: []string{"one.bin", "two.txt"}[i], Size: int64(len(f)), Open: func(off int64) (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(f[off:])), nil
		}})
	}
	m, source, err := transfer.BuildManifestFrom(src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := transfer.Send(s2.Conn(), m, source, nil); err != nil {
		t.Fatal(err)
	}
	var list []struct {
		Path, SHA256 string
		Size         int
		OK           bool
	}
	r := <-received
	if err := json.Unmarshal([]byte(r), &list); err != nil || len(list) != 2 {
		t.Fatalf("receiveFiles: %s", r)
	}
	for i, f := range list {
		sum := sha256.Sum256(files[i])
		if !f.OK || f.SHA256 != hex.EncodeToString(sum[:]) || f.Size != len(files[i]) {
			t.Errorf("file %d: %+v", i, f)
		}
	}
}

// pattern is the page's fileOf: byte i is (i*7 + seed) & 255.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

// The identity is kept in IndexedDB as the CLI's identity file: protected
// with a passphrase in the page, it loads in Go (identity.Unmarshal, what
// the CLI runs) and in the page again only with that passphrase; a file
// the CLI writes imports into the page.
func TestIdentityInPage(t *testing.T) {
	open := serve(t)
	p := open("identity", "id-db", "")
	var info struct {
		ID        string
		Protected bool
	}
	if err := json.Unmarshal([]byte(eval(t, p, `T.setPassphrase("correct horse")`)), &info); err != nil || !info.Protected {
		t.Fatalf("setPassphrase: %+v, %v", info, err)
	}
	file, err := base64.StdEncoding.DecodeString(eval(t, p, `T.exportIdentity()`))
	if err != nil {
		t.Fatal(err)
	}
	id, prot, err := identity.Unmarshal(file, func() ([]byte, error) { return []byte("correct horse"), nil })
	if err != nil || id.ID().String() != info.ID || prot != identity.Passphrase {
		t.Fatalf("the exported file in Go: %v, %v", err, prot)
	}
	if e := eval(t, p, `T.errLoad("id-db", "wrong")`); !strings.HasPrefix(e, "bad-passphrase: ") {
		t.Errorf("load with a wrong passphrase: %s", e)
	}
	// A second load() reads the stored, now protected, file again.
	if got := eval(t, p, `T.init("id-db", "correct horse")`); got != info.ID {
		t.Errorf("reloaded %s, want %s", got, info.ID)
	}
	if got := eval(t, p, `T.identity()`); !strings.Contains(got, `"protected":true`) {
		t.Errorf("reloaded identity: %s", got)
	}

	cli, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	cliFile, err := identity.Marshal(cli, identity.SaveOptions{Passphrase: []byte("cli pw"), ScryptWorkFactor: 10})
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString(cliFile)
	if e := eval(t, p, fmt.Sprintf(`T.error(() => T.importIdentity(%q, "nope"))`, b64)); !strings.HasPrefix(e, "bad-passphrase: ") {
		t.Errorf("import with a wrong passphrase: %s", e)
	}
	if got := eval(t, p, fmt.Sprintf(`T.importIdentity(%q, "cli pw")`, b64)); !strings.Contains(got, cli.ID().String()) {
		t.Errorf("import: %s", got)
	}
	if got := eval(t, p, fmt.Sprintf(`T.pin(%q, "bob")`, info.ID)); !strings.Contains(got, `"name":"bob"`) || !strings.Contains(got, `"known":true`) {
		t.Errorf("known peers: %s", got)
	}
	if e := eval(t, p, fmt.Sprintf(`T.errPin(%q, "bob")`, cli.ID().String())); !strings.HasPrefix(e, "invalid: ") {
		t.Errorf("a name pinned to another ID: %s", e)
	}
	if e := eval(t, p, `T.errPin("sp2p1nope", "x")`); !strings.HasPrefix(e, "invalid: ") {
		t.Errorf("not an ID: %s", e)
	}
}

// A group of one session: broadcasts reach the peer, the peer's messages
// come to the group's onMessage with who sent them, and closing the group
// closes the session.
func TestTabsGroup(t *testing.T) {
	open := serve(t)
	a := open("a", "group-a", "")
	b := open("b", "group-b", "")
	bID := eval(t, b, `JSON.parse(T.identity()).id`)
	eval(t, a, `T.invite({lifetime: 60}).then(() => "")`)
	browser.MustEval[any](a, 10*time.Second, `T.announce()`)
	a.MustWaitFor(60*time.Second, `T.connected()`)
	b.MustWaitFor(60*time.Second, `T.connected()`)
	if peers := eval(t, a, `T.group()`); !strings.Contains(peers, bID) {
		t.Errorf("group peers %s, want %s", peers, bID)
	}
	eval(t, a, `T.broadcast("to the group")`)
	if m := eval(t, b, `T.next()`); m != "to the group" {
		t.Errorf("b got %q", m)
	}
	eval(t, b, `T.send("to a's group")`)
	a.MustWaitFor(30*time.Second, `T.gmsgs.length === 1`)
	if m := eval(t, a, `T.gmsgs[0]`); m != bID+" to a's group" {
		t.Errorf("the group got %q", m)
	}
	eval(t, a, `T.closeGroup()`)
	a.MustWaitFor(30*time.Second, `T.closed() === null`)
	b.MustWaitFor(30*time.Second, `T.closed() === null`)
}
