// Command webbuild builds the browser files of sp2p into web/dist: the
// WebAssembly build of ./web/wasm (sp2p.wasm) and the Go release's
// wasm_exec.js that loads it, and prints their sizes (raw and gzipped).
// Run it from anywhere in the module:
//
//	go run ./internal/webbuild
package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "webbuild:", err)
		os.Exit(1)
	}
}

func goEnv(name string) (string, error) {
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		return "", fmt.Errorf("go env %s: %w", name, err)
	}
	return strings.TrimSpace(string(out)), nil
}

func run() error {
	gomod, err := goEnv("GOMOD")
	if err != nil {
		return err
	}
	if gomod == "" || gomod == os.DevNull {
		return fmt.Errorf("not inside the sp2p module")
	}
	root := filepath.Dir(gomod)
	goroot, err := goEnv("GOROOT")
	if err != nil {
		return err
	}
	dist := filepath.Join(root, "web", "dist")
	if err := os.MkdirAll(dist, 0o755); err != nil {
		return err
	}
	wasm := filepath.Join(dist, "sp2p.wasm")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", wasm, "./web/wasm")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("GOOS=js GOARCH=wasm go build ./web/wasm: %w", err)
	}
	// Go 1.24 moved wasm_exec.js from misc/wasm to lib/wasm.
	var execJS []byte
	for _, dir := range []string{"lib", "misc"} {
		if execJS, err = os.ReadFile(filepath.Join(goroot, dir, "wasm", "wasm_exec.js")); err == nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("wasm_exec.js of %s: %w", goroot, err)
	}
	if err := os.WriteFile(filepath.Join(dist, "wasm_exec.js"), execJS, 0o644); err != nil {
		return err
	}
	for _, name := range []string{"sp2p.wasm", "wasm_exec.js"} {
		data, err := os.ReadFile(filepath.Join(dist, name))
		if err != nil {
			return err
		}
		var z bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
		zw.Write(data)
		zw.Close()
		rel, _ := filepath.Rel(root, filepath.Join(dist, name))
		fmt.Printf("%-22s %10d bytes, %10d gzipped\n", rel, len(data), z.Len())
	}
	return nil
}
