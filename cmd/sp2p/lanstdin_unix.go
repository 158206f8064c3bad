//go:build unix

package main

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// stopReader reads r (stdin) until ctx ends, then reads nothing more:
// while the answer may come over the LAN, a paste read waits with poll and
// takes a byte only when one is there, so once the LAN's answer has won
// no read is left pending to swallow the first line typed into the chat.
func stopReader(ctx context.Context, r io.Reader) io.Reader {
	f, ok := r.(*os.File)
	if !ok {
		return r
	}
	return &pollReader{ctx: ctx, f: f, fd: int32(f.Fd())}
}

type pollReader struct {
	ctx context.Context
	f   *os.File
	fd  int32
	mu  sync.Mutex // held while a Read is under way (see drained)
}

func (p *pollReader) Read(b []byte) (int, error) {
	if err := p.ctx.Err(); err != nil {
		return 0, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fds := []unix.PollFd{{Fd: p.fd, Events: unix.POLLIN}}
	for {
		if err := p.ctx.Err(); err != nil {
			return 0, err
		}
		n, err := unix.Poll(fds, 100)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return p.f.Read(b) // poll cannot wait on it: read as before
		}
		if n > 0 {
			if err := p.ctx.Err(); err != nil {
				return 0, err // ended while it waited: the bytes are someone else's
			}
			return p.f.Read(b)
		}
	}
}

// drained waits until no Read of r (from stopReader) is under way: after
// its context ended, one ends within 100 ms. Then nothing typed next (an
// answer to a question, the chat's first line) is taken by it.
func drained(r io.Reader) {
	if p, ok := r.(*pollReader); ok {
		p.mu.Lock()
		//lint:ignore SA2001 only waiting for the Read in progress to end
		p.mu.Unlock()
	}
}
