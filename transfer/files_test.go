package transfer

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// runPipe sends m from src to Receive(opts) over an in-memory pipe; each
// side's end is closed when it returns, so the other is never left
// waiting.
func runPipe(t *testing.T, m *Manifest, src *Sources, opts ReceiveOptions) (*SendResult, *ReceiveResult, error, error) {
	t.Helper()
	return pipeTo(t, m, src, func(r io.ReadWriter) (*ReceiveResult, error) { return Receive(r, opts) })
}

// pipeTo sends m from src to receive over an in-memory pipe, as runPipe.
func pipeTo(t *testing.T, m *Manifest, src Source, receive func(io.ReadWriter) (*ReceiveResult, error)) (*SendResult, *ReceiveResult, error, error) {
	t.Helper()
	return pipeThrough(t, m, src, func(c net.Conn) net.Conn { return c }, receive)
}

// pipeThrough is pipeTo with the sender's end wrapped.
func pipeThrough(t *testing.T, m *Manifest, src Source, wrap func(net.Conn) net.Conn, receive func(io.ReadWriter) (*ReceiveResult, error)) (*SendResult, *ReceiveResult, error, error) {
	t.Helper()
	s0, r := net.Pipe()
	s := wrap(s0)
	type sres struct {
		r   *SendResult
		err error
	}
	ch := make(chan sres, 1)
	go func() {
		res, err := Send(s, m, src, nil)
		s.Close()
		ch <- sres{res, err}
	}()
	rr, rerr := receive(r)
	r.Close()
	sr := <-ch
	return sr.r, rr, sr.err, rerr
}

// fakeSender offers m over conn, answers the receiver's query about
// what it has honestly, and, if the receiver accepts, sends content from
// the first file's offset and its SHA-256 for every file that is sent
// (m has one file, or files all of that content). It returns the
// decision.
func fakeSender(conn net.Conn, m *Manifest, content []byte) decision {
	defer conn.Close()
	writeFrame(conn, m)
	var rep reply
	if readFrame(conn, &rep, 1<<20) != nil {
		return decision{}
	}
	if rep.Query != nil {
		sums := make([]string, len(rep.Query))
		for k, q := range rep.Query {
			sums[k] = sha(content[:min(q.Bytes, int64(len(content)))])
		}
		writeFrame(conn, match{SHA256: sums})
		rep = reply{}
		if readFrame(conn, &rep, 1<<20) != nil {
			return decision{}
		}
	}
	d := decision{Accept: rep.Accept != nil && *rep.Accept, Reason: rep.Reason, Offsets: rep.Offsets}
	if !d.Accept {
		return d
	}
	sum := sha256.Sum256(content)
	for i, e := range m.Entries {
		if e.Dir || d.Offsets[i] == e.Size {
			continue
		}
		conn.Write(content[d.Offsets[i]:])
		conn.Write(sum[:])
	}
	var res result
	readFrame(conn, &res, 1<<20)
	return d
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A malicious receiver (or anyone who can write where the sender's files
// are) cannot make the sender send a file it never named: a file swapped
// for a symbolic link, for another file, or modified between the offer and
// the send is refused with ErrChanged, and the secret's bytes never go out.
func TestSenderSendsOnlyWhatItHashed(t *testing.T) {
	t.Parallel()
	secret := []byte("-----BEGIN OPENSSH PRIVATE KEY----- the secret key -----END-----")
	decoy := bytes.Repeat([]byte("d"), len(secret))
	cases := []struct {
		name    string
		arg     string // what the sender names, under src
		files   map[string][]byte
		swap    func(src, secretDir string) error
		changed bool // Send must fail with ErrChanged
	}{
		{"file swapped for a link", "notes.txt", map[string][]byte{"notes.txt": decoy},
			func(src, sd string) error {
				os.Remove(filepath.Join(src, "notes.txt"))
				return os.Symlink(filepath.Join(sd, "id_ed25519"), filepath.Join(src, "notes.txt"))
			}, true},
		{"file in a tree swapped for a link", "tree", map[string][]byte{"tree/notes.txt": decoy},
			func(src, sd string) error {
				os.Remove(filepath.Join(src, "tree/notes.txt"))
				return os.Symlink(filepath.Join(sd, "id_ed25519"), filepath.Join(src, "tree/notes.txt"))
			}, true},
		{"file swapped for a link inside the tree", "tree", map[string][]byte{"tree/notes.txt": decoy, "tree/other": secret},
			func(src, sd string) error {
				os.Remove(filepath.Join(src, "tree/notes.txt"))
				os.Remove(filepath.Join(src, "tree/other")) // the tree's own file, gone: offered, sent never
				os.WriteFile(filepath.Join(src, "tree/other2"), secret, 0o644)
				return os.Symlink("other2", filepath.Join(src, "tree/notes.txt"))
			}, true},
		{"directory swapped for a link", "tree", map[string][]byte{"tree/sub/id_ed25519": decoy},
			func(src, sd string) error {
				os.RemoveAll(filepath.Join(src, "tree/sub"))
				return os.Symlink(sd, filepath.Join(src, "tree/sub"))
			}, true},
		{"file replaced by another", "notes.txt", map[string][]byte{"notes.txt": decoy},
			func(src, sd string) error {
				os.WriteFile(filepath.Join(src, "new"), secret, 0o644)
				return os.Rename(filepath.Join(src, "new"), filepath.Join(src, "notes.txt"))
			}, true},
		{"file grew", "notes.txt", map[string][]byte{"notes.txt": decoy},
			func(src, sd string) error {
				f, err := os.OpenFile(filepath.Join(src, "notes.txt"), os.O_WRONLY|os.O_APPEND, 0)
				if err != nil {
					return err
				}
				f.Write(secret)
				return f.Close()
			}, true},
		{"named directory swapped for a link", "tree", map[string][]byte{"tree/id_ed25519": decoy},
			func(src, sd string) error {
				os.Rename(filepath.Join(src, "tree"), filepath.Join(src, "moved"))
				return os.Symlink(sd, filepath.Join(src, "tree"))
			}, false}, // the directory held open is the one named: its file goes out
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			src, secretDir := filepath.Join(base, "src"), filepath.Join(base, "home/.ssh")
			os.MkdirAll(secretDir, 0o700)
			os.WriteFile(filepath.Join(secretDir, "id_ed25519"), secret, 0o600)
			for name, b := range c.files {
				os.MkdirAll(filepath.Dir(filepath.Join(src, name)), 0o755)
				os.WriteFile(filepath.Join(src, name), b, 0o644)
			}
			m, srcs, _, err := BuildManifest([]string{filepath.Join(src, c.arg)})
			if err != nil {
				t.Fatal(err)
			}
			defer srcs.Close()
			s, r := net.Pipe()
			got := make(chan []byte, 1)
			go func() { // a receiver that swaps the file, then accepts
				defer r.Close()
				rm, err := readManifest(r)
				if err != nil {
					t.Error(err)
					got <- nil
					return
				}
				if err := c.swap(src, secretDir); err != nil {
					t.Error(err)
				}
				writeFrame(r, decision{Accept: true, Offsets: make([]int64, len(rm.Entries))})
				files, _, total := rm.Totals()
				b := make([]byte, total+32*int64(files)) // each file and its SHA-256
				n, err := io.ReadFull(r, b)
				if err == nil {
					writeFrame(r, result{OK: true})
				}
				got <- b[:n]
			}()
			_, err = Send(s, m, srcs, nil)
			s.Close()
			out := <-got
			if bytes.Contains(out, secret) || bytes.Contains(out, secret[:16]) {
				t.Fatalf("the secret was sent (send: %v)", err)
			}
			if c.changed && !errors.Is(err, ErrChanged) {
				t.Fatalf("send: %v, want ErrChanged", err)
			}
			if c.changed {
				t.Logf("%v", err)
			}
		})
	}
}

// A file modified while it is being sent (in place: same size, a new
// modification time) is not the file the receiver got: the sender stops
// with ErrChanged before the file's SHA-256 goes out, so the receiver
// keeps only a part file (which a later transfer resumes only if the
// its bytes match the file's first ones).
func TestSenderNoticesChangeWhileSending(t *testing.T) {
	t.Parallel()
	src, out := t.TempDir(), t.TempDir()
	f := filepath.Join(src, "log.txt")
	writeRandom(t, f, 3<<20)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(f, old, old)
	m, srcs, _, err := BuildManifest([]string{f})
	if err != nil {
		t.Fatal(err)
	}
	defer srcs.Close()
	s, r := net.Pipe()
	var once sync.Once
	ch := make(chan error, 1)
	go func() {
		_, err := Send(s, m, srcs, func(p Progress) {
			if p.Done > 0 {
				once.Do(func() { // the first bytes are out: someone writes to the file
					w, _ := os.OpenFile(f, os.O_WRONLY, 0)
					w.WriteAt([]byte("changed"), 2<<20)
					w.Close()
				})
			}
		})
		s.Close()
		ch <- err
	}()
	_, rerr := Receive(r, ReceiveOptions{Dir: out})
	r.Close()
	serr := <-ch
	if !errors.Is(serr, ErrChanged) || !strings.Contains(serr.Error(), "modified while it was sent") {
		t.Fatalf("send: %v", serr)
	}
	if !errors.Is(rerr, ErrIncomplete) {
		t.Fatalf("receive: %v", rerr)
	}
	if _, err := os.Lstat(filepath.Join(out, "log.txt")); err == nil {
		t.Fatal("the changed file was kept under its name")
	}
}

// A symbolic link planted at a part-file name (before the offer is
// checked, or after, while the receiver confirms; pointing inside --out or
// outside) is never followed: the transfer is refused with a clear error
// and the link's target is untouched. The same for a resumable part file
// swapped for a link, and for a link at a directory on the way.
func TestPartFileSymlinkRefused(t *testing.T) {
	t.Parallel()
	content := []byte("the new content of report.pdf")
	e := Entry{Path: "report.pdf", Size: int64(len(content))}
	m := &Manifest{Protocol: protocolHeader, Entries: []Entry{e}}
	part := partName(e)
	cases := []struct {
		name      string
		before    func(out, outside string) // before the offer
		confirm   func(out, outside string) // while the receiver confirms
		overwrite bool
	}{
		{"link to a file in --out", func(out, _ string) {
			os.Symlink("victim.txt", filepath.Join(out, part))
		}, nil, false},
		{"link to a file outside", func(out, outside string) {
			os.Symlink(filepath.Join(outside, "victim.txt"), filepath.Join(out, part))
		}, nil, false},
		{"link planted after the check", nil, func(out, _ string) {
			os.Symlink("victim.txt", filepath.Join(out, part))
		}, false},
		{"resumable part swapped for a link", func(out, _ string) {
			os.WriteFile(filepath.Join(out, part), content[:5], 0o600)
		}, func(out, _ string) {
			os.Remove(filepath.Join(out, part))
			os.Symlink("victim.txt", filepath.Join(out, part))
		}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			out, outside := filepath.Join(base, "out"), filepath.Join(base, "outside")
			os.MkdirAll(out, 0o755)
			os.MkdirAll(outside, 0o755)
			os.WriteFile(filepath.Join(out, "victim.txt"), []byte("mine"), 0o644)
			os.WriteFile(filepath.Join(outside, "victim.txt"), []byte("mine"), 0o644)
			if c.before != nil {
				c.before(out, outside)
			}
			opts := ReceiveOptions{Dir: out, Overwrite: c.overwrite}
			if c.confirm != nil {
				opts.Confirm = func(*Offer) (bool, error) { c.confirm(out, outside); return true, nil }
			}
			s, r := pipePair(t)
			go fakeSender(s, m, content)
			_, err := Receive(r, opts)
			if !errors.Is(err, ErrUnsafeName) || !strings.Contains(err.Error(), "temporary name") {
				t.Errorf("receive: %v", err)
			}
			for _, v := range []string{filepath.Join(out, "victim.txt"), filepath.Join(outside, "victim.txt")} {
				if got := mustRead(t, v); got != "mine" {
					t.Errorf("%s now holds %q", v, got)
				}
			}
			if fi, err := os.Lstat(filepath.Join(out, "report.pdf")); err == nil {
				t.Errorf("report.pdf was created (%v)", fi.Mode())
			}
		})
	}
	t.Run("link at a directory on the way", func(t *testing.T) {
		t.Parallel()
		out := t.TempDir()
		os.MkdirAll(filepath.Join(out, "b"), 0o755)
		os.WriteFile(filepath.Join(out, "b", "x"), []byte("mine"), 0o644)
		os.Symlink("b", filepath.Join(out, "a"))
		m := &Manifest{Protocol: protocolHeader, Entries: []Entry{{Path: "a/x", Size: int64(len(content))}}}
		s, r := pipePair(t)
		go fakeSender(s, m, content)
		_, err := Receive(r, ReceiveOptions{Dir: out, Overwrite: true})
		if !errors.Is(err, ErrUnsafeName) || !strings.Contains(err.Error(), "symbolic link") {
			t.Errorf("receive: %v", err)
		}
		if got := mustRead(t, filepath.Join(out, "b", "x")); got != "mine" {
			t.Errorf("b/x now holds %q", got)
		}
	})
}

// The reason a receiver sends back when it refuses is a category (and the
// offered name), never its own paths or system errors; the detail stays in
// the receiver's own error.
func TestDeclineReasonsStayLocal(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	out := filepath.Join(base, "bob-private-downloads")
	os.MkdirAll(out, 0o755)
	os.WriteFile(filepath.Join(out, "taken.txt"), []byte("mine"), 0o644)
	content := []byte("hello")
	file := func(name string) *Manifest {
		return &Manifest{Protocol: protocolHeader, Entries: []Entry{{Path: name, Size: int64(len(content))}}}
	}
	cases := []struct {
		name   string
		m      *Manifest
		opts   ReceiveOptions
		reason string
	}{
		{"confirm fails", file("a.txt"), ReceiveOptions{Dir: out, Confirm: func(*Offer) (bool, error) {
			return false, fmt.Errorf("cannot ask: open %s: permission denied", filepath.Join(out, ".lock"))
		}}, reasonDeclined},
		{"declined", file("a.txt"), ReceiveOptions{Dir: out, Confirm: func(*Offer) (bool, error) { return false, nil }}, reasonDeclined},
		{"no output directory", file("a.txt"), ReceiveOptions{Dir: filepath.Join(out, "missing")}, reasonCannotWrite},
		{"name taken", file("taken.txt"), ReceiveOptions{Dir: out}, `name refused: "taken.txt"`},
		{"unsafe name", file("../x"), ReceiveOptions{Dir: out}, `name refused: "../x"`},
		{"no space", file("a.txt"), ReceiveOptions{Dir: out, freeSpace: func(*os.Root) (int64, error) { return 2, nil }}, reasonNoSpace},
	}
	for _, c := range cases {
		s, r := pipePair(t)
		ch := make(chan decision, 1)
		go func() { ch <- fakeSender(s, c.m, content) }()
		_, err := Receive(r, c.opts)
		d := <-ch
		if err == nil || d.Accept {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		if d.Reason != c.reason {
			t.Errorf("%s: reason %q, want %q", c.name, d.Reason, c.reason)
		}
		for _, part := range []string{"bob-private-downloads", base, "permission denied", "no such file"} {
			if strings.Contains(d.Reason, part) {
				t.Errorf("%s: the reason %q carries %q", c.name, d.Reason, part)
			}
		}
		t.Logf("%s: sent %q; local error: %v", c.name, d.Reason, err)
	}
	// The receiver keeps the detail.
	s, r := pipePair(t)
	go fakeSender(s, file("a.txt"), content)
	if _, err := Receive(r, ReceiveOptions{Dir: filepath.Join(out, "missing")}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("the local error lost its detail: %v", err)
	}
}

// The free-space check counts what still has to be written: an offer
// whose resumable part is already here fits where the whole would not,
// and one that does not fit is refused with a *SpaceError before anything
// is written.
func TestFreeSpaceCountsResume(t *testing.T) {
	t.Parallel()
	content := bytes.Repeat([]byte("x"), 1000)
	e := Entry{Path: "f", Size: 1000}
	m := &Manifest{Protocol: protocolHeader, Entries: []Entry{e}}
	free := func(n int64) func(*os.Root) (int64, error) {
		return func(*os.Root) (int64, error) { return n, nil }
	}
	out := t.TempDir()
	s, r := pipePair(t)
	go fakeSender(s, m, content)
	_, err := Receive(r, ReceiveOptions{Dir: out, freeSpace: free(999)})
	var se *SpaceError
	if !errors.As(err, &se) || !errors.Is(err, ErrNoSpace) || se.Need != 1000 || se.Free != 999 {
		t.Fatalf("999 bytes free for 1000: %v", err)
	}
	if ents, _ := os.ReadDir(out); len(ents) != 0 {
		t.Fatalf("written: %v", ents)
	}
	os.WriteFile(filepath.Join(out, partName(e)), content[:600], 0o600)
	s, r = pipePair(t)
	go fakeSender(s, m, content) // resumes from 600
	var seen *Offer
	rr, err := Receive(r, ReceiveOptions{Dir: out, freeSpace: free(400), Confirm: func(o *Offer) (bool, error) { seen = o; return true, nil }})
	if err != nil || rr.Resumed != 600 {
		t.Fatalf("400 bytes free for the last 400: %v %+v", err, rr)
	}
	if seen.Bytes != 1000 || seen.Resume != 600 || seen.Need != 400 || seen.Free != 400 {
		t.Errorf("offer: %+v", seen)
	}
	if mustRead(t, filepath.Join(out, "f")) != string(content) {
		t.Error("content differs")
	}
}

// A part file whose bytes are not the beginning of the offered file (an
// older version of it, or anything else under that name) is not resumed:
// the sender says so when the receiver asks, the whole file is sent, and
// it arrives whole.
func TestWrongPartNotResumed(t *testing.T) {
	t.Parallel()
	src, out := t.TempDir(), t.TempDir()
	f := filepath.Join(src, "f.bin")
	writeRandom(t, f, 100_000)
	content, _ := os.ReadFile(f)
	e := Entry{Path: "f.bin", Size: int64(len(content))}
	wrong := bytes.Clone(content[:60_000])
	wrong[59_999] ^= 1
	os.WriteFile(filepath.Join(out, partName(e)), wrong, 0o600)
	s, r := sessionPair(t)
	sr, rr, serr, rerr := run(t, s, r, []string{f}, ReceiveOptions{Dir: out})
	if serr != nil || rerr != nil || rr.Resumed != 0 || sr.Resumed != 0 || sr.Bytes != int64(len(content)) {
		t.Fatalf("send %+v %v, receive %+v %v", sr, serr, rr, rerr)
	}
	if got := mustRead(t, filepath.Join(out, "f.bin")); got != string(content) {
		t.Fatal("the file differs")
	}
	if _, err := os.Lstat(filepath.Join(out, partName(e))); err == nil {
		t.Fatal("the part file is still there")
	}
}

// recordingConn records what one side writes.
type recordingConn struct {
	io.ReadWriter
	mu    sync.Mutex
	wrote bytes.Buffer
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.wrote.Write(p)
	c.mu.Unlock()
	return c.ReadWriter.Write(p)
}

// TestNothingAskedBeforeTheDecision: what the output directory holds (a
// part file, a file of the offered size at the name) is only asked about
// once the user has accepted. A receiver that declines sends the decision
// and nothing else: the sender learns nothing of its directory.
func TestNothingAskedBeforeTheDecision(t *testing.T) {
	t.Parallel()
	src, out := t.TempDir(), t.TempDir()
	f := filepath.Join(src, "f.bin")
	writeRandom(t, f, 50_000)
	g := filepath.Join(src, "g.bin")
	writeRandom(t, g, 40_000)
	same, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(out, "f.bin"), same, 0o600) // the very file
	os.WriteFile(filepath.Join(out, partName(Entry{Path: "g.bin", Size: 40_000})), make([]byte, 1000), 0o600)
	s, r := sessionPair(t)
	rec := &recordingConn{ReadWriter: r}
	var shown *Offer
	_, _, _, rerr := run(t, s, rec, []string{f, g}, ReceiveOptions{Dir: out, Confirm: func(o *Offer) (bool, error) {
		shown = o
		return false, nil
	}})
	if !errors.Is(rerr, ErrDeclined) {
		t.Fatalf("receive: %v", rerr)
	}
	if shown == nil || shown.Here != 1 || shown.Resume != 1000 {
		t.Fatalf("the user was shown %+v, want 1 file here and 1000 bytes to resume", shown)
	}
	rec.mu.Lock()
	wrote := rec.wrote.Bytes()
	rec.mu.Unlock()
	if bytes.Contains(wrote, []byte(`"query"`)) {
		t.Fatalf("the receiver asked about its directory before the user decided: %q", wrote)
	}
	n := binary.BigEndian.Uint32(wrote)
	if len(wrote) != 4+int(n) {
		t.Fatalf("the receiver wrote %d bytes, more than its one decision frame (%d)", len(wrote), 4+n)
	}
}
