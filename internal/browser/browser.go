//go:build !js

package browser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// DefaultPath is where Debian's chromium package puts the browser.
const DefaultPath = "/usr/bin/chromium"

// Path returns the Chromium to use (SP2P_CHROMIUM, else DefaultPath) and
// whether it exists.
func Path() (string, bool) {
	p := os.Getenv("SP2P_CHROMIUM")
	if p == "" {
		p = DefaultPath
	}
	_, err := os.Stat(p)
	return p, err == nil
}

// Options configure a browser.
type Options struct {
	// Netns runs Chromium inside this network namespace (ip netns exec).
	Netns string
	// Stock keeps Chromium's defaults for WebRTC: local addresses hidden
	// behind mDNS names and no loopback candidates. Without it, Chromium
	// shows its host addresses and may use loopback, as tests on one
	// machine need.
	Stock bool
}

// Browser is one running Chromium.
type Browser struct {
	t      testing.TB
	ctx    context.Context // the browser's context (first tab)
	cancel context.CancelFunc
	pgid   int
}

// Start starts Chromium, or skips the test when it is not installed.
func Start(t testing.TB, opts Options) *Browser {
	t.Helper()
	path, ok := Path()
	if !ok {
		t.Skipf("no Chromium at %s (Debian package chromium; .ci/run installs it)", path)
	}
	dir := t.TempDir()
	b := &Browser{t: t}
	flags := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // tests run as root
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.UserDataDir(dir),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(1200, 900),
	}
	all := append(chromedp.DefaultExecAllocatorOptions[:], flags...)
	if !opts.Stock {
		all = append(all,
			chromedp.Flag("disable-features", "Translate,WebRtcHideLocalIpsWithMdns"),
			chromedp.Flag("allow-loopback-in-peer-connection", true))
	}
	all = append(all, chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
		if cmd.SysProcAttr == nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{}
		}
		cmd.SysProcAttr.Setpgid = true
		if opts.Netns != "" {
			ip, err := exec.LookPath("ip")
			if err != nil {
				ip = "/usr/sbin/ip"
			}
			cmd.Args = append([]string{ip, "netns", "exec", opts.Netns}, cmd.Args...)
			cmd.Path = ip
		}
	}))
	actx, acancel := chromedp.NewExecAllocator(context.Background(), all...)
	ctx, cancel := chromedp.NewContext(actx)
	b.ctx = ctx
	b.cancel = func() { cancel(); acancel() }
	t.Cleanup(b.close)
	if err := chromedp.Do(ctx); err != nil { // starts the browser, bound to ctx
		t.Fatalf("starting Chromium: %v", err)
	}
	b.findGroup(dir)
	return b
}

// findGroup records the process group of the Chromium using dir, so that
// close can kill every child.
func (b *Browser) findGroup(dir string) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, e := range ents {
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !strings.Contains(string(cmdline), "--user-data-dir="+dir) {
			continue
		}
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		if g, err := syscall.Getpgid(pid); err == nil && g != os.Getpid() && g != syscall.Getpgrp() {
			b.pgid = g
			return
		}
	}
}

func (b *Browser) close() {
	b.cancel()
	if b.pgid > 1 {
		syscall.Kill(-b.pgid, syscall.SIGKILL)
	}
}

// Page is one tab.
type Page struct {
	t      testing.TB
	ctx    context.Context
	name   string
	mu     sync.Mutex
	logs   []string
	cancel context.CancelFunc
}

// Open opens url in a new tab. The tab's console and uncaught exceptions
// are logged to the test (prefixed with name) and kept for Logs.
func (b *Browser) Open(name, url string) *Page {
	b.t.Helper()
	return b.open(name, url, false)
}

// OpenBypassingCSP is Open with the page's Content-Security-Policy
// switched off for the test's own scripts (for example, to read back a
// blob: URL the page made, which the page's connect-src refuses).
func (b *Browser) OpenBypassingCSP(name, url string) *Page {
	b.t.Helper()
	return b.open(name, url, true)
}

func (b *Browser) open(name, url string, bypassCSP bool) *Page {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	p := &Page{t: b.t, ctx: ctx, name: name, cancel: cancel}
	b.t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatalf("%s: opening a tab: %v", name, err)
	}
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			p.mu.Lock()
			p.logs = append(p.logs, m.String())
			p.mu.Unlock()
		}
	}()
	if bypassCSP {
		bypass := func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
			_, err := cdp.Call(ctx, t, page.SetBypassCSP, page.SetBypassCSPParams{Enabled: true})
			return chromedp.Void{}, err
		}
		if err := p.do(10*time.Second, bypass); err != nil {
			b.t.Fatalf("%s: bypassing the page's CSP: %v", name, err)
		}
	}
	if err := p.do(30*time.Second, chromedp.Navigate(url)); err != nil {
		b.t.Fatalf("%s: opening %s: %v", name, url, err)
	}
	return p
}

// Logs returns what the page wrote to its console so far.
func (p *Page) Logs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.logs...)
}

// DumpLogs logs the page's console to the test.
func (p *Page) DumpLogs() {
	for _, l := range p.Logs() {
		p.t.Logf("%s console: %s", p.name, l)
	}
}

func (p *Page) do(timeout time.Duration, a ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(p.ctx, timeout)
	defer cancel()
	return chromedp.Do(ctx, a...)
}

// Eval evaluates a JavaScript expression (awaiting a Promise) and decodes
// its value into T.
func Eval[T any](p *Page, timeout time.Duration, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(p.ctx, timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		return v, fmt.Errorf("%s: evaluating %.80q: %w", p.name, expr, err)
	}
	return v, nil
}

// MustEval is Eval that fails the test on error (and shows the console).
func MustEval[T any](p *Page, timeout time.Duration, expr string) T {
	p.t.Helper()
	v, err := Eval[T](p, timeout, expr)
	if err != nil {
		p.DumpLogs()
		p.t.Fatal(err)
	}
	return v
}

// WaitFor waits until the JavaScript expression is truthy.
func (p *Page) WaitFor(timeout time.Duration, expr string) error {
	ctx, cancel := context.WithTimeout(p.ctx, timeout)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "timeout") {
			return fmt.Errorf("%s: waited %v for %s: %w", p.name, timeout, expr, err)
		}
		return fmt.Errorf("%s: waiting for %s: %w", p.name, expr, err)
	}
	return nil
}

// MustWaitFor is WaitFor that fails the test (with the console) on error.
func (p *Page) MustWaitFor(timeout time.Duration, expr string) {
	p.t.Helper()
	if err := p.WaitFor(timeout, expr); err != nil {
		p.DumpLogs()
		p.t.Fatal(err)
	}
}

// Click clicks the element with this id.
func (p *Page) Click(id string) {
	p.t.Helper()
	if err := p.do(10*time.Second, chromedp.Click(chromedp.CSS("#"+id))); err != nil {
		p.DumpLogs()
		p.t.Fatalf("%s: clicking #%s: %v", p.name, id, err)
	}
}

// SetValue sets the value of the input or textarea with this id and fires
// its input and change events, as typing would.
func (p *Page) SetValue(id, value string) {
	p.t.Helper()
	ok, err := Eval[bool](p, 10*time.Second, fmt.Sprintf(`(() => {
		const e = document.getElementById(%q);
		if (!e) return false;
		e.value = %q;
		e.dispatchEvent(new Event('input', {bubbles: true}));
		e.dispatchEvent(new Event('change', {bubbles: true}));
		return true;
	})()`, id, value))
	if err != nil || !ok {
		p.DumpLogs()
		p.t.Fatalf("%s: setting #%s: no such element (%v)", p.name, id, err)
	}
}

// Text returns the value of the input or textarea with this id, or the
// text content of any other element ("" when there is none).
func (p *Page) Text(id string) string {
	p.t.Helper()
	return MustEval[string](p, 10*time.Second, fmt.Sprintf(`(() => {
		const e = document.getElementById(%q);
		if (!e) return '';
		return (e.tagName === 'INPUT' || e.tagName === 'TEXTAREA') ? e.value : e.textContent;
	})()`, id))
}

// UploadFiles sets the files of the file input with this id.
func (p *Page) UploadFiles(id string, files ...string) {
	p.t.Helper()
	if err := p.do(10*time.Second, chromedp.SetUploadFiles(chromedp.CSS("#"+id), files)); err != nil {
		p.t.Fatalf("%s: choosing files for #%s: %v", p.name, id, err)
	}
}

// Screenshot saves a PNG of the page (for a person to look at).
func (p *Page) Screenshot(path string) error {
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return err
	}
	return os.WriteFile(path, buf, 0o644)
}
