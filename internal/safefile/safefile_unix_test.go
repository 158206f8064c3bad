//go:build unix

package safefile

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// A named pipe is refused without being opened (which would block until
// a writer came) unless AllowPipe; then it is read through the limit.
func TestPipes(t *testing.T) {
	t.Parallel()
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip(err)
	}
	if _, err := ReadFile(fifo, Policy{Max: 10, Strict: true}); !errors.Is(err, ErrNotRegular) {
		t.Fatalf("fifo: %v", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() {
		w.Write([]byte(strings.Repeat("b", 1000)))
		w.Close()
	}()
	path := "/dev/fd/" + strconv.Itoa(int(r.Fd()))
	if _, err := os.Stat(path); err != nil {
		t.Skip(err)
	}
	if _, err := ReadFile(path, Policy{Max: 99, AllowPipe: true}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("pipe of 1000 bytes, limit 99: %v", err)
	}
}
