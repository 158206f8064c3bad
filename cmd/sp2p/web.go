package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sp2p/sp2p/web"
)

func (a *app) webCmd() *cobra.Command {
	var listen, export string
	var force bool
	cmd := &cobra.Command{
		Use:   "web [--listen ADDR | --export DIR]",
		Short: "Serve the sp2p web page on this machine, or write it out for any static host",
		Long: `Serve sp2p's browser page: the same sp2p, compiled to WebAssembly, in a
page that invites, accepts and chats as 'sp2p invite' and 'sp2p accept' do
(and moves files, where the browser build supports it), and interoperates
with this CLI. The page runs entirely in the browser; the server only hands
out static files and sees no token, message or key.

By default it listens on 127.0.0.1:8080 (this machine only). Browsers
allow the page's cryptography and storage only in a secure context:
https, or http on localhost. A page served over plain http on another
address (a LAN IP) is not one, and fails there.

--export DIR writes the files instead, to host on any static web server
(no server logic is needed; serve it over https).`,
		Example: `  sp2p web                      # then open http://127.0.0.1:8080/
  sp2p web --listen 127.0.0.1:9000
  sp2p web --export ./site      # then upload ./site to any https host`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("listen") && export != "" {
				return &usageError{errors.New("give --listen or --export, not both")}
			}
			if force && export == "" {
				return &usageError{errors.New("--force goes with --export DIR")}
			}
			if export == "" {
				if _, _, err := net.SplitHostPort(listen); err != nil {
					return &usageError{fmt.Errorf("--listen %q: want HOST:PORT, such as 127.0.0.1:8080", listen)}
				}
			}
			if missing := web.Missing(); len(missing) > 0 {
				return &hintError{fmt.Errorf("this sp2p was built without the web page's WebAssembly build (missing %s)", strings.Join(missing, ", ")),
					"run `go generate ./web` in the sp2p source, then rebuild sp2p (go build ./cmd/sp2p)"}
			}
			if export != "" {
				return a.exportWeb(export, force)
			}
			ctx, stop := signalContext()
			defer stop()
			return a.serveWeb(ctx, listen)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "serve on `ADDR` (host:port; port 0 picks a free one)")
	cmd.Flags().StringVar(&export, "export", "", "write the static files to `DIR` instead of serving them")
	cmd.Flags().BoolVar(&force, "force", false, "with --export: write into DIR even when it is not empty (files of the same name are replaced)")
	return cmd
}

// webCSP is the page's Content-Security-Policy, as a header: the meta
// tag's, plus what only a header can say.
const webCSP = web.ContentSecurityPolicy + "; frame-ancestors 'none'"

// webHandler serves fsys as the page: no directory listings, the right
// type for .wasm, security headers, and no stale builds: every load
// revalidates (no-cache) by an ETag of the content, so an unchanged
// 10 MB WebAssembly module is not fetched again.
func webHandler(fsys fs.FS) http.Handler {
	files := http.FileServerFS(fsys)
	var etags sync.Map // name → ETag: embedded files have no modification time to revalidate by
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", webCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cache-Control", "no-cache")
		name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
		if name == "" {
			name = "index.html"
		}
		if fi, err := fs.Stat(fsys, name); err != nil || fi.IsDir() {
			// No listings: a directory is not a page.
			http.NotFound(w, r)
			return
		}
		if t := webContentType(name); t != "" {
			h.Set("Content-Type", t)
		}
		if tag, ok := etags.Load(name); ok {
			h.Set("ETag", tag.(string))
		} else if b, err := fs.ReadFile(fsys, name); err == nil {
			sum := sha256.Sum256(b)
			tag := `"` + hex.EncodeToString(sum[:16]) + `"`
			etags.Store(name, tag)
			h.Set("ETag", tag)
		}
		files.ServeHTTP(w, r)
	})
}

// webContentType is the type of a page file by its extension, independent
// of the system's mime tables (a .wasm must be application/wasm for
// streaming compilation, a module must be JavaScript).
func webContentType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".wasm":
		return "application/wasm"
	case ".json":
		return "application/json"
	case ".md", ".ts":
		return "text/plain; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	}
	return mime.TypeByExtension(path.Ext(name))
}

// serveWeb serves the page on addr until ctx ends (Ctrl-C: exit 130).
func (a *app) serveWeb(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return &hintError{fmt.Errorf("cannot serve the page on %s: the port is in use (another sp2p web?)", addr),
			"choose another port with --listen, such as --listen 127.0.0.1:8081"}
	} else if err != nil {
		return fmt.Errorf("cannot serve the page on %s: %w", addr, err)
	}
	tcp := ln.Addr().(*net.TCPAddr)
	host := tcp.IP.String()
	switch {
	case tcp.IP.IsLoopback():
	case tcp.IP.IsUnspecified():
		host = "127.0.0.1"
		a.warnf("serving on all network interfaces (%s): other machines can load the page, but over plain http on a LAN address it is not a secure context, and the browser refuses its cryptography and storage there; serve it over https for them (sp2p web --export)", ln.Addr())
	default:
		a.warnf("%s is not a loopback address: over plain http there the page is not a secure context, and the browser refuses its cryptography and storage; use 127.0.0.1, or serve it over https (sp2p web --export)", tcp.IP)
	}
	url := "http://" + net.JoinHostPort(host, fmt.Sprint(tcp.Port)) + "/"
	srv := &http.Server{
		Handler:           webHandler(web.Files()),
		ReadHeaderTimeout: 10 * time.Second,
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	fmt.Fprintln(a.stdout, url)
	a.infof("open %s in your browser; Ctrl-C stops the server", url)
	select {
	case err := <-done:
		return fmt.Errorf("serving the page: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	return ctx.Err()
}

// exportWeb writes the page's files to dir: files 0644, folders 0755. A
// dir that exists must be empty, unless force.
func (a *app) exportWeb(dir string, force bool) error {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 && !force {
		return &hintError{fmt.Errorf("%s is not empty", dir), "choose an empty or new folder, or add --force to write into it (files of the same name are replaced)"}
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	fsys := web.Files()
	n, bytes := 0, int64(0)
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		if d.IsDir() {
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
			return os.Chmod(dst, 0o755)
		}
		w, err := writeExported(fsys, name, dst)
		n++
		bytes += w
		return err
	})
	if err != nil {
		return fmt.Errorf("writing the page to %s: %w", dir, err)
	}
	a.infof("wrote %d files (%s) to %s", n, humanBytes(bytes), dir)
	a.infof("host that folder on any static web server: the page needs no server logic, only files (serve .wasm as application/wasm)")
	a.infof("browsers run it only in a secure context: serve it over https (or on localhost); opening index.html as a file does not work")
	return nil
}

// writeExported copies one embedded file to dst, mode 0644.
func writeExported(fsys fs.FS, name, dst string) (int64, error) {
	src, err := fsys.Open(name)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	// Replace rather than write through: dst may be a link to elsewhere.
	if err := os.Remove(dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, src)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(dst, 0o644) // whatever the umask
	}
	return n, err
}
