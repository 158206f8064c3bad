package transfer

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
)

// liarSink is a MemorySink that claims to have what it has not.
type liarSink struct {
	*MemorySink
	have int64
	here bool
}

func (l liarSink) Plan(e Entry) (int64, bool, error) { return l.have, l.here, nil }

func (l liarSink) Create(e Entry, off int64) (FileWriter, error) {
	w, err := l.MemorySink.Create(e, 0)
	return liarFile{w}, err
}

type liarFile struct{ FileWriter }

func (l liarSink) Open(Entry, bool) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader("zzzzzzzzzzzzzzzzzzzzzzzz")), nil
}

// A sink cannot weaken the receiver's checks: an offset beyond a file's
// size, or "here" for a directory, refuses the offer; bytes it claims to
// have are compared by the sender, so a made-up prefix is not resumed
// (the whole file comes) and a made-up file "here" is not skipped.
func TestSinkCannotWeakenChecks(t *testing.T) {
	t.Parallel()
	data := []byte("the real content")
	for _, c := range []struct {
		name  string
		files []memFile
		sink  liarSink
	}{
		{"beyond the size", []memFile{{path: "f", data: data}}, liarSink{have: int64(len(data)) + 1}},
		{"a directory here", nil, liarSink{here: true}},
	} {
		c.sink.MemorySink = NewMemorySink(1 << 20)
		m := &Manifest{Protocol: protocolHeader, Entries: []Entry{{Path: "d", Dir: true}}}
		if c.files != nil {
			m.Entries = []Entry{{Path: "f", Size: int64(len(data))}}
		}
		s, r := pipePair(t)
		dc := make(chan decision, 1)
		go func() { dc <- fakeSender(s, m, data) }()
		if _, err := ReceiveTo(r, c.sink, ReceiveOptions{}); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
		if d := <-dc; d.Accept || d.Reason != reasonCannotWrite {
			t.Errorf("%s: decision %+v", c.name, d)
		}
	}
	m, src := buildFrom(t, memFile{path: "f", data: data})
	sink := liarSink{MemorySink: NewMemorySink(1 << 20), have: 8}
	sr, _, serr, rerr := pipeTo(t, m, src, receiveTo(sink, ReceiveOptions{}))
	if files := sink.Files(); serr != nil || rerr != nil || sr.Bytes != int64(len(data)) || sr.Resumed != 0 || len(files) != 1 || !bytes.Equal(files[0].Data, data) {
		t.Fatalf("a made-up prefix: send %+v %v, receive %v, %d files", sr, serr, rerr, len(files))
	}
	sink = liarSink{MemorySink: NewMemorySink(1 << 20), have: int64(len(data)), here: true}
	_, _, serr, rerr = pipeTo(t, m, src, receiveTo(sink, ReceiveOptions{}))
	if !errors.Is(rerr, ErrExists) || !errors.Is(serr, ErrDeclined) || len(sink.Files()) != 0 {
		t.Fatalf("a made-up file here: send %v, receive %v, %d files", serr, rerr, len(sink.Files()))
	}
}

// flipConn flips the bit 0 of the byte at offset at of what is written
// through it.
type flipConn struct {
	net.Conn
	at, n int64
}

func (f *flipConn) Write(p []byte) (int, error) {
	if k := f.at - f.n; k >= 0 && k < int64(len(p)) {
		p = bytes.Clone(p)
		p[k] ^= 1
	}
	f.n += int64(len(p))
	return f.Conn.Write(p)
}
