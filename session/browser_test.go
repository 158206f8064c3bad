//go:build !js

package session

// The browser link in a real browser: testdata/jspeer (this package built
// for js/wasm) runs in headless Chromium and holds sessions with the
// native link in this process, in both directions.

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sp2p/sp2p/internal/browser"
	"github.com/sp2p/sp2p/invite"
)

// buildJSPeer builds testdata/jspeer for js/wasm into a directory of the
// test's, with Go's loader and the page, and returns it (the build cache
// makes the second build quick).
func buildJSPeer(t *testing.T) string {
	t.Helper()
	if _, ok := browser.Path(); !ok {
		t.Skip("no Chromium (Debian package chromium; .ci/run installs it)")
	}
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "jspeer.wasm"), "./testdata/jspeer")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building jspeer: %v\n%s", err, out)
	}
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	for src, dst := range map[string]string{
		filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", "wasm_exec.js"): "wasm_exec.js",
		filepath.Join("testdata", "jspeer", "index.html"):                               "index.html",
	} {
		b, err := os.ReadFile(src)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, dst), b, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// openJSPeer serves jspeer and opens it in a new headless Chromium.
func openJSPeer(t *testing.T) *browser.Page {
	dir := buildJSPeer(t)
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	b := browser.Start(t, browser.Options{})
	p := b.Open("jspeer", srv.URL+"/index.html")
	p.MustWaitFor(60*time.Second, `document.getElementById('status').textContent === 'ready'`)
	return p
}

// exchange runs messages through an open session pair: the page echoes
// what the native side sends, small and large (a 1 MiB message crosses
// the browser's send buffer, which makes writes wait).
func exchange(t *testing.T, p *browser.Page, s *Session) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	msgs := [][]byte{[]byte("hello from pion"), bytes.Repeat([]byte("x"), 64<<10), bytes.Repeat([]byte("y"), 1<<20)}
	done := make(chan error, 1)
	go func() {
		_, err := browser.Eval[string](p, 90*time.Second, fmt.Sprintf(`jspeer.echo(%d)`, len(msgs)))
		done <- err
	}()
	for _, m := range msgs {
		if err := s.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
		got, err := s.Receive(ctx)
		if err != nil {
			p.DumpLogs()
			t.Fatalf("echo of %d bytes: %v", len(m), err)
		}
		if !bytes.Equal(got, m) {
			t.Fatalf("echo of %d bytes came back as %d different bytes", len(m), len(got))
		}
	}
	if err := <-done; err != nil {
		p.DumpLogs()
		t.Fatal(err)
	}
	if err := browser.MustEval[string](p, 10*time.Second, `jspeer.send("hello from the browser").then(() => "")`); err != "" {
		t.Fatal(err)
	}
	got, err := s.Receive(ctx)
	if err != nil || string(got) != "hello from the browser" {
		t.Fatalf("from the browser: %q, %v", got, err)
	}
}

func TestBrowserInvitesNative(t *testing.T) {
	t.Parallel()
	p := openJSPeer(t)
	token := browser.MustEval[string](p, 30*time.Second, `jspeer.invite()`)
	offer, err := invite.ParseOffer(token)
	if err != nil {
		t.Fatalf("the browser's offer: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	acc, err := Accept(ctx, testIdentity(t), offer, loopback())
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close()
	code := make(chan string, 1)
	go func() {
		c, err := browser.Eval[string](p, 60*time.Second, fmt.Sprintf(`jspeer.apply(%q)`, acc.Token()))
		if err != nil {
			t.Error(err)
		}
		code <- c
	}()
	s, err := acc.Wait(ctx)
	if err != nil {
		p.DumpLogs()
		t.Fatal(err)
	}
	defer s.Close()
	if c := <-code; c != s.SafetyCode() {
		t.Fatalf("safety codes differ: browser %q, native %q", c, s.SafetyCode())
	}
	exchange(t, p, s)
}

func TestNativeInvitesBrowser(t *testing.T) {
	t.Parallel()
	p := openJSPeer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	inv, err := Invite(ctx, testIdentity(t), loopback())
	if err != nil {
		t.Fatal(err)
	}
	defer inv.Close()
	answer := browser.MustEval[string](p, 30*time.Second, fmt.Sprintf(`jspeer.accept(%q)`, inv.Token()))
	a, err := inv.ReadAnswer(answer)
	if err != nil {
		t.Fatalf("the browser's answer: %v", err)
	}
	code := make(chan string, 1)
	go func() {
		c, err := browser.Eval[string](p, 60*time.Second, `jspeer.wait()`)
		if err != nil {
			t.Error(err)
		}
		code <- c
	}()
	s, err := inv.Connect(ctx, a)
	if err != nil {
		p.DumpLogs()
		t.Fatal(err)
	}
	defer s.Close()
	if c := <-code; c != s.SafetyCode() {
		t.Fatalf("safety codes differ: browser %q, native %q", c, s.SafetyCode())
	}
	exchange(t, p, s)
}
