package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte("# defaults\nstun stun:127.0.0.1:3478\n\nturn turn:127.0.0.1:3479?transport=udp  # relay\nturn-user friends\nturn-user second\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{STUN: []string{"stun:127.0.0.1:3478"}, TURN: []string{"turn:127.0.0.1:3479?transport=udp"}, TURNUser: "friends"}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got %+v", c)
	}
	for in, line := range map[string]string{
		"stun stun:x:1\nstnu stun:y:2\n":              "2:",
		"stun http://x\n":                             "1:",
		"turn-user\n":                                 "1:",
		"stun stun:a b\n":                             "1:",
		"\n\nstun stun:\x1b[31m\n":                    "3:",
		strings.Repeat("x", MaxLineLen+1) + "\n":      "1:",
		strings.Repeat("stun stun:x\n", MaxServers+1): "65:",
	} {
		_, err := Parse([]byte(in))
		if !errors.Is(err, ErrSyntax) || !strings.HasPrefix(err.Error(), line) {
			t.Errorf("Parse(%.30q) = %v, want ErrSyntax at line %s", in, err, line)
		}
	}
}

// The config chooses the relays: like known_peers it is refused when
// another user owns it or its directory, or group or others can write
// either; and it is size-checked before it is read.
func TestConfigFileChecks(t *testing.T) {
	t.Parallel()
	setup := func(t *testing.T) (string, string) {
		dir := filepath.Join(t.TempDir(), "sp2p")
		os.Mkdir(dir, 0o700)
		path := filepath.Join(dir, Name)
		if err := os.WriteFile(path, []byte("stun stun:x:1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if c, err := Load(path); err != nil || len(c.STUN) != 1 {
			t.Fatalf("as written: %v", err)
		}
		return dir, path
	}
	if c, err := Load(filepath.Join(t.TempDir(), Name)); err != nil || len(c.STUN) != 0 {
		t.Errorf("missing file: %+v, %v", c, err)
	}
	for _, perm := range []os.FileMode{0o664, 0o646} {
		_, path := setup(t)
		os.Chmod(path, perm)
		if _, err := Load(path); !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "chmod go-w "+path) {
			t.Errorf("file %04o: %v", perm, err)
		}
	}
	for _, perm := range []os.FileMode{0o770, 0o703} {
		dir, path := setup(t)
		os.Chmod(dir, perm)
		if _, err := Load(path); !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "chmod go-w "+dir) {
			t.Errorf("directory %04o: %v", perm, err)
		}
	}
	dir, path := setup(t)
	if err := os.Truncate(path, 2<<30); err == nil {
		if _, err := Load(path); !errors.Is(err, ErrTooLarge) {
			t.Errorf("2 GiB config: %v", err)
		}
	}
	os.Truncate(path, MaxSize)
	if _, err := Load(path); errors.Is(err, ErrTooLarge) {
		t.Errorf("config of exactly %d bytes: %v", MaxSize, err)
	}
	os.Truncate(path, MaxSize+1)
	if _, err := Load(path); !errors.Is(err, ErrTooLarge) {
		t.Errorf("config of %d bytes: %v", MaxSize+1, err)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files away")
	}
	os.Truncate(path, 0)
	os.Chown(path, 4242, 4242)
	if _, err := Load(path); !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "owned by uid 4242") {
		t.Errorf("file of another user: %v", err)
	}
	os.Chown(path, 0, 0)
	os.Chown(dir, 4242, 4242)
	if _, err := Load(path); !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "chown 0 "+dir) {
		t.Errorf("directory of another user: %v", err)
	}
}
