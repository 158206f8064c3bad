package session

import (
	"context"
	"net"
	"os"
	"sync"
	"time"

	"github.com/sp2p/sp2p/internal/seal"
)

// Conn returns a net.Conn byte stream over the session. Writes are sent as
// messages of at most one record each; reads return the bytes in order.
// CloseWrite (on the returned value, which also has that method) ends the
// sending direction only. Closing the Conn closes the session. Use either
// the stream or Send/Receive, not both.
func (s *Session) Conn() *Conn {
	return &Conn{s: s, rd: newDeadline(), wd: newDeadline()}
}

// Conn is the stream view of a Session. It implements net.Conn.
type Conn struct {
	s      *Session
	rmu    sync.Mutex
	rest   []byte
	rd, wd *deadline
}

var _ net.Conn = (*Conn)(nil)

// maxChunk is the most a Write puts in one message: one record's payload,
// so that stream data is never fragmented.
const maxChunk = MaxRecord - seal.Overhead

// Read reads stream bytes. It returns io.EOF after the peer's CloseWrite
// or Close.
func (c *Conn) Read(b []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for len(c.rest) == 0 {
		if len(b) == 0 {
			return 0, nil
		}
		cancel := c.rd.wait()
		m, err := c.s.receive(cancel, func() error { return os.ErrDeadlineExceeded })
		if err != nil {
			return 0, err
		}
		c.rest = m
	}
	n := copy(b, c.rest)
	c.rest = c.rest[n:]
	return n, nil
}

// Write writes stream bytes; it blocks while the peer is not reading.
func (c *Conn) Write(b []byte) (int, error) {
	ctx, cancel := c.wd.context()
	defer cancel()
	n := 0
	for len(b) > 0 {
		chunk := b[:min(len(b), maxChunk)]
		if err := c.s.Send(ctx, chunk); err != nil {
			if ctx.Err() != nil {
				return n, os.ErrDeadlineExceeded
			}
			return n, err
		}
		n += len(chunk)
		b = b[len(chunk):]
	}
	return n, nil
}

// CloseWrite ends the sending direction; the peer reads io.EOF.
func (c *Conn) CloseWrite() error { return c.s.CloseWrite() }

// Close closes the session.
func (c *Conn) Close() error { return c.s.Close() }

// Addr is a session endpoint's address: an identity.
type Addr struct{ ID string }

// Network returns "sp2p".
func (Addr) Network() string  { return "sp2p" }
func (a Addr) String() string { return a.ID }

// LocalAddr returns this side's address (its session id; the local
// identity is the caller's own).
func (c *Conn) LocalAddr() net.Addr { return Addr{ID: "local"} }

// RemoteAddr returns the peer's identity.
func (c *Conn) RemoteAddr() net.Addr { return Addr{ID: c.s.peer.String()} }

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.rd.set(t)
	c.wd.set(t)
	return nil
}

// SetReadDeadline sets the read deadline, also for a Read in progress.
func (c *Conn) SetReadDeadline(t time.Time) error { c.rd.set(t); return nil }

// SetWriteDeadline sets the write deadline for later Writes.
func (c *Conn) SetWriteDeadline(t time.Time) error { c.wd.set(t); return nil }

// deadline is a settable deadline with a channel that closes when it
// passes, as in net.Pipe.
type deadline struct {
	mu     sync.Mutex
	t      time.Time
	timer  *time.Timer
	cancel chan struct{}
}

func newDeadline() *deadline { return &deadline{cancel: make(chan struct{})} }

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the timer fired: wait for it to close cancel
	}
	d.timer = nil
	closed := isClosed(d.cancel)
	d.t = t
	if t.IsZero() {
		if closed {
			d.cancel = make(chan struct{})
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if closed {
			d.cancel = make(chan struct{})
		}
		ch := d.cancel
		d.timer = time.AfterFunc(dur, func() { close(ch) })
		return
	}
	if !closed {
		close(d.cancel)
	}
}

func (d *deadline) wait() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}

func (d *deadline) context() (context.Context, context.CancelFunc) {
	d.mu.Lock()
	t := d.t
	d.mu.Unlock()
	if t.IsZero() {
		return context.WithCancel(context.Background())
	}
	return context.WithDeadline(context.Background(), t)
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
