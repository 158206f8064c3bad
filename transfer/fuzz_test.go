package transfer

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"path"
	"strings"
	"testing"
)

func fuzzFrame(s string) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(s)))
	return append(b, s...)
}

// FuzzManifest feeds arbitrary frames to the streaming manifest decoder
// and checks: no panic, and every accepted manifest holds only names that
// stay inside the output directory, within the limits, with an honest
// total and no entry inside a file.
func FuzzManifest(f *testing.F) {
	f.Add(fuzzFrame(`{"protocol":"sp2p-transfer v2","entries":[{"path":"a","size":1 }]}`))
	f.Add(fuzzFrame(`{"protocol":"sp2p-transfer v2","entries":[{"path":"d","dir":true},{"path":"d/x","size":0 }]}`))
	f.Add(fuzzFrame(`{"protocol":"sp2p-transfer v2","entries":[{"path":"../a","size":1 }]}`))
	f.Add(fuzzFrame(`{"protocol":"sp2p-transfer v2","entries":[],"x":1}`))
	f.Add(fuzzFrame(`{"entries":[{"path":"f/x","size":1 },{"path":"f","size":1 }],"protocol":"sp2p-transfer v2"}`))
	f.Add(fuzzFrame(`{"protocol":"sp2p-transfer v2","entries":[{"path":"a","size":1125899906842624 },{"path":"b","size":1 }]}`))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := readManifest(bytes.NewReader(data))
		if err != nil {
			return
		}
		if len(m.Entries) == 0 || len(m.Entries) > MaxEntries {
			t.Fatalf("accepted %d entries", len(m.Entries))
		}
		kinds := map[string]bool{}
		var total int64
		for _, e := range m.Entries {
			clean := path.Clean("/out/" + e.Path)
			if !strings.HasPrefix(clean, "/out/") || clean != "/out/"+e.Path || strings.ContainsAny(e.Path, "\x00\x1b\\") {
				t.Fatalf("accepted an unsafe name %q", e.Path)
			}
			if strings.Count(e.Path, "/")+1 > MaxPathDepth || len(e.Path) > MaxPathLen {
				t.Fatalf("accepted a name beyond the limits: %q", e.Path)
			}
			if _, dup := kinds[e.Path]; dup {
				t.Fatalf("accepted %q twice", e.Path)
			}
			kinds[e.Path] = e.Dir
			total += e.Size
		}
		if _, _, got := m.Totals(); got != total || total < 0 || total > MaxTotalSize {
			t.Fatalf("total %d (sum %d)", got, total)
		}
		for p := range kinds {
			for d := path.Dir(p); d != "."; d = path.Dir(d) {
				if isDir, ok := kinds[d]; ok && !isDir {
					t.Fatalf("accepted %q inside the file %q", p, d)
				}
			}
		}
	})
}

// fuzzOffer is the manifest the sender has offered in FuzzDecision: a
// directory and files of several sizes.
var fuzzOffer = &Manifest{Protocol: protocolHeader, Entries: []Entry{
	{Path: "d", Dir: true},
	{Path: "d/a", Size: 10},
	{Path: "b", Size: 0},
	{Path: "c", Size: 1 << 40},
}}

// FuzzDecision feeds arbitrary decision frames, as a hostile receiver
// could send them, to the sender: no panic, a refusal is ErrDeclined with
// a reason that cannot carry terminal escapes, and an acceptance gives
// every entry an offset that is 0 or one the receiver asked about (here: all
// of d/a, and 5 bytes of c).
func FuzzDecision(f *testing.F) {
	f.Add(fuzzFrame(`{"accept":true,"offsets":[0,0,0,0]}`))
	f.Add(fuzzFrame(`{"accept":true,"offsets":[0,10,0,5]}`))
	f.Add(fuzzFrame(`{"accept":true,"offsets":[0,10,0,1099511627776]}`))
	f.Add(fuzzFrame(`{"query":[{"entry":1,"bytes":10}]}`))
	f.Add(fuzzFrame(`{"accept":true,"offsets":[0,11,0,0]}`))
	f.Add(fuzzFrame(`{"accept":true,"offsets":[1,0,0,0]}`))
	f.Add(fuzzFrame(`{"accept":true,"offsets":[0,-1,0,0]}`))
	f.Add(fuzzFrame(`{"accept":true,"offsets":[0,0,0]}`))
	f.Add(fuzzFrame(`{"accept":false,"reason":"not enough space"}`))
	f.Add(fuzzFrame(`{"accept":false,"reason":"evil\u001b]0;owned\u0007"}`))
	f.Add(fuzzFrame(`{"accept":true,"offsets":[0,0,0,0]} {}`))
	f.Add(fuzzFrame(`{"accept":true,"offsets":[0,0,0,0],"extra":1}`))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		allowed := map[int]int64{1: 10, 3: 5}
		offsets, err := readDecision(bytes.NewReader(data), fuzzOffer, allowed)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\x1b\x07\x00") {
				t.Fatalf("an error carries a raw control character: %q", err)
			}
			return
		}
		if len(data) < 4 || binary.BigEndian.Uint32(data) > maxDecisionFrame(len(fuzzOffer.Entries)) {
			t.Fatal("accepted a frame beyond its limit")
		}
		if len(offsets) != len(fuzzOffer.Entries) {
			t.Fatalf("%d offsets", len(offsets))
		}
		for i, e := range fuzzOffer.Entries {
			if a, ok := allowed[i]; offsets[i] != 0 && (!ok || offsets[i] != a) || offsets[i] > e.Size || e.Dir && offsets[i] != 0 {
				t.Fatalf("offset %d for %+v", offsets[i], e)
			}
		}
	})
}

// FuzzResult feeds arbitrary result frames, as a hostile receiver could
// send them, to the sender: no panic, success only for {"ok":true}, and
// a report that cannot carry terminal escapes.
func FuzzResult(f *testing.F) {
	f.Add(fuzzFrame(`{"ok":true}`))
	f.Add(fuzzFrame(`{"ok":false,"error":"\"a\": content does not match its SHA-256"}`))
	f.Add(fuzzFrame(`{"ok":false,"error":"evil\u001b[2J\u202e"}`))
	f.Add(fuzzFrame(`{"ok":true,"error":"x"}`))
	f.Add(fuzzFrame(`{"ok":true}x`))
	f.Add(fuzzFrame(`{"OK":1}`))
	f.Add(fuzzFrame(`{"ok":false,"error":"\"f\": could not be written","kinds":["write","integrity"]}`))
	f.Add(fuzzFrame(`{"ok":false,"kinds":["exists","exists"]}`))
	f.Add([]byte{0, 0, 0x80, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		err := readResult(bytes.NewReader(data))
		if err == nil {
			if len(data) < 4 || binary.BigEndian.Uint32(data) > maxResultFrame {
				t.Fatal("accepted a frame beyond its limit")
			}
			return
		}
		if strings.ContainsAny(err.Error(), "\x1b\x07\x00\u202e") {
			t.Fatalf("an error carries a raw control character: %q", err)
		}
		if errors.Is(err, ErrDeclined) {
			t.Fatal("a result read as a refusal")
		}
	})
}

// FuzzMemorySink feeds arbitrary streams, as a hostile sender could send
// them (a manifest frame and file bytes), to ReceiveTo with a MemorySink:
// no panic, and the sink holds only files whose content the stream
// carried followed by its SHA-256 and whose names CheckName accepts, never
// more than its cap in all.
func FuzzMemorySink(f *testing.F) {
	good := "good"
	goodSum := sha256.Sum256([]byte(good))
	f.Add(append(append(fuzzFrame(`{"protocol":"sp2p-transfer v2","entries":[{"path":"a","size":4}]}`), good...), goodSum[:]...))
	f.Add(append(append(fuzzFrame(`{"protocol":"sp2p-transfer v2","entries":[{"path":"a","size":4}]}`), "evil"...), goodSum[:]...))
	f.Add(append(fuzzFrame(`{"protocol":"sp2p-transfer v2","entries":[{"path":"a","size":4}]}`), good...))
	f.Add(append(fuzzFrame(`{"protocol":"sp2p-transfer v2","entries":[{"path":"a","size":4}]}`), "evil"...))
	f.Add(append(fuzzFrame(`{"protocol":"sp2p-transfer v2","entries":[{"path":"d","dir":true},{"path":"d/a","size":4},{"path":"e","size":0}]}`), "goo"...))
	f.Add(append(fuzzFrame(`{"protocol":"sp2p-transfer v2","entries":[{"path":"big","size":1000}]}`), good...))
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 100
		sink := NewMemorySink(limit)
		conn := struct {
			io.Reader
			io.Writer
		}{bytes.NewReader(data), io.Discard}
		ReceiveTo(conn, sink, ReceiveOptions{})
		var total int64
		for _, rf := range sink.Files() {
			sum := sha256.Sum256(rf.Data)
			if CheckName(rf.Path) != nil || sha(rf.Data) != rf.SHA256 || !bytes.Contains(data, append(append([]byte(nil), rf.Data...), sum[:]...)) {
				t.Fatalf("holds %s (%d bytes) that the stream did not carry with its SHA-256 %s", Quote(rf.Path), len(rf.Data), rf.SHA256)
			}
			total += int64(len(rf.Data))
		}
		if total > limit || sink.Free() != limit-total {
			t.Fatalf("holds %d bytes, %d free, of %d", total, sink.Free(), limit)
		}
	})
}
