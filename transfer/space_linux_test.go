package transfer

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// smallDisk mounts a 1 MiB tmpfs on a new directory for the test (root
// only) and unmounts it at the end.
func smallDisk(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// An offer larger than the free space of the output directory's
// filesystem (a real 1 MiB tmpfs) is refused before anything is written;
// the sender is told "not enough space"; one that fits arrives.
func TestNoSpaceRefused(t *testing.T) {
	t.Parallel()
	out := smallDisk(t)
	src := t.TempDir()
	writeRandom(t, filepath.Join(src, "big.bin"), 2<<20)
	writeRandom(t, filepath.Join(src, "small.bin"), 100<<10)
	m, local, _, err := BuildManifest([]string{filepath.Join(src, "big.bin")})
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	_, _, serr, rerr := runPipe(t, m, local, ReceiveOptions{Dir: out})
	var se *SpaceError
	if !errors.As(rerr, &se) || se.Need != 2<<20 || se.Free > 1<<20 {
		t.Fatalf("receive: %v", rerr)
	}
	if !errors.Is(serr, ErrDeclined) || !strings.Contains(serr.Error(), "not enough space") {
		t.Fatalf("send: %v", serr)
	}
	if ents, _ := os.ReadDir(out); len(ents) != 0 {
		t.Fatalf("written: %v", ents)
	}
	m, local2, _, err := BuildManifest([]string{filepath.Join(src, "small.bin")})
	if err != nil {
		t.Fatal(err)
	}
	defer local2.Close()
	if _, _, serr, rerr := runPipe(t, m, local2, ReceiveOptions{Dir: out}); serr != nil || rerr != nil {
		t.Fatalf("a file that fits: %v / %v", serr, rerr)
	}
}

// When the disk fills during the transfer (the free-space check was told
// there is room), the receiver stops with ErrDiskFull, saying so and where,
// and keeps the part file for a later resume; no file has its final name.
func TestDiskFullMidTransfer(t *testing.T) {
	t.Parallel()
	out := smallDisk(t)
	src := t.TempDir()
	writeRandom(t, filepath.Join(src, "big.bin"), 2<<20)
	m, local, _, err := BuildManifest([]string{filepath.Join(src, "big.bin")})
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	plenty := func(*os.Root) (int64, error) { return 1 << 40, nil }
	_, _, serr, rerr := runPipe(t, m, local, ReceiveOptions{Dir: out, freeSpace: plenty})
	t.Logf("receiver: %v", rerr)
	t.Logf("sender: %v", serr)
	if !errors.Is(rerr, ErrDiskFull) || !strings.Contains(rerr.Error(), "disk full on "+out) || !strings.Contains(rerr.Error(), "kept") {
		t.Fatalf("receive: %v", rerr)
	}
	if serr == nil {
		t.Error("the sender did not notice")
	}
	if _, err := os.Stat(filepath.Join(out, "big.bin")); err == nil {
		t.Error("a truncated file has the final name")
	}
	part, err := os.ReadFile(filepath.Join(out, partName(m.Entries[0])))
	if err != nil || len(part) == 0 {
		t.Fatalf("no part file kept: %v", err)
	}
	whole, _ := os.ReadFile(filepath.Join(src, "big.bin"))
	if !bytes.HasPrefix(whole, part) {
		t.Error("the part file is not a prefix of the file")
	}
}
