package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/sp2p/sp2p/web"
)

// The handler, in process, over a stand-in for the embedded files: types,
// headers, no listings, GET only.
func TestWebHandler(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"index.html":        {Data: []byte("<!doctype html><title>x</title>")},
		"app.js":            {Data: []byte("export {}")},
		"style.css":         {Data: []byte("body{}")},
		"sp2p.d.ts":         {Data: []byte("export {}")},
		"package.json":      {Data: []byte("{}")},
		"dist/sp2p.wasm":    {Data: []byte("\x00asm\x01\x00\x00\x00")},
		"dist/wasm_exec.js": {Data: []byte("//")},
	}
	srv := httptest.NewServer(webHandler(fsys))
	defer srv.Close()
	for _, c := range []struct{ path, ctype string }{
		{"/", "text/html; charset=utf-8"},
		{"/index.html", "text/html; charset=utf-8"},
		{"/app.js", "text/javascript; charset=utf-8"},
		{"/style.css", "text/css; charset=utf-8"},
		{"/sp2p.d.ts", "text/plain; charset=utf-8"},
		{"/package.json", "application/json"},
		{"/dist/sp2p.wasm", "application/wasm"},
		{"/dist/wasm_exec.js", "text/javascript; charset=utf-8"},
	} {
		resp, err := http.Get(srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s", c.path, resp.Status)
			continue
		}
		checkWebHeaders(t, c.path, resp.Header, c.ctype)
		name := strings.TrimPrefix(c.path, "/")
		if name == "" {
			name = "index.html"
		}
		if string(body) != string(fsys[name].Data) {
			t.Errorf("GET %s: body %q", c.path, body)
		}
	}
	for _, p := range []string{"/dist/", "/dist", "/nothing.html", "/../web.go"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %s, want 404 (no listings, nothing outside)", p, resp.Status)
		}
	}
	// Revalidation by ETag: an unchanged file is not sent again.
	resp, err := http.Get(srv.URL + "/dist/sp2p.wasm")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	tag := resp.Header.Get("ETag")
	req, _ := http.NewRequest("GET", srv.URL+"/dist/sp2p.wasm", nil)
	req.Header.Set("If-None-Match", tag)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if tag == "" || resp.StatusCode != http.StatusNotModified {
		t.Errorf("revalidating with ETag %q: %s, want 304", tag, resp.Status)
	}
	resp, err = http.Post(srv.URL+"/", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %s", resp.Status)
	}
}

func checkWebHeaders(t *testing.T, path string, h http.Header, ctype string) {
	t.Helper()
	for k, want := range map[string]string{
		"Content-Type":            ctype,
		"Content-Security-Policy": web.ContentSecurityPolicy + "; frame-ancestors 'none'",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-cache",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("GET %s: %s: %q, want %q", path, k, got, want)
		}
	}
}

func TestBinaryWebUsage(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	for _, args := range [][]string{
		{"web", "extra"},
		{"web", "--listen", "127.0.0.1:0", "--export", filepath.Join(home, "x")},
		{"web", "--force"},
		{"web", "--listen", "nonsense"},
		{"web", "--no-such-flag"},
	} {
		r := runBinary(t, home, "", args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, "sp2p: error: ") || !strings.Contains(r.stderr, "sp2p web --help") {
			t.Errorf("%q: exit %d, want 2 with a usage hint\n%s", args, r.code, r.stderr)
		}
	}
}

// A binary built without `go generate ./web` says what to do.
func TestBinaryWebWithoutWasm(t *testing.T) {
	t.Parallel()
	// A binary built as if go generate ./web had not run: the build sees
	// web/dist/sp2p.wasm as deleted (go build -overlay).
	dir := t.TempDir()
	wasm, err := filepath.Abs(filepath.Join("..", "..", "web", "dist", "sp2p.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	overlay := filepath.Join(dir, "overlay.json")
	ov, _ := json.Marshal(map[string]map[string]string{"Replace": {wasm: ""}})
	if err := os.WriteFile(overlay, ov, 0o600); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "sp2p")
	if out, err := exec.Command("go", "build", "-overlay", overlay, "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building sp2p without the WebAssembly: %v\n%s", err, out)
	}
	home := t.TempDir()
	for _, args := range [][]string{{"web"}, {"web", "--export", filepath.Join(home, "site")}} {
		r := runBin(t, bin, home, args...)
		if r.code != exitError || !strings.Contains(r.stderr, "without the web page's WebAssembly build") || !strings.Contains(r.stderr, "go generate ./web") {
			t.Errorf("%q: exit %d\n%s", args, r.code, r.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(home, "site")); err == nil {
		t.Error("--export without the WebAssembly created its folder")
	}
}

// webBinary returns the sp2p binary of the tests, which embeds the
// WebAssembly build (TestMain runs the generator before building it).
func webBinary(t *testing.T) string {
	t.Helper()
	return sp2pBinary
}

// startWeb runs `sp2p web` with args and returns the URL it printed.
func startWeb(t *testing.T, bin string, args ...string) (url string, cmd *exec.Cmd, stderr *syncBuffer) {
	t.Helper()
	cmd = exec.Command(bin, append([]string{"web"}, args...)...)
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	stderr = new(syncBuffer) // written by the process while the test reads it
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(out).ReadString('\n')
		line <- strings.TrimSpace(l)
		io.Copy(io.Discard, out)
	}()
	select {
	case url = <-line:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("sp2p web printed no URL")
	}
	if !strings.HasPrefix(url, "http://") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("sp2p web printed %q\n%s", url, stderr)
	}
	return url, cmd, stderr
}

func TestBinaryWebServes(t *testing.T) {
	t.Parallel()
	bin := webBinary(t)
	url, cmd, stderr := startWeb(t, bin, "--listen", "127.0.0.1:0")
	for _, c := range []struct{ path, ctype, begins string }{
		{"", "text/html; charset=utf-8", "<!doctype html>"},
		{"index.html", "text/html; charset=utf-8", "<!doctype html>"},
		{"app.js", "text/javascript; charset=utf-8", ""},
		{"sp2p.js", "text/javascript; charset=utf-8", ""},
		{"style.css", "text/css; charset=utf-8", ""},
		{"dist/wasm_exec.js", "text/javascript; charset=utf-8", ""},
		{"dist/sp2p.wasm", "application/wasm", "\x00asm"},
	} {
		resp, err := http.Get(url + c.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), c.begins) {
			t.Errorf("GET /%s: %s, body begins %q", c.path, resp.Status, body[:min(len(body), 16)])
		}
		checkWebHeaders(t, "/"+c.path, resp.Header, c.ctype)
	}
	if !strings.Contains(stderr.String(), "open "+url+" in your browser") {
		t.Errorf("stderr does not say what to open:\n%s", stderr)
	}
	// A second server on the same port says so, and how to choose another.
	busy := runBin(t, bin, t.TempDir(), "web", "--listen", strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/"))
	if busy.code != exitError || !strings.Contains(busy.stderr, "in use") || !strings.Contains(busy.stderr, "--listen") {
		t.Errorf("second sp2p web on the same port: exit %d\n%s", busy.code, busy.stderr)
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitInterrupted {
		t.Errorf("after Ctrl-C: %v, want exit %d\n%s", err, exitInterrupted, stderr)
	}
	if !strings.Contains(stderr.String(), "sp2p: interrupted") {
		t.Errorf("after Ctrl-C, stderr:\n%s", stderr)
	}
}

func TestBinaryWebWarnsNotLoopback(t *testing.T) {
	t.Parallel()
	bin := webBinary(t)
	url, cmd, stderr := startWeb(t, bin, "--listen", "0.0.0.0:0")
	defer cmd.Wait()
	defer cmd.Process.Signal(syscall.SIGINT)
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Errorf("URL %q, want the loopback address to open", url)
	}
	time.Sleep(100 * time.Millisecond) // the warning is written before the URL; let it arrive
	if s := stderr.String(); !strings.Contains(s, "sp2p: warning: ") || !strings.Contains(s, "secure context") {
		t.Errorf("no warning about a non-loopback address:\n%s", s)
	}
}

func TestBinaryWebExport(t *testing.T) {
	t.Parallel()
	bin := webBinary(t)
	home := t.TempDir()
	dir := filepath.Join(home, "site")
	r := runBin(t, bin, home, "web", "--export", dir)
	if r.code != 0 {
		t.Fatalf("export: exit %d\n%s", r.code, r.stderr)
	}
	checkExport(t, dir)
	if !strings.Contains(r.stderr, "https") || !strings.Contains(r.stderr, "static") {
		t.Errorf("export does not say how to host the files:\n%s", r.stderr)
	}
	// Not into a folder that is not empty, unless --force.
	again := runBin(t, bin, home, "web", "--export", dir)
	if again.code != exitError || !strings.Contains(again.stderr, "not empty") || !strings.Contains(again.stderr, "--force") {
		t.Errorf("export into a non-empty folder: exit %d\n%s", again.code, again.stderr)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	forced := runBin(t, bin, home, "web", "--export", dir, "--force")
	if forced.code != 0 {
		t.Fatalf("export --force: exit %d\n%s", forced.code, forced.stderr)
	}
	checkExport(t, dir)
}

// runBin is runBinary with another binary.
func runBin(t *testing.T, bin, home string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}
}

// checkExport checks that dir holds the page's files as they are in the
// source tree (which the binary embedded), byte for byte, with modes 0644
// and 0755, and nothing else.
func checkExport(t *testing.T, dir string) {
	t.Helper()
	src := filepath.Join("..", "..", "web")
	want := map[string]bool{"index.html": true, "style.css": true, "package.json": true, "README.md": true}
	for _, pattern := range []string{"*.js", "*.d.ts", "dist/*"} {
		names, _ := filepath.Glob(filepath.Join(src, pattern))
		for _, n := range names {
			if rel, _ := filepath.Rel(src, n); !strings.HasPrefix(filepath.Base(rel), ".") {
				want[filepath.ToSlash(rel)] = true
			}
		}
	}
	got := map[string]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			if fi.Mode().Perm() != 0o755 {
				t.Errorf("%s: mode %v, want 0755", rel, fi.Mode().Perm())
			}
			return nil
		}
		rel = filepath.ToSlash(rel)
		got[rel] = true
		if fi.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v, want 0644", rel, fi.Mode().Perm())
		}
		a, _ := os.ReadFile(p)
		b, err := os.ReadFile(filepath.Join(src, filepath.FromSlash(rel)))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s: exported content differs from web/%s (%v)", rel, rel, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name := range want {
		if !got[name] {
			t.Errorf("export lacks %s", name)
		}
	}
	for name := range got {
		if !want[name] {
			t.Errorf("export has %s, which is not part of the page", name)
		}
	}
	for _, name := range web.Required {
		if !got[name] {
			t.Errorf("export lacks the required %s", name)
		}
	}
}
