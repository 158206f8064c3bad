package state

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func openIn(t *testing.T, c *cluster, i int, dir string) *Replica {
	t.Helper()
	r, err := Open(dir, Config{Room: testRoom, Self: c.ids[i], Members: c.mem, Now: c.clock.Now, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// recordEnds returns the offset after each record of a state file.
func recordEnds(t *testing.T, b []byte) []int {
	t.Helper()
	var ends []int
	for off := headerLen; off < len(b); {
		n := int(b[off])<<24 | int(b[off+1])<<16 | int(b[off+2])<<8 | int(b[off+3])
		off += 8 + n
		ends = append(ends, off)
	}
	return ends
}

// TestPersistReopen: a replica's ops and fork evidence survive closing and
// opening it again, and it goes on with its own chain.
func TestPersistReopen(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	dir := t.TempDir()
	r := openIn(t, c, 0, dir)
	for i := range 20 {
		c.tick()
		if _, err := r.Set("k", []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.reps[1].Chat("from b"); err != nil {
			t.Fatal(err)
		}
	}
	connect(r, c.reps[1], Budget{}).pump(t, nil, 0)
	want := r.View().Digest()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, FileName(testRoom)))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v, mode %v, want 0600", err, fi.Mode())
	}
	r2 := openIn(t, c, 0, dir)
	defer r2.Close()
	if r2.View().Digest() != want || r2.Ops() != 40 {
		t.Fatalf("reopened: %d ops, the view differs", r2.Ops())
	}
	c.tick()
	if op, err := r2.Set("k", []byte("next")); err != nil || op.Seq != 21 {
		t.Fatalf("the next own op after reopening: %v, seq %d", err, op.Seq)
	}
}

// TestTornTail cuts the state file at every byte offset of its last three
// records: it opens with the complete records before the cut (the torn
// one is cut off the file), and a sync then restores what was cut.
func TestTornTail(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	dir := t.TempDir()
	r := openIn(t, c, 1, dir)
	for range 10 {
		c.tick()
		if _, err := r.Chat("line"); err != nil {
			t.Fatal(err)
		}
	}
	r.Close()
	path := filepath.Join(dir, FileName(testRoom))
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ends := recordEnds(t, full)
	if len(ends) != 10 || ends[9] != len(full) {
		t.Fatalf("records end at %v of %d bytes", ends, len(full))
	}
	source := openIn(t, c, 1, dir)
	defer source.Close()
	for cut := ends[6]; cut < len(full); cut++ {
		d := t.TempDir()
		p := filepath.Join(d, FileName(testRoom))
		if err := os.WriteFile(p, full[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		want := 0
		for want < len(ends) && ends[want] <= cut {
			want++
		}
		r := openIn(t, c, 0, d)
		if r.Ops() != want {
			t.Fatalf("cut at %d: %d ops, want the %d complete records", cut, r.Ops(), want)
		}
		if fi, _ := os.Stat(p); fi.Size() != int64(ends[want-1]) {
			t.Fatalf("cut at %d: the file is %d bytes, want the prefix of %d", cut, fi.Size(), ends[want-1])
		}
		connect(source, r, Budget{}).pump(t, nil, 0)
		if r.Ops() != 10 {
			t.Fatalf("cut at %d: sync restored %d of 10 ops", cut, r.Ops())
		}
		r.Close()
		r = openIn(t, c, 0, d)
		if r.Ops() != 10 {
			t.Fatalf("cut at %d: after sync and reopening, %d ops", cut, r.Ops())
		}
		r.Close()
	}
}

// TestCorruptRecord flips each byte of a record in the middle of the
// state file: opening refuses it with ErrCorrupt naming that record.
func TestCorruptRecord(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 1)
	dir := t.TempDir()
	r := openIn(t, c, 0, dir)
	for range 5 {
		c.tick()
		if _, err := r.Set("key", bytes.Repeat([]byte{7}, 200)); err != nil {
			t.Fatal(err)
		}
	}
	r.Close()
	path := filepath.Join(dir, FileName(testRoom))
	full, _ := os.ReadFile(path)
	ends := recordEnds(t, full)
	for i := ends[1] + 4; i < ends[2]; i++ { // record 2, after its length
		b := append([]byte(nil), full...)
		b[i] ^= 0x40
		d := t.TempDir()
		os.WriteFile(filepath.Join(d, FileName(testRoom)), b, 0o600)
		_, err := Open(d, Config{Room: testRoom, Self: c.ids[0], Members: c.mem, Now: c.clock.Now, Logger: quiet})
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "record 2 ") {
			t.Fatalf("byte %d flipped: %v, want ErrCorrupt naming record 2", i, err)
		}
	}
}

// TestStateFileSafety: a state file others can read, a symbolic link in
// its place, or a directory others can write is refused.
func TestStateFileSafety(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 1)
	cfg := Config{Room: testRoom, Self: c.ids[0], Members: c.mem, Now: c.clock.Now, Logger: quiet}
	dir := t.TempDir()
	r := openIn(t, c, 0, dir)
	r.Close()
	path := filepath.Join(dir, FileName(testRoom))
	os.Chmod(path, 0o644)
	if _, err := Open(dir, cfg); !errors.Is(err, ErrUnsafeFile) {
		t.Fatalf("a 0644 state file: %v", err)
	}
	d2 := t.TempDir()
	if err := os.Symlink(path, filepath.Join(d2, FileName(testRoom))); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(d2, cfg); !errors.Is(err, ErrUnsafeFile) {
		t.Fatalf("a symbolic link: %v", err)
	}
	d3 := t.TempDir()
	os.Chmod(d3, 0o777)
	if _, err := Open(d3, cfg); !errors.Is(err, ErrUnsafeFile) {
		t.Fatalf("a world-writable directory: %v", err)
	}
}

// TestOwnLogRestoredBySync: a member whose state file lost its own newest
// ops is Behind its neighbour until sync brings them back, and then goes
// on with its chain without forking it.
func TestOwnLogRestoredBySync(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	dir := t.TempDir()
	r := openIn(t, c, 0, dir)
	for range 5 {
		c.tick()
		if _, err := r.Chat("mine"); err != nil {
			t.Fatal(err)
		}
	}
	connect(r, c.reps[1], Budget{}).pump(t, nil, 0)
	r.Close()
	path := filepath.Join(dir, FileName(testRoom))
	full, _ := os.ReadFile(path)
	ends := recordEnds(t, full)
	if err := os.WriteFile(path, full[:ends[1]], 0o600); err != nil { // two of five left
		t.Fatal(err)
	}
	r = openIn(t, c, 0, dir)
	defer r.Close()
	p, q := r.NewPeer(c.ids[1].ID(), Budget{}), c.reps[1].NewPeer(c.ids[0].ID(), Budget{})
	if !p.Behind() {
		t.Fatal("Behind before the neighbour's state vector")
	}
	hello := q.Start()
	out, err := p.Receive(hello[0]) // its own state vector comes back
	if err != nil {
		t.Fatal(err)
	}
	if !p.Behind() {
		t.Fatal("not Behind a neighbour that holds more of the member's own log")
	}
	l := &link{a: p, b: q, toB: out}
	l.pump(t, nil, 0)
	if p.Behind() || r.Ops() != 5 {
		t.Fatalf("after sync: Behind %v, %d ops", p.Behind(), r.Ops())
	}
	c.tick()
	op, err := r.Chat("next")
	if err != nil || op.Seq != 6 {
		t.Fatalf("next own op: %v, seq %d", err, op.Seq)
	}
	connect(r, c.reps[1], Budget{}).pump(t, nil, 0)
	if len(r.Evidence())+len(c.reps[1].Evidence()) != 0 {
		t.Fatal("the member forked its own log")
	}
}

// TestWriteFailureSendsNothing: when the state file cannot be written, an
// own op is refused and never offered to a neighbour (a restart would
// otherwise sign another op with its sequence number), and the replica
// makes no more ops.
func TestWriteFailureSendsNothing(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	r := openIn(t, c, 0, t.TempDir())
	c.tick()
	if _, err := r.Chat("on disk"); err != nil {
		t.Fatal(err)
	}
	r.file.f.Close() // the disk goes away
	c.tick()
	if op, err := r.Chat("lost"); err == nil || op != nil {
		t.Fatalf("an op that is not on disk was made: %v", err)
	}
	if r.Ops() != 1 {
		t.Fatalf("%d ops held, want the one on disk", r.Ops())
	}
	connect(r, c.reps[1], Budget{}).pump(t, nil, 0)
	if c.reps[1].Ops() != 1 {
		t.Fatalf("the neighbour got %d ops, want 1", c.reps[1].Ops())
	}
	if _, err := r.Set("k", nil); err == nil {
		t.Fatal("the replica made an op after its file failed")
	}
}

// TestFileLockAndReadOnly: a second process (here, a second Open) cannot
// open a room's state file that is open; OpenReadOnly reads it meanwhile,
// shows the same state and makes no ops.
func TestFileLockAndReadOnly(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 1)
	dir := t.TempDir()
	r := openIn(t, c, 0, dir)
	defer r.Close()
	c.tick()
	if _, err := r.Set("k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Room: testRoom, Self: c.ids[0], Members: c.mem, Now: c.clock.Now, Logger: quiet}
	if _, err := Open(dir, cfg); !errors.Is(err, ErrLocked) {
		t.Fatalf("a second Open of an open state file: %v, want ErrLocked", err)
	}
	ro, err := OpenReadOnly(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := ro.View().Get("k"); string(v) != "v" {
		t.Fatalf("read-only view: %q", v)
	}
	if _, err := ro.Set("k", []byte("w")); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("a read-only replica made an op: %v", err)
	}
	if _, err := r.Compact(); err != nil { // the file is replaced and locked again
		t.Fatal(err)
	}
	if _, err := Open(dir, cfg); !errors.Is(err, ErrLocked) {
		t.Fatalf("after compaction, a second Open: %v, want ErrLocked", err)
	}
	r.Close()
	r2, err := Open(dir, cfg)
	if err != nil {
		t.Fatalf("after Close: %v", err)
	}
	r2.Close()
}
