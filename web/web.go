// Package web holds sp2p's browser build: the page (index.html, app.js,
// style.css), the JavaScript API (sp2p.js, typed by sp2p.d.ts) and, in
// dist/, the WebAssembly module and Go's wasm_exec.js.
//
// dist/ is generated: run `go generate ./web` before building a program
// that serves the page (`sp2p web`); a binary built without it embeds no
// WebAssembly, and [Missing] says so.
package web

import (
	"embed"
	"io/fs"
)

// The page, the API and the generated files. Globs rather than names for
// the two JavaScript and the declaration files, so that this package
// compiles before the API module exists; [Missing] checks for it.
//
//go:embed index.html style.css *.js *.d.ts package.json README.md dist
var files embed.FS

// Files returns the static files to serve, rooted at the directory that
// holds index.html. Every file is meant to be served as is from one
// origin; none needs server logic.
func Files() fs.FS { return files }

// Required are the files without which the page cannot run: the API
// module, the WebAssembly build and the Go runtime's JavaScript glue.
var Required = []string{"index.html", "app.js", "style.css", "sp2p.js", "dist/sp2p.wasm", "dist/wasm_exec.js"}

// Missing returns the [Required] files that are not embedded, in order;
// none when the page can run. A binary built without `go generate ./web`
// lacks dist/sp2p.wasm and dist/wasm_exec.js.
func Missing() []string {
	var missing []string
	for _, name := range Required {
		if fi, err := fs.Stat(files, name); err != nil || fi.IsDir() {
			missing = append(missing, name)
		}
	}
	return missing
}

// ContentSecurityPolicy is the policy of index.html's meta tag: scripts
// only from the page's own origin, WebAssembly allowed to compile, no
// inline script or style, nothing loaded from anywhere else. A server
// adds frame-ancestors 'none' in the header (a meta tag cannot carry it).
const ContentSecurityPolicy = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'; style-src 'self'; img-src 'self' blob: data:; base-uri 'none'; form-action 'none'"
