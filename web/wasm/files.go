//go:build js && wasm

package main

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall/js"
	"time"

	"github.com/sp2p/sp2p/transfer"
)

// Limits of file transfers in a page.
const (
	// maxReceive bounds what receiveFiles keeps in memory (the page's
	// Blobs are made from it): an offer of more is refused before
	// anything is accepted.
	maxReceive = 1 << 30
	// readChunk is how much of a File one read takes (file.slice).
	readChunk = 1 << 20
	// progressEvery spaces the progress callbacks.
	progressEvery = 100 * time.Millisecond
)

// filesSession checks that x is a session for files on the side that
// does what the caller asks (the inviter sends, as with sp2p send and
// receive) and takes it over for the transfer's byte stream.
func filesSession(b *bridge, h js.Value, send bool) (*jsSession, error) {
	x, err := getHandle[*jsSession](&b.h, h)
	if err != nil {
		return nil, err
	}
	if x.purpose != purposeFiles {
		return nil, fmt.Errorf("%w: this session is for a %s, not for files", errWrongPurpose, x.purpose)
	}
	if send != x.inviter {
		return nil, fmt.Errorf("%w: the inviter sends the files and the invitee receives them", errWrongPurpose)
	}
	if err := x.takeOver("file transfer"); err != nil {
		return nil, err
	}
	return x, nil
}

// progressFn calls the page's progress(done, total, file) at most every
// progressEvery, and always for the last bytes.
func progressFn(f js.Value) func(transfer.Progress) {
	if f.Type() != js.TypeFunction {
		return nil
	}
	var last time.Time
	return func(p transfer.Progress) {
		if now := time.Now(); now.Sub(last) >= progressEvery || p.Done == p.Total {
			last = now
			f.Invoke(float64(p.Done), float64(p.Total), p.File)
		}
	}
}

// jsFileReader reads a page's File through read(i, start, end), which
// returns a Promise of a Uint8Array (file.slice(start, end).arrayBuffer()).
type jsFileReader struct {
	read      js.Value
	i         int
	off, size int64
	buf       []byte
}

func (r *jsFileReader) Read(p []byte) (int, error) {
	if len(r.buf) == 0 {
		if r.off >= r.size {
			return 0, io.EOF
		}
		end := min(r.off+readChunk, r.size)
		v, err := await(r.read.Invoke(r.i, float64(r.off), float64(end)))
		if err != nil {
			return 0, fmt.Errorf("%w: reading the file: %v", transfer.ErrChanged, err)
		}
		b, err := bytesFrom(v)
		if err != nil {
			return 0, err
		}
		if len(b) == 0 {
			return 0, io.ErrUnexpectedEOF // the file is shorter than it was: Send says ErrChanged
		}
		r.buf = b
		r.off += int64(len(b))
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (r *jsFileReader) Close() error { return nil }

// sendFiles(h, files [{path, size}], read(i, start, end), progress) offers
// the files with the transfer protocol of `sp2p send` and sends them if
// the receiver accepts; it resolves to {files, bytes}.
func (b *bridge) sendFiles(a []js.Value) (any, error) {
	descs, read := arg(a, 1), arg(a, 2)
	if !js.Global().Get("Array").Call("isArray", descs).Bool() || read.Type() != js.TypeFunction {
		return nil, invalid("sendFiles takes an array of Files", nil)
	}
	var files []transfer.SourceFile
	for i := 0; i < descs.Length(); i++ {
		d := descs.Index(i)
		size := int64(d.Get("size").Float())
		files = append(files, transfer.SourceFile{
			Path: str(d.Get("path")),
			Size: size,
			Open: func(off int64) (io.ReadCloser, error) {
				return &jsFileReader{read: read, i: i, off: off, size: size}, nil
			},
		})
	}
	if len(files) == 0 {
		return nil, invalid("no files to send", nil)
	}
	x, err := filesSession(b, arg(a, 0), true)
	if err != nil {
		return nil, err
	}
	m, src, err := transfer.BuildManifestFrom(files)
	if err != nil {
		return nil, err
	}
	res, err := transfer.Send(x.s.Conn(), m, src, progressFn(arg(a, 3)))
	if err != nil {
		return nil, err
	}
	return map[string]any{"files": res.Files, "bytes": float64(res.Bytes)}, nil
}

// receiveFiles(h, offered(offer, decide(yes)), progress) reads an offer,
// asks the page (offered gets {files: [{path, size}], bytes} and a decide
// function), and receives the files into memory (at most maxReceive);
// it resolves to [{path, size, sha256, parts: [Uint8Array]}].
func (b *bridge) receiveFiles(a []js.Value) (any, error) {
	offered := arg(a, 1)
	if offered.Type() != js.TypeFunction {
		return nil, invalid("receiveFiles takes a function that decides on the offer", nil)
	}
	x, err := filesSession(b, arg(a, 0), false)
	if err != nil {
		return nil, err
	}
	sink := transfer.NewMemorySink(maxReceive)
	confirm := func(o *transfer.Offer) (bool, error) {
		var list []any
		for _, e := range o.Manifest.Entries {
			if !e.Dir {
				list = append(list, map[string]any{"path": e.Path, "size": float64(e.Size)})
			}
		}
		answer := make(chan bool, 1)
		var once sync.Once
		decide := js.FuncOf(func(_ js.Value, v []js.Value) any {
			once.Do(func() { answer <- arg(v, 0).Truthy() })
			return nil
		})
		defer decide.Release()
		offered.Invoke(map[string]any{"files": list, "bytes": float64(o.Bytes)}, decide)
		select {
		case yes := <-answer:
			return yes, nil
		case <-x.s.Done():
			return false, x.s.Err()
		}
	}
	_, err = transfer.ReceiveTo(x.s.Conn(), sink, transfer.ReceiveOptions{Confirm: confirm, Progress: progressFn(arg(a, 2))})
	if err != nil {
		return nil, err
	}
	var out []any
	for _, f := range sink.Files() {
		out = append(out, map[string]any{
			"path": f.Path, "size": float64(len(f.Data)), "sha256": f.SHA256,
			"parts": []any{bytesTo(f.Data)},
		})
	}
	return out, nil
}

// errTooLarge is kept for classify: an offer larger than a page holds is
// a *transfer.SpaceError.
var errTooLarge = errors.New("sp2p: the files are larger than the page can hold")
