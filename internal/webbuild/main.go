// Command webbuild builds the browser files of sp2p into web/dist: the
// WebAssembly build of ./web/wasm (sp2p.wasm) and the Go release's
// wasm_exec.js that loads it, and prints their sizes and web/sp2p.js's
// (raw and gzipped). Its tests run sp2p.js and the build in headless
// Chromium.
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

// moduleRoot is the directory of the sp2p module's go.mod.
func moduleRoot() (string, error) {
	gomod, err := goEnv("GOMOD")
	if err != nil {
		return "", err
	}
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside the sp2p module")
	}
	return filepath.Dir(gomod), nil
}

func run() error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	dist := filepath.Join(root, "web", "dist")
	if err := build(root, dist); err != nil {
		return err
	}
	for _, path := range []string{filepath.Join(dist, "sp2p.wasm"), filepath.Join(dist, "wasm_exec.js"), filepath.Join(root, "web", "sp2p.js")} {
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		fmt.Printf("%-22s %10d bytes, %10d gzipped\n", rel, len(data), gzipSize(data))
	}
	return nil
}

// build writes sp2p.wasm (the js/wasm build of root's ./web/wasm) and the
// wasm_exec.js of the same Go release into dist.
func build(root, dist string) error {
	goroot, err := goEnv("GOROOT")
	if err != nil {
		return err
	}
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
	return os.WriteFile(filepath.Join(dist, "wasm_exec.js"), execJS, 0o644)
}

func gzipSize(data []byte) int {
	var z bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
	zw.Write(data)
	zw.Close()
	return z.Len()
}
