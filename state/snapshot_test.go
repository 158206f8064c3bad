package state

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSnapshotRoundTrip: a snapshot exported by one member and imported
// by a new replica gives the same view; importing it again takes nothing.
func TestSnapshotRoundTrip(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	for i := range 30 {
		c.tick()
		r := c.reps[i%3]
		if _, err := r.Set("k"+string(rune('a'+i%4)), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Chat("hi"); err != nil {
			t.Fatal(err)
		}
	}
	c.syncAll(t)
	path := filepath.Join(t.TempDir(), "room.snapshot")
	if err := c.reps[0].SaveSnapshot(path); err != nil {
		t.Fatal(err)
	}
	if err := c.reps[0].SaveSnapshot(path); err == nil {
		t.Fatal("a snapshot replaced an existing file")
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	room, err := SnapshotRoom(f)
	f.Close()
	if err != nil || room != testRoom {
		t.Fatalf("SnapshotRoom: %x, %v", room, err)
	}
	if _, err := SnapshotRoom(strings.NewReader("sp2p state log 1")); !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("SnapshotRoom of a non-snapshot: %v", err)
	}
	fresh, err := New(Config{Room: testRoom, Self: c.ids[1], Members: c.mem, Now: c.clock.Now, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	res, err := fresh.ImportFile(path)
	if err != nil || res.Ops != 60 || res.Taken != 60 {
		t.Fatalf("import: %+v, %v", res, err)
	}
	if fresh.View().Digest() != c.reps[0].View().Digest() {
		t.Fatal("the imported view differs")
	}
	if res, err := fresh.ImportFile(path); err != nil || res.Taken != 0 {
		t.Fatalf("second import: %+v, %v", res, err)
	}
}

// TestSnapshotTampered: a snapshot with a flipped byte, a truncated one,
// and one whose op was altered and re-signed by someone else with every
// checksum and the trailer made to match are all refused, and the replica
// takes nothing from them.
func TestSnapshotTampered(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	for range 5 {
		c.tick()
		if _, err := c.reps[0].Set("k", []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := c.reps[0].Export(&buf); err != nil {
		t.Fatal(err)
	}
	snap := buf.Bytes()
	try := func(name string, b []byte, want string) {
		t.Helper()
		r, _ := New(Config{Room: testRoom, Self: c.ids[1], Members: c.mem, Now: c.clock.Now, Logger: quiet})
		_, err := r.Import(bytes.NewReader(b))
		if !errors.Is(err, ErrBadSnapshot) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want ErrBadSnapshot saying %q", name, err, want)
		}
		if r.Ops() != 0 {
			t.Errorf("%s: %d ops taken from a refused snapshot", name, r.Ops())
		}
	}
	ends := recordEnds(t, snap)
	for i := headerLen; i < len(snap); i += 7 {
		b := append([]byte(nil), snap...)
		b[i] ^= 1
		r, _ := New(Config{Room: testRoom, Self: c.ids[1], Members: c.mem, Now: c.clock.Now, Logger: quiet})
		if _, err := r.Import(bytes.NewReader(b)); !errors.Is(err, ErrBadSnapshot) || r.Ops() != 0 {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
	try("truncated", snap[:ends[len(ends)-2]], "no trailer")
	try("another room", append([]byte(snapMagic), make([]byte, 32)...), "another room")
	// Rebuild the snapshot with op 3 changed and signed by member 1 in
	// member 0's name: checksums and the trailer are right, the signature
	// is not.
	ops := []*Op{}
	c.reps[0].mu.Lock()
	ops = append(ops, c.reps[0].logs[c.ids[0].ID()].ops...)
	c.reps[0].mu.Unlock()
	evil, _ := newOp(c.ids[1], testRoom, 3, ops[1].Hash(), ops[2].HLC, KindSet, []byte("k"), []byte("evil"))
	evil.Author = c.ids[0].ID()
	evil.signed = evil.encodeSigned()
	evil.hash = sha256.Sum256(evil.signed)
	b := append([]byte(snapMagic), testRoom[:]...)
	for i, op := range ops {
		if i == 2 {
			op = evil
		}
		b = appendRecord(b, recOp, op.Encode())
	}
	sum := sha256.Sum256(b)
	b = appendRecord(b, recTrailer, sum[:])
	try("forged op", b, "record 2 at offset")
	if _, err := c.reps[1].Import(bytes.NewReader(b)); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forged op: %v, want it to name the bad signature", err)
	}
}

// TestCompaction: chat messages outside the retention are pruned only
// once every member acknowledged them; the view is the same before and
// after, on reopening too, and the file shrinks.
func TestCompaction(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	dir := t.TempDir()
	r, err := Open(dir, Config{Room: testRoom, Self: c.ids[0], Members: c.mem, Now: c.clock.Now, Logger: quiet, History: Retention{Messages: 5}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c.reps[0] = r
	text := strings.Repeat("x", 1000)
	for range 20 {
		c.tick()
		if _, err := c.reps[1].Chat(text); err != nil {
			t.Fatal(err)
		}
	}
	c.syncAll(t)
	view := r.View().Digest()
	if n, err := r.Compact(); err != nil || n != 0 {
		t.Fatalf("compaction before acknowledgements pruned %d (%v)", n, err)
	}
	for _, x := range c.reps[1:2] {
		if _, err := x.Acknowledge(); err != nil {
			t.Fatal(err)
		}
	}
	c.syncAll(t)
	if n, _ := r.Compact(); n != 0 {
		t.Fatalf("compaction pruned %d while member 2 had not acknowledged", n)
	}
	if _, err := c.reps[2].Acknowledge(); err != nil {
		t.Fatal(err)
	}
	c.syncAll(t)
	path := filepath.Join(dir, FileName(testRoom))
	before, _ := os.Stat(path)
	n, err := r.Compact()
	if err != nil || n != 15 {
		t.Fatalf("compaction pruned %d (%v), want the 15 outside the retention", n, err)
	}
	after, _ := os.Stat(path)
	if after.Size() > before.Size()-15*1000 || after.Mode().Perm() != 0o600 {
		t.Fatalf("file %d bytes → %d (mode %v)", before.Size(), after.Size(), after.Mode())
	}
	if r.View().Digest() != view {
		t.Fatal("compaction changed the view")
	}
	c.tick()
	if _, err := r.Chat("after compaction"); err != nil {
		t.Fatal(err)
	}
	view = r.View().Digest()
	r.Close()
	r2, err := Open(dir, Config{Room: testRoom, Self: c.ids[0], Members: c.mem, Now: c.clock.Now, Logger: quiet, History: Retention{Messages: 5}})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if r2.View().Digest() != view || r2.Ops() != 23 {
		t.Fatalf("reopened after compaction: %d ops, view equal %v", r2.Ops(), r2.View().Digest() == view)
	}
	// A new member syncing from the compacted replica gets the headers and
	// the same view.
	nr, _ := New(Config{Room: testRoom, Self: c.ids[1], Members: c.mem, Now: c.clock.Now, Logger: quiet, History: Retention{Messages: 5}})
	connect(r2, nr, Budget{}).pump(t, nil, 0)
	if nr.View().Digest() != view {
		t.Fatal("a replica synced from a compacted one shows another view")
	}
}

// FuzzImport: a snapshot is untrusted input. Import never panics, takes
// nothing from a snapshot it refuses, and what it takes exports to a
// snapshot that imports again to the same view.
func FuzzImport(f *testing.F) {
	c := newCluster(f, 2)
	for range 3 {
		c.tick()
		c.reps[0].Set("k", []byte("v"))
		c.reps[0].Chat("hi")
	}
	var buf bytes.Buffer
	c.reps[0].Export(&buf)
	f.Add(buf.Bytes())
	f.Add(buf.Bytes()[:len(buf.Bytes())/2])
	f.Fuzz(func(t *testing.T, b []byte) {
		r, _ := New(Config{Room: testRoom, Self: c.ids[1], Members: c.mem, Now: c.clock.Now, Logger: quiet})
		_, err := r.Import(bytes.NewReader(b))
		if err != nil {
			if r.Ops() != 0 {
				t.Fatal("ops taken from a refused snapshot")
			}
			return
		}
		var out bytes.Buffer
		if err := r.Export(&out); err != nil {
			t.Fatal(err)
		}
		r2, _ := New(Config{Room: testRoom, Self: c.ids[1], Members: c.mem, Now: c.clock.Now, Logger: quiet})
		if _, err := r2.Import(&out); err != nil || r2.View().Digest() != r.View().Digest() {
			t.Fatalf("re-export does not import to the same view: %v", err)
		}
	})
}

// FuzzLoadStateFile: the state file is read back with the same bounds;
// any content gives a replica or an error, never a panic.
func FuzzLoadStateFile(f *testing.F) {
	c := newCluster(f, 1)
	c.reps[0].Chat("x")
	var buf bytes.Buffer
	c.reps[0].mu.Lock()
	buf.Write(c.reps[0].recordsLocked(append([]byte(logMagic), testRoom[:]...)))
	c.reps[0].mu.Unlock()
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		r, _ := New(Config{Room: testRoom, Self: c.ids[0], Members: c.mem, Now: c.clock.Now, Logger: quiet})
		n, err := r.load(bytes.NewReader(b), "fuzz")
		if err == nil && (n < 0 || n > int64(len(b))) {
			t.Fatalf("good prefix %d of %d bytes", n, len(b))
		}
		_ = r.View()
	})
}

// TestUnprune: a replica that got a chat message pruned (from a member
// that compacted it) takes its text from a member that kept it, and shows
// it, also after reopening.
func TestUnprune(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	op, err := c.reps[0].Chat("kept elsewhere")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	r := openIn(t, c, 1, dir)
	if _, errs := r.Take([]*Op{op.prune()}); errs != nil {
		t.Fatal(errs)
	}
	if len(r.View().History) != 0 {
		t.Fatal("a pruned message is shown")
	}
	connect(c.reps[0], r, Budget{}).pump(t, nil, 0) // holds seq 1 already: nothing sent
	if _, errs := r.Take([]*Op{op}); errs != nil {
		t.Fatal(errs)
	}
	if h := r.View().History; len(h) != 1 || string(h[0].Body) != "kept elsewhere" {
		t.Fatalf("after the full copy: %d messages", len(h))
	}
	r.Close()
	r = openIn(t, c, 1, dir)
	defer r.Close()
	if h := r.View().History; len(h) != 1 || r.View().Digest() != c.reps[0].View().Digest() {
		t.Fatalf("after reopening: %d messages", len(h))
	}
}
