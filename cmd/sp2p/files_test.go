//go:build unix

package main

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/internal/safefile"
	"github.com/sp2p/sp2p/invite"
)

func sparse(t *testing.T, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Skipf("no sparse files: %v", err)
	}
}

// A 2 GiB sparse answer or offer file is refused at once from its size,
// with a "too large" error, without being read (the old code read it whole
// and so ignored a 300 ms timeout).
func TestTokenFileTooLarge(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "answer.txt")
	sparse(t, path, 2<<30)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := waitTokenFile(ctx, path, invite.KindAnswer)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, invite.ErrLimit) || !strings.Contains(err.Error(), "too large") || !strings.Contains(err.Error(), path) {
		t.Fatalf("2 GiB answer file: %v, want a too-large error", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("refused only at the timeout")
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("allocated %d bytes to refuse it", grew)
	}
	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// At the limit is read (here an offer, the wrong kind: that error
	// shows it was read and decoded); one byte more is refused.
	id, err := identity.FromSeed(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	offer, err := invite.NewOffer(id, invite.OfferParams{Conn: invite.ConnDesc{
		Role:       invite.RoleActPass,
		Candidates: []invite.Candidate{{Type: invite.Host, Addr: netip.MustParseAddrPort("192.0.2.1:4000")}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	text := offer.Text() + "\n"
	os.WriteFile(path, []byte(text+strings.Repeat(" ", invite.MaxTextSize-len(text))), 0o644)
	if _, err := waitTokenFile(ctx, path, invite.KindAnswer); err == nil || !strings.Contains(err.Error(), "holds an offer token") {
		t.Errorf("%d bytes: %v", invite.MaxTextSize, err)
	}
	os.Truncate(path, invite.MaxTextSize+1)
	if _, err := waitTokenFile(ctx, path, invite.KindAnswer); !errors.Is(err, invite.ErrLimit) {
		t.Errorf("%d bytes: %v", invite.MaxTextSize+1, err)
	}
	// A character device that never ends is read through the limit.
	if _, err := waitTokenFile(ctx, "/dev/zero", invite.KindAnswer); !errors.Is(err, invite.ErrLimit) {
		t.Errorf("/dev/zero: %v", err)
	}
}

// Waiting on a token file or a named pipe ends with the context.
func TestTokenFileWaitHonoursContext(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, path := range []string{filepath.Join(dir, "missing"), filepath.Join(dir, "fifo")} {
		if strings.HasSuffix(path, "fifo") {
			if err := syscall.Mkfifo(path, 0o600); err != nil {
				t.Skip(err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		_, err := waitTokenFile(ctx, path, invite.KindAnswer)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: %v, want the deadline", path, err)
		}
	}
	// A directory is refused at once, not waited on.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := waitTokenFile(ctx, dir, invite.KindAnswer); err == nil || !strings.Contains(err.Error(), "not a file") {
		t.Errorf("directory: %v", err)
	}
}

// The passphrase file is size-checked before it is read; at the limit it
// is read.
func TestPassphraseFileSizeChecked(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "pass")
	sparse(t, path, 2<<30)
	if _, err := readPassphraseFile(path); !errors.Is(err, safefile.ErrTooLarge) || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("2 GiB passphrase file: %v", err)
	}
	os.WriteFile(path, []byte("pw\n"+strings.Repeat("x", maxPassphraseFile-3)), 0o600)
	if b, err := readPassphraseFile(path); err != nil || string(b) != "pw" {
		t.Errorf("%d bytes: %q, %v", maxPassphraseFile, b, err)
	}
	os.WriteFile(path, []byte("pw\n"+strings.Repeat("x", maxPassphraseFile-2)), 0o600)
	if _, err := readPassphraseFile(path); !errors.Is(err, safefile.ErrTooLarge) {
		t.Errorf("%d bytes: %v", maxPassphraseFile+1, err)
	}
}

// The config file is refused when group or others can write it or its
// directory, with the file and the fix in the message.
func TestConfigFileUnsafeRefused(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "sp2p")
	os.Mkdir(dir, 0o700)
	cfg := filepath.Join(dir, "config")
	os.WriteFile(cfg, []byte("stun stun:127.0.0.1:3478\n"), 0o600)
	a := &app{identityPath: filepath.Join(dir, "identity"), getenv: func(string) string { return "" }}
	if _, err := a.sessionOptions(&connFlags{heartbeat: time.Second}); err != nil {
		t.Fatal(err)
	}
	os.Chmod(cfg, 0o666)
	if _, err := a.sessionOptions(&connFlags{heartbeat: time.Second}); err == nil || !strings.Contains(err.Error(), "chmod go-w "+cfg) {
		t.Errorf("world-writable config: %v", err)
	}
	os.Chmod(cfg, 0o600)
	os.Chmod(dir, 0o777)
	if _, err := a.sessionOptions(&connFlags{heartbeat: time.Second}); err == nil || !strings.Contains(err.Error(), "chmod go-w "+dir) {
		t.Errorf("world-writable config directory: %v", err)
	}
}
