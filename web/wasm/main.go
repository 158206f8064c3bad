//go:build js && wasm

// Command wasm is sp2p's library built for the browser: it puts a bridge
// object on globalThis.__sp2p_bridge, which web/sp2p.js wraps in the API
// of web/sp2p.d.ts. Every method that waits returns a Promise and does its
// work in a goroutine, so the page's event loop never waits on Go.
// Objects JavaScript holds (invitations, sessions, groups) are numbered
// handles into a table here; the private key stays in this program and
// leaves it only as the identity file (identityMarshal), as sp2p.d.ts says.
package main

import (
	"runtime/debug"
	"syscall/js"
)

func main() {
	b := newBridge()
	obj := js.Global().Get("Object").New()
	for name, fn := range b.methods() {
		obj.Set(name, fn)
	}
	js.Global().Set("__sp2p_bridge", obj)
	if ready := js.Global().Get("__sp2p_ready"); ready.Type() == js.TypeFunction {
		ready.Invoke(obj)
	}
	select {} // the bridge lives as long as the page
}

// version is "sp2p VERSION (go, commit)" like the CLI's version line.
func version() string {
	v, rev, gov := "devel", "", ""
	if info, ok := debug.ReadBuildInfo(); ok {
		gov = info.GoVersion
		if info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = s.Value[:12]
			}
		}
	}
	s := v + " (" + gov
	if rev != "" {
		s += ", commit " + rev
	}
	return s + ", js/wasm)"
}
