package safefile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func write(t *testing.T, dir, name string, data string, perm os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, perm); err != nil {
		t.Fatal(err)
	}
	return p
}

// A 2 GiB sparse file is refused from its size, before it is read: the
// error says so and almost nothing is allocated.
func TestSparseFileRefusedUnread(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "big")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(2 << 30); err != nil {
		t.Skipf("no sparse files here: %v", err)
	}
	f.Close()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = ReadFile(p, Policy{Max: 4096, Strict: true})
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), p) {
		t.Fatalf("err = %v, want ErrTooLarge naming the file", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("allocated %d bytes to refuse it", grew)
	}
}

// The size limit is exact: Max bytes are read, Max+1 are refused, also
// through a pipe, where the size is not known in advance.
func TestSizeBoundary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ok := write(t, dir, "ok", strings.Repeat("a", 100), 0o600)
	if b, err := ReadFile(ok, Policy{Max: 100}); err != nil || len(b) != 100 {
		t.Fatalf("100 of 100 bytes: %d, %v", len(b), err)
	}
	if _, err := ReadFile(ok, Policy{Max: 99}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("100 of 99 bytes: %v", err)
	}
}

func TestNotRegularRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := ReadFile(dir, Policy{Max: 10}); !errors.Is(err, ErrNotRegular) {
		t.Fatalf("directory: %v", err)
	}
	if _, err := ReadFile(filepath.Join(dir, "missing"), Policy{Max: 10}); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing: %v", err)
	}
}

// Strict refuses what ssh's StrictModes refuses, naming the file and the
// fix.
func TestStrictModes(t *testing.T) {
	t.Parallel()
	strict := Policy{Max: 1 << 10, Strict: true}
	for _, perm := range []os.FileMode{0o620, 0o602, 0o666} {
		dir := t.TempDir()
		p := write(t, dir, "f", "x", perm)
		_, err := ReadFile(p, strict)
		if !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "chmod go-w "+p) {
			t.Errorf("file %04o: %v", perm, err)
		}
	}
	for _, perm := range []os.FileMode{0o770, 0o707, 0o777} {
		dir := filepath.Join(t.TempDir(), "d")
		os.Mkdir(dir, 0o700)
		p := write(t, dir, "f", "x", 0o600)
		os.Chmod(dir, perm)
		_, err := ReadFile(p, strict)
		if !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "chmod go-w "+dir) {
			t.Errorf("directory %04o: %v", perm, err)
		}
	}
	dir := t.TempDir()
	p := write(t, dir, "f", "x", 0o644)
	if _, err := ReadFile(p, strict); err != nil {
		t.Errorf("0644 in a 0700 directory: %v", err)
	}
	if _, err := ReadFile(p, Policy{Max: 10, Private: true}); !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("0644 private: %v", err)
	}
}

// A file or directory owned by another user is refused (needs root to
// give it away).
func TestStrictOwner(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	const other = 12345
	strict := Policy{Max: 1 << 10, Strict: true}
	dir := t.TempDir()
	p := write(t, dir, "f", "x", 0o600)
	if err := os.Chown(p, other, other); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(p, strict); !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "owned by uid 12345") || !strings.Contains(err.Error(), "chown 0 "+p) {
		t.Errorf("file of another user: %v", err)
	}
	sub := filepath.Join(t.TempDir(), "d")
	os.Mkdir(sub, 0o700)
	q := write(t, sub, "f", "x", 0o600)
	if err := os.Chown(sub, other, other); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(q, strict); !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "chown 0 "+sub) {
		t.Errorf("directory of another user: %v", err)
	}
}
