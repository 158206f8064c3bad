package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Small things from "First contact without friction", each through the
// real binary.

func TestBinaryVersionFlag(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	cmd := runBinary(t, home, "", "version")
	flag := runBinary(t, home, "", "--version")
	if cmd.code != 0 || flag.code != 0 || flag.stdout != cmd.stdout || !strings.HasPrefix(flag.stdout, "sp2p ") {
		t.Fatalf("version: exit %d %q; --version: exit %d %q %s", cmd.code, cmd.stdout, flag.code, flag.stdout, flag.stderr)
	}
}

func TestBinarySendMissingPath(t *testing.T) {
	t.Parallel()
	home := newHome(t)
	r := runBinary(t, home, "", "send", "/nonexistent")
	if r.code != 1 || !strings.Contains(r.stderr, "sp2p: error: no such file: /nonexistent\n") || strings.Contains(r.stderr, "panic") {
		t.Fatalf("send /nonexistent: exit %d\n%s", r.code, r.stderr)
	}
}

func TestBinaryReceiveCreatesOut(t *testing.T) {
	t.Parallel()
	home := newHome(t)
	out := filepath.Join(home, "new", "downloads")
	r := runBinary(t, home, "", "receive", "--out", out, "not-a-token")
	fi, err := os.Stat(out)
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("--out not created as a 0700 directory (%v, %v)\n%s", fi, err, r.stderr)
	}
	if !strings.Contains(r.stderr, "created "+`"`+out+`"`+" (mode 0700)") {
		t.Errorf("creating --out is not reported:\n%s", r.stderr)
	}

	// A file on the way: the error says so and what to do.
	file := filepath.Join(home, "afile")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r = runBinary(t, home, "", "receive", "--out", filepath.Join(file, "sub"), "not-a-token")
	if r.code != 1 || !strings.Contains(r.stderr, "not a directory") || !strings.Contains(r.stderr, "sp2p: hint: ") || !strings.Contains(r.stderr, "another --out") {
		t.Fatalf("--out under a file: exit %d\n%s", r.code, r.stderr)
	}
}
