package transfer

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"testing"
)

func writeRandom(t *testing.T, p string, n int) {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// treeHash maps every file and directory under dir to its content hash.
func treeHash(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			out[rel] = "dir"
			return nil
		}
		b, _ := os.ReadFile(p)
		h := sha256.Sum256(b)
		info, _ := d.Info()
		out[rel] = hex.EncodeToString(h[:]) + info.Mode().Perm().String()
		return nil
	})
	return out
}

func run(t *testing.T, sconn, rconn io.ReadWriter, paths []string, opts ReceiveOptions) (*SendResult, *ReceiveResult, error, error) {
	t.Helper()
	m, local, _, err := BuildManifest(paths)
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	type sres struct {
		r   *SendResult
		err error
	}
	ch := make(chan sres, 1)
	go func() {
		r, err := Send(sconn, m, local, nil)
		ch <- sres{r, err}
	}()
	rr, rerr := Receive(rconn, opts)
	s := <-ch
	return s.r, rr, s.err, rerr
}

// pipePair is an in-memory stream pair (sender, receiver), for tests
// about what is on disk rather than the transport.
func pipePair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}
