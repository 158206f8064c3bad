package transfer

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// memFile is a file to send from memory.
type memFile struct {
	path string
	data []byte
	exec bool
}

// sourceFiles makes SourceFiles of files, each read from memory in chunks
// of at most 4 KiB (as a browser's File is read, a slice at a time).
func sourceFiles(files ...memFile) []SourceFile {
	var out []SourceFile
	for _, f := range files {
		out = append(out, SourceFile{Path: f.path, Size: int64(len(f.data)), Exec: f.exec,
			Open: func(off int64) (io.ReadCloser, error) {
				return io.NopCloser(chunked{bytes.NewReader(f.data[off:])}), nil
			}})
	}
	return out
}

// chunked reads at most 4 KiB at a time.
type chunked struct{ r io.Reader }

func (c chunked) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), 4096)]) }

// buildFrom builds the manifest of files from memory.
func buildFrom(t *testing.T, files ...memFile) (*Manifest, Source) {
	t.Helper()
	m, src, err := BuildManifestFrom(sourceFiles(files...))
	if err != nil {
		t.Fatal(err)
	}
	return m, src
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// someFiles are files of several sizes, in directories, one empty and one
// executable.
func someFiles() []memFile {
	return []memFile{
		{path: "a.txt", data: []byte("hello, browser")},
		{path: "dir/sub/b.bin", data: randomBytes(300_000)},
		{path: "empty", data: nil},
		{path: "run.sh", data: []byte("#!/bin/sh\necho hi\n"), exec: true},
	}
}

// receiveTo returns a receive function for pipeTo that receives into sink.
func receiveTo(sink Sink, opts ReceiveOptions) func(io.ReadWriter) (*ReceiveResult, error) {
	return func(r io.ReadWriter) (*ReceiveResult, error) { return ReceiveTo(r, sink, opts) }
}

// checkHeld checks that sink holds exactly files, in order, with their
// hashes, and no more memory than their sizes.
func checkHeld(t *testing.T, sink *MemorySink, files []memFile) {
	t.Helper()
	got := sink.Files()
	if len(got) != len(files) {
		t.Fatalf("the sink holds %d files, want %d", len(got), len(files))
	}
	for i, f := range files {
		g := got[i]
		if g.Path != f.path || !bytes.Equal(g.Data, f.data) || g.SHA256 != sha(f.data) || g.Exec != f.exec {
			t.Errorf("file %d: %s (%d bytes, %s, exec %v), want %s (%d bytes)", i, Quote(g.Path), len(g.Data), g.SHA256, g.Exec, Quote(f.path), len(f.data))
		}
		if cap(g.Data) != len(f.data) {
			t.Errorf("%s: a buffer of %d bytes for %d", g.Path, cap(g.Data), len(f.data))
		}
	}
}

// Files from memory (a reader per file, as a browser's File objects are
// read) into a MemorySink, over an in-memory pipe: the same protocol,
// offer, progress and results as between directories.
func TestMemorySourceToMemorySink(t *testing.T) {
	t.Parallel()
	files := someFiles()
	m, src := buildFrom(t, files...)
	for i, f := range files {
		if e := m.Entries[i]; e.Path != f.path || e.Size != int64(len(f.data)) || e.Exec != f.exec || e.Dir {
			t.Fatalf("entry %d: %+v", i, e)
		}
	}
	_, _, total := m.Totals()
	sink := NewMemorySink(1 << 20)
	var offer *Offer
	var last Progress
	opts := ReceiveOptions{
		Confirm:  func(o *Offer) (bool, error) { offer = o; return true, nil },
		Progress: func(p Progress) { last = p },
	}
	sr, rr, serr, rerr := pipeTo(t, m, src, receiveTo(sink, opts))
	if serr != nil || rerr != nil {
		t.Fatalf("send %v, receive %v", serr, rerr)
	}
	if offer == nil || len(offer.Manifest.Entries) != len(m.Entries) || offer.Files != 4 || offer.Bytes != total || offer.Need != total || offer.Free != 1<<20 || offer.Resume != 0 {
		t.Errorf("the offer: %+v", offer)
	}
	if last.Done != total || last.Total != total {
		t.Errorf("the last progress: %+v, want %d", last, total)
	}
	if sr.Files != 4 || sr.Bytes != total || rr.Files != 4 || rr.Bytes != total {
		t.Errorf("results: %+v %+v", sr, rr)
	}
	checkHeld(t, sink, files)
	if sink.Free() != 1<<20-total {
		t.Errorf("free %d, want %d", sink.Free(), 1<<20-total)
	}
}

// Files from memory arrive in a directory exactly as files from a
// directory do, and files from a directory arrive in a MemorySink: the
// two ends speak the same protocol.
func TestMemoryAndDirectoryInterop(t *testing.T) {
	t.Parallel()
	files := someFiles()
	m, src := buildFrom(t, files...)
	out := t.TempDir()
	if _, _, serr, rerr := pipeTo(t, m, src, func(r io.ReadWriter) (*ReceiveResult, error) { return Receive(r, ReceiveOptions{Dir: out}) }); serr != nil || rerr != nil {
		t.Fatalf("memory → directory: send %v, receive %v", serr, rerr)
	}
	for _, f := range files {
		p := filepath.Join(out, filepath.FromSlash(f.path))
		if mustRead(t, p) != string(f.data) {
			t.Errorf("%s differs", f.path)
		}
		if fi, _ := os.Stat(p); (fi.Mode()&0o100 != 0) != f.exec {
			t.Errorf("%s: mode %v", f.path, fi.Mode())
		}
	}

	// And back: the directory just written, sent from disk.
	dm, local, _, err := BuildManifest([]string{out})
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	sink := NewMemorySink(1 << 20)
	_, rr, serr, rerr := pipeTo(t, dm, local, receiveTo(sink, ReceiveOptions{}))
	if serr != nil || rerr != nil {
		t.Fatalf("directory → memory: send %v, receive %v", serr, rerr)
	}
	base := filepath.Base(out)
	var want []memFile
	for _, e := range dm.Entries { // in the order the directory was walked
		if e.Dir {
			continue
		}
		for _, f := range files {
			if base+"/"+f.path == e.Path {
				want = append(want, memFile{path: e.Path, data: f.data, exec: f.exec})
			}
		}
	}
	if len(want) != len(files) || rr.Dirs != 3 || rr.Files != len(files) {
		t.Fatalf("%d of %d files, result %+v", len(want), len(files), rr)
	}
	checkHeld(t, sink, want)
}

// An offer larger than a MemorySink's cap is refused before anything is
// accepted or asked, with a *SpaceError (ErrNoSpace); the sender is told
// "not enough space". An offer of exactly the cap fits, and after it
// nothing more does.
func TestMemorySinkCap(t *testing.T) {
	t.Parallel()
	files := []memFile{{path: "a", data: randomBytes(600)}, {path: "b", data: randomBytes(400)}}
	m, src := buildFrom(t, files...)
	asked := false
	confirm := ReceiveOptions{Confirm: func(*Offer) (bool, error) { asked = true; return true, nil }}
	sink := NewMemorySink(999)
	_, _, serr, rerr := pipeTo(t, m, src, receiveTo(sink, confirm))
	var se *SpaceError
	if !errors.As(rerr, &se) || !errors.Is(rerr, ErrNoSpace) || se.Need != 1000 || se.Free != 999 {
		t.Fatalf("receive: %v", rerr)
	}
	t.Logf("receiver: %v", rerr)
	if !errors.Is(serr, ErrDeclined) || !strings.Contains(serr.Error(), "not enough space") {
		t.Fatalf("send: %v", serr)
	}
	if asked || len(sink.Files()) != 0 || sink.Free() != 999 {
		t.Fatalf("asked %v, holds %d files, %d free", asked, len(sink.Files()), sink.Free())
	}

	sink = NewMemorySink(1000)
	if _, _, serr, rerr := pipeTo(t, m, src, receiveTo(sink, confirm)); serr != nil || rerr != nil || !asked {
		t.Fatalf("at the cap: send %v, receive %v", serr, rerr)
	}
	checkHeld(t, sink, files)
	m2, src2 := buildFrom(t, memFile{path: "c", data: []byte("x")})
	if _, _, _, rerr := pipeTo(t, m2, src2, receiveTo(sink, ReceiveOptions{})); !errors.As(rerr, &se) || se.Free != 0 {
		t.Fatalf("a full sink: %v", rerr)
	}
	// A name the sink holds is refused like an existing file.
	m3, src3 := buildFrom(t, memFile{path: "a", data: nil})
	if _, _, serr, rerr := pipeTo(t, m3, src3, receiveTo(sink, ReceiveOptions{})); !errors.Is(rerr, ErrExists) || !errors.Is(serr, ErrDeclined) {
		t.Fatalf("a name held: %v / %v", serr, rerr)
	}
	checkHeld(t, sink, files)
}

// A file whose bytes change on the way (one byte flipped after the
// sender hashed it): the receiver reports an integrity error, the sender
// gets it as ErrIntegrity, the file is not kept and its room is given
// back; the other files arrive.
func TestMemorySinkCorruptByte(t *testing.T) {
	t.Parallel()
	good := memFile{path: "good", data: randomBytes(1000)}
	bad := randomBytes(5000)
	srcFiles := sourceFiles(good, memFile{path: "bad", data: bad}, memFile{path: "after", data: []byte("after")})
	m, src, err := BuildManifestFrom(srcFiles)
	if err != nil {
		t.Fatal(err)
	}
	frame, _ := json.Marshal(m)
	// The stream: the manifest frame, good and its SHA-256, then bad.
	at := int64(4+len(frame)) + 1000 + 32 + 2500
	sink := NewMemorySink(1 << 20)
	_, rr, serr, rerr := pipeThrough(t, m, src, func(c net.Conn) net.Conn { return &flipConn{Conn: c, at: at} }, receiveTo(sink, ReceiveOptions{}))
	if !errors.Is(rerr, ErrIntegrity) || !strings.Contains(rerr.Error(), `"bad"`) {
		t.Fatalf("receive: %v", rerr)
	}
	var remote *RemoteError
	if !errors.Is(serr, ErrIntegrity) || !errors.As(serr, &remote) {
		t.Fatalf("send: %v", serr)
	}
	if rr == nil || rr.Files != 2 {
		t.Fatalf("result %+v", rr)
	}
	checkHeld(t, sink, []memFile{good, {path: "after", data: []byte("after")}})
	if sink.Free() != 1<<20-1005 {
		t.Errorf("free %d: the bad file's room was not given back", sink.Free())
	}
}

// Every offer a directory refuses for its names or fields, a MemorySink
// refuses too, with the same error and the same reason to the sender, and
// holds nothing.
func TestMemorySinkRefusesUnsafeNames(t *testing.T) {
	t.Parallel()
	offer := func(entries []Entry, receive func(io.ReadWriter) (*ReceiveResult, error)) (decision, error) {
		s, r := pipePair(t)
		dc := make(chan decision, 1)
		go func() { dc <- fakeSender(s, &Manifest{Protocol: protocolHeader, Entries: entries}, []byte("xx")) }()
		_, err := receive(r)
		r.Close()
		return <-dc, err
	}
	for name, entries := range hostileOffers() {
		sink := NewMemorySink(1 << 20)
		md, merr := offer(entries, receiveTo(sink, ReceiveOptions{}))
		out := t.TempDir()
		dd, derr := offer(entries, func(r io.ReadWriter) (*ReceiveResult, error) { return Receive(r, ReceiveOptions{Dir: out}) })
		if merr == nil || md.Accept {
			t.Errorf("%s: accepted (%v)", name, merr)
			continue
		}
		for _, sentinel := range []error{ErrUnsafeName, ErrBadManifest, ErrProtocol} {
			if errors.Is(merr, sentinel) != errors.Is(derr, sentinel) {
				t.Errorf("%s: memory %v, directory %v", name, merr, derr)
			}
		}
		if md.Reason != dd.Reason {
			t.Errorf("%s: reason %q, the directory's %q", name, md.Reason, dd.Reason)
		}
		if strings.Contains(merr.Error(), "\x1b") {
			t.Errorf("%s: the error carries a raw escape: %q", name, merr)
		}
		if len(sink.Files()) != 0 || sink.Free() != 1<<20 {
			t.Errorf("%s: the sink holds something", name)
		}
	}
}

// A stream that ends in the middle of a file (the sender gone): the
// receiver stops with ErrIncomplete; the files before are kept, the cut
// one is not and its room is given back. A source that ends before its
// size stops the sender with ErrChanged.
func TestMemorySinkTruncatedStream(t *testing.T) {
	t.Parallel()
	a, b := []byte("good"), randomBytes(10)
	m := &Manifest{Protocol: protocolHeader, Entries: []Entry{
		{Path: "a", Size: 4},
		{Path: "b", Size: 10},
	}}
	s, r := pipePair(t)
	go func() { // the sender goes away in the middle of b
		defer s.Close()
		writeFrame(s, m)
		var d decision
		if readFrame(s, &d, 1<<20) == nil && d.Accept {
			sum := sha256.Sum256(a)
			s.Write(append(append(bytes.Clone(a), sum[:]...), b[:3]...))
		}
	}()
	sink := NewMemorySink(100)
	rr, err := ReceiveTo(r, sink, ReceiveOptions{})
	if !errors.Is(err, ErrIncomplete) || !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), "3 of 10") {
		t.Fatalf("receive: %v", err)
	}
	if rr == nil || rr.Files != 1 || rr.Bytes != 7 {
		t.Errorf("result %+v", rr)
	}
	checkHeld(t, sink, []memFile{{path: "a", data: a}})
	if sink.Free() != 96 {
		t.Errorf("free %d", sink.Free())
	}

	// The sender's side: a file that is shorter when it is sent.
	short := sourceFiles(memFile{path: "b", data: b})
	open := short[0].Open
	short[0].Open = func(off int64) (io.ReadCloser, error) {
		rc, err := open(off)
		return io.NopCloser(io.LimitReader(rc, 5)), err
	}
	m2, src, err := BuildManifestFrom(short)
	if err != nil {
		t.Fatal(err)
	}
	sink = NewMemorySink(100)
	_, _, serr, rerr := pipeTo(t, m2, src, receiveTo(sink, ReceiveOptions{}))
	if !errors.Is(serr, ErrChanged) || !errors.Is(rerr, ErrIncomplete) {
		t.Fatalf("a source cut short: send %v, receive %v", serr, rerr)
	}
	if len(sink.Files()) != 0 || sink.Free() != 100 {
		t.Error("the cut file was kept")
	}
}

// BuildManifestFrom makes the sender's checks of BuildManifest; Send
// checks that each file has the size it was given with (and that it can
// be opened) before the file's SHA-256 goes out, so the receiver keeps
// nothing of such a file.
func TestBuildManifestFromChecks(t *testing.T) {
	t.Parallel()
	ok := memFile{path: "ok", data: []byte("ok")}
	for _, c := range []struct {
		name string
		file SourceFile
		want error
	}{
		{"longer", SourceFile{Path: "n", Size: 1, Open: sourceFiles(ok)[0].Open}, ErrChanged},
		{"shorter", SourceFile{Path: "n", Size: 3, Open: sourceFiles(ok)[0].Open}, ErrChanged},
		{"open fails", SourceFile{Path: "n", Size: 1, Open: func(int64) (io.ReadCloser, error) { return nil, os.ErrPermission }}, os.ErrPermission},
	} {
		m, src, err := BuildManifestFrom([]SourceFile{c.file})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		sink := NewMemorySink(100)
		_, _, serr, rerr := pipeTo(t, m, src, receiveTo(sink, ReceiveOptions{}))
		if !errors.Is(serr, c.want) || rerr == nil || len(sink.Files()) != 0 {
			t.Errorf("%s: send %v, receive %v, %d files kept", c.name, serr, rerr, len(sink.Files()))
		}
	}
	checkBuildRefusals(t)
}

func checkBuildRefusals(t *testing.T) {
	ok := memFile{path: "ok", data: []byte("ok")}
	cases := []struct {
		name  string
		files []SourceFile
		want  error
	}{
		{"unsafe", sourceFiles(memFile{path: "../x"}), ErrUnsafeName},
		{"escape codes", sourceFiles(memFile{path: "a\x1b[2J"}), ErrUnsafeName},
		{"twice", sourceFiles(ok, ok), nil},
		{"inside a file", sourceFiles(ok, memFile{path: "ok/x"}), nil},
		{"nothing", nil, nil},
		{"negative", []SourceFile{{Path: "n", Size: -1, Open: sourceFiles(ok)[0].Open}}, nil},
		{"too large", []SourceFile{{Path: "n", Size: MaxFileSize + 1, Open: sourceFiles(ok)[0].Open}}, nil},
		{"no open", []SourceFile{{Path: "n"}}, nil},
	}
	for _, c := range cases {
		m, src, err := BuildManifestFrom(c.files)
		if err == nil || m != nil || src != nil {
			t.Errorf("%s: built (%v)", c.name, err)
			continue
		}
		if c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		if strings.Contains(err.Error(), "\x1b") {
			t.Errorf("%s: a raw escape in %q", c.name, err)
		}
	}
}

// Send refuses a Source that was not built with the manifest before it
// offers anything, and ReceiveTo refuses Receive's options.
func TestSourceAndSinkMisuse(t *testing.T) {
	t.Parallel()
	m, src := buildFrom(t, memFile{path: "a"}, memFile{path: "b"})
	var conn bytes.Buffer
	one := &Manifest{Protocol: m.Protocol, Entries: m.Entries[:1]}
	if _, err := Send(&conn, one, src, nil); err == nil || conn.Len() != 0 {
		t.Errorf("another manifest: %v, %d bytes written", err, conn.Len())
	}
	if _, err := Send(&conn, m, nil, nil); err == nil || conn.Len() != 0 {
		t.Errorf("no source: %v", err)
	}
	var none *Sources
	if _, err := Send(&conn, m, none, nil); err == nil || conn.Len() != 0 {
		t.Errorf("a nil *Sources: %v", err)
	}
	for _, opts := range []ReceiveOptions{{Dir: t.TempDir()}, {Overwrite: true}} {
		if _, err := ReceiveTo(&conn, NewMemorySink(1), opts); err == nil {
			t.Errorf("%+v accepted", opts)
		}
	}
	if _, err := ReceiveTo(&conn, nil, ReceiveOptions{}); err == nil {
		t.Error("no sink accepted")
	}
}
