package transfer

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// The transfer vectors (testdata/transfer-vectors.json, quoted in
// SECURITY.md) are one whole exchange, byte for byte: the sender offers
// two files, the receiver has the first 5 bytes of the second as a part
// file and asks for the SHA-256 of the sender's first 5 bytes, the
// sender gives it, it matches, the receiver accepts,
// the sender sends the first file and the rest of the second, each
// followed by its SHA-256, and the receiver reports success. Run with
// SP2P_WRITE_VECTORS=1 to write the file anew from this implementation.

type transferVectors struct {
	Description string         `json:"description"`
	Files       []vectorFile   `json:"files"`
	Part        vectorPart     `json:"part"`
	Stream      []vectorPacket `json:"stream"`
}

type vectorFile struct {
	Path string `json:"path"`
	Hex  string `json:"hex"`
}

type vectorPart struct {
	Name string `json:"name"` // the part file's name in the output directory
	Hex  string `json:"hex"`
}

type vectorPacket struct {
	From string `json:"from"` // "sender" or "receiver"
	What string `json:"what"`
	Hex  string `json:"hex"`
}

const vectorsPath = "../testdata/transfer-vectors.json"

func vectorSource(t *testing.T, v *transferVectors) (*Manifest, Source, [][]byte) {
	t.Helper()
	var files []SourceFile
	var data [][]byte
	for _, f := range v.Files {
		b, err := hex.DecodeString(f.Hex)
		if err != nil {
			t.Fatal(err)
		}
		data = append(data, b)
		files = append(files, SourceFile{Path: f.Path, Size: int64(len(b)), Open: func(off int64) (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(b[off:])), nil
		}})
	}
	m, src, err := BuildManifestFrom(files)
	if err != nil {
		t.Fatal(err)
	}
	return m, src, data
}

func writeVectors(t *testing.T) {
	v := &transferVectors{
		Description: "sp2p-transfer v2: a.txt is sent whole; the receiver has the first 5 bytes of d/b.bin as a part file, asks for the SHA-256 of the sender's first 5 bytes of it, which matches its own, and only the rest is sent",
		Files: []vectorFile{
			{Path: "a.txt", Hex: hex.EncodeToString([]byte("hello, world\n"))},
			{Path: "d/b.bin", Hex: hex.EncodeToString([]byte("0123456789abcdef"))},
		},
		Part: vectorPart{Name: "d/.b.bin.sp2p-part", Hex: hex.EncodeToString([]byte("01234"))},
	}
	m, src, _ := vectorSource(t, v)
	out := t.TempDir()
	os.MkdirAll(filepath.Join(out, "d"), 0o755)
	part, _ := hex.DecodeString(v.Part.Hex)
	os.WriteFile(filepath.Join(out, filepath.FromSlash(v.Part.Name)), part, 0o600)
	s, r := net.Pipe()
	rec := &recorder{}
	go func() {
		Send(&tapConn{Conn: s, rec: rec, from: "sender"}, m, src, nil)
		s.Close()
	}()
	if _, err := Receive(&tapConn{Conn: r, rec: rec, from: "receiver"}, ReceiveOptions{Dir: out}); err != nil {
		t.Fatal(err)
	}
	r.Close()
	v.Stream = rec.packets
	names := []string{"manifest frame", "query frame", "answer frame", "decision frame", "a.txt, then its SHA-256", "d/b.bin from offset 5, then the SHA-256 of all of d/b.bin", "result frame"}
	for i := range v.Stream {
		if i < len(names) {
			v.Stream[i].What = names[i]
		}
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	if err := os.WriteFile(vectorsPath, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// recorder collects what each side writes, one packet per Write call of
// the protocol (consecutive writes of one side joined).
type recorder struct {
	packets []vectorPacket
}

type tapConn struct {
	net.Conn
	rec  *recorder
	from string
}

func (c *tapConn) Write(p []byte) (int, error) {
	ps := c.rec.packets
	h := hex.EncodeToString(p)
	// A file's bytes and its SHA-256 are one packet; frames are each one.
	if n := len(ps); n > 0 && ps[n-1].From == c.from && c.from == "sender" && n >= 4 && len(p) == 32 {
		ps[n-1].Hex += h
	} else {
		c.rec.packets = append(ps, vectorPacket{From: c.from, Hex: h})
	}
	return c.Conn.Write(p)
}

func readVectors(t *testing.T) *transferVectors {
	t.Helper()
	if os.Getenv("SP2P_WRITE_VECTORS") == "1" {
		writeVectors(t)
	}
	b, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatal(err)
	}
	var v transferVectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Stream) != 7 {
		t.Fatalf("%d packets in the vectors", len(v.Stream))
	}
	return &v
}

// TestTransferVectors plays each side of the recorded exchange against
// this implementation: the sender must write exactly the sender's bytes
// when fed the receiver's, and the receiver exactly the receiver's (and
// end with both files whole).
func TestTransferVectors(t *testing.T) {
	v := readVectors(t)
	packets := make([][]byte, len(v.Stream))
	for i, p := range v.Stream {
		var err error
		if packets[i], err = hex.DecodeString(p.Hex); err != nil {
			t.Fatal(err)
		}
	}
	// play runs one side (start) against the script of the other.
	play := func(side string, start func(io.ReadWriter) error) {
		a, b := net.Pipe()
		done := make(chan error, 1)
		go func() { done <- start(a); a.Close() }()
		for i, p := range v.Stream {
			if p.From == side {
				got := make([]byte, len(packets[i]))
				if _, err := io.ReadFull(b, got); err != nil || !bytes.Equal(got, packets[i]) {
					t.Fatalf("%s, %s: wrote %x (%v), want %x", side, p.What, got, err, packets[i])
				}
				continue
			}
			if _, err := b.Write(packets[i]); err != nil {
				t.Fatalf("%s: feeding %s: %v", side, p.What, err)
			}
		}
		b.Close()
		if err := <-done; err != nil {
			t.Fatalf("%s: %v", side, err)
		}
	}
	m, src, data := vectorSource(t, v)
	play("sender", func(c io.ReadWriter) error { _, err := Send(c, m, src, nil); return err })

	out := t.TempDir()
	os.MkdirAll(filepath.Join(out, "d"), 0o755)
	part, _ := hex.DecodeString(v.Part.Hex)
	os.WriteFile(filepath.Join(out, filepath.FromSlash(v.Part.Name)), part, 0o600)
	play("receiver", func(c io.ReadWriter) error { _, err := Receive(c, ReceiveOptions{Dir: out}); return err })
	for i, f := range v.Files {
		if got, _ := os.ReadFile(filepath.Join(out, filepath.FromSlash(f.Path))); !bytes.Equal(got, data[i]) {
			t.Errorf("%s: %q", f.Path, got)
		}
	}
}
