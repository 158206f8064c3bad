package memlink

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/sp2p/sp2p/link"
)

// A channel between two endpoints: two pipes, each one direction, with
// the network's faults applied as messages are sent.

// newChannelPair returns the two ends of a new channel.
func (n *Network) newChannelPair(cfg link.Config) (*channel, *channel) {
	reliable := !cfg.Channel.PartialReliability
	ab := &pipe{net: n, reliable: reliable, ordered: !cfg.Channel.Unordered, onNetwork: cfg.OnNetwork}
	ba := &pipe{net: n, reliable: reliable, ordered: !cfg.Channel.Unordered, onNetwork: cfg.OnNetwork}
	ab.cond = sync.NewCond(&n.mu)
	ba.cond = sync.NewCond(&n.mu)
	n.mu.Lock()
	n.channels[ab] = struct{}{}
	n.channels[ba] = struct{}{}
	n.mu.Unlock()
	return &channel{in: ba, out: ab}, &channel{in: ab, out: ba}
}

// pipe is one direction of a channel. Its state is guarded by net.mu.
type pipe struct {
	net               *Network
	cond              *sync.Cond
	reliable, ordered bool
	onNetwork         func(link.Event)

	queue      []message
	buffered   int       // bytes written and not yet read
	lastArrive time.Time // when the last message sent arrives (ordering, bandwidth)
	closed     bool
	dead       bool // the path went away (Move): what is sent is lost
	timer      *time.Timer
}

type message struct {
	data   []byte
	arrive time.Time
}

// send queues p with the network's faults. net.mu must be held.
func (p *pipe) send(data []byte, now time.Time) {
	if p.dead {
		return
	}
	n := p.net
	f := n.faults
	arrive := now.Add(f.Delay)
	if f.Jitter > 0 {
		arrive = arrive.Add(time.Duration(n.rng.Int64N(int64(f.Jitter) + 1)))
	}
	if f.BytesPerSecond > 0 {
		start := later(now, p.lastArrive)
		arrive = later(arrive, start.Add(time.Duration(float64(len(data))/float64(f.BytesPerSecond)*float64(time.Second))))
	}
	if f.Loss > 0 && n.rng.Float64() < f.Loss {
		if !p.reliable {
			return // gone
		}
		rd := f.RetransmitDelay
		if rd <= 0 {
			rd = 200 * time.Millisecond
		}
		arrive = arrive.Add(rd)
	}
	if p.ordered {
		arrive = later(arrive, p.lastArrive)
	}
	p.lastArrive = later(p.lastArrive, arrive)
	m := message{data: data, arrive: arrive}
	p.queue = append(p.queue, m)
	p.buffered += len(data)
	if f.Reorder > 0 && len(p.queue) >= 2 && n.rng.Float64() < f.Reorder {
		i := len(p.queue) - 1
		p.queue[i], p.queue[i-1] = p.queue[i-1], p.queue[i]
		p.queue[i-1].arrive, p.queue[i].arrive = p.queue[i].arrive, p.queue[i-1].arrive
	}
	if f.Duplicate > 0 && n.rng.Float64() < f.Duplicate {
		p.queue = append(p.queue, message{data: data, arrive: arrive})
	}
	p.cond.Broadcast()
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// wake makes sure a waiting reader wakes up at t. net.mu must be held.
func (p *pipe) wake(d time.Duration) {
	if p.timer != nil {
		p.timer.Stop()
	}
	p.timer = time.AfterFunc(d, func() {
		p.net.mu.Lock()
		p.cond.Broadcast()
		p.net.mu.Unlock()
	})
}

// channel is one end of a channel.
type channel struct {
	in, out       *pipe
	local, remote netip.AddrPort
	broken        bool // Move: this end fails (guarded by net.mu)

	wmu      sync.Mutex
	deadline time.Time
	dlTimer  *time.Timer
}

func (c *channel) ReadMessage(b []byte) (int, error) {
	p := c.in
	n := p.net
	n.mu.Lock()
	defer n.mu.Unlock()
	for {
		if c.broken {
			return 0, errMoved
		}
		if len(p.queue) > 0 && !n.cut {
			m := p.queue[0]
			if d := time.Until(m.arrive); d <= 0 {
				p.queue[0] = message{}
				p.queue = p.queue[1:]
				p.buffered = max(0, p.buffered-len(m.data))
				p.cond.Broadcast() // a blocked writer may go on
				if len(m.data) > len(b) {
					return 0, io.ErrShortBuffer
				}
				return copy(b, m.data), nil
			} else {
				p.wake(d)
			}
		}
		if p.closed && (len(p.queue) == 0 || n.cut) {
			return 0, io.EOF
		}
		p.cond.Wait()
	}
}

func (c *channel) WriteMessage(b []byte) error {
	_, err := c.write(b, false)
	return err
}

// TryWriteMessage sends b only if the send buffer has room for it now
// (link.TryWriter).
func (c *channel) TryWriteMessage(b []byte) (bool, error) {
	return c.write(b, true)
}

func (c *channel) write(b []byte, try bool) (bool, error) {
	if len(b) > MaxMessage {
		return false, fmt.Errorf("memlink: message of %d bytes, at most %d", len(b), MaxMessage)
	}
	p := c.out
	n := p.net
	n.mu.Lock()
	defer n.mu.Unlock()
	for {
		if c.broken {
			return false, errMoved
		}
		if p.closed {
			return false, io.ErrClosedPipe
		}
		c.wmu.Lock()
		dl := c.deadline
		c.wmu.Unlock()
		if !dl.IsZero() && !time.Now().Before(dl) {
			return false, fmt.Errorf("memlink: write: %w", os.ErrDeadlineExceeded)
		}
		limit := n.faults.SendBuffer
		if limit <= 0 {
			limit = SendBuffer
		}
		if p.buffered == 0 || p.buffered+len(b) <= limit {
			p.send(append([]byte(nil), b...), time.Now())
			return true, nil
		}
		if try {
			return false, nil
		}
		p.cond.Wait()
	}
}

func (c *channel) SetWriteDeadline(t time.Time) error {
	c.wmu.Lock()
	c.deadline = t
	if c.dlTimer != nil {
		c.dlTimer.Stop()
		c.dlTimer = nil
	}
	if !t.IsZero() {
		p := c.out
		c.dlTimer = time.AfterFunc(time.Until(t), func() {
			p.net.mu.Lock()
			p.cond.Broadcast()
			p.net.mu.Unlock()
		})
	}
	c.wmu.Unlock()
	return nil
}

// errMoved is what a channel whose endpoint moved returns.
var errMoved = errors.New("memlink: this endpoint's address went away")

// breakLocal is Move's: this end fails, and the path goes silent.
func (c *channel) breakLocal() {
	n := c.in.net
	n.mu.Lock()
	defer n.mu.Unlock()
	c.broken = true
	c.in.dead, c.out.dead = true, true
	c.in.queue, c.out.queue = nil, nil
	c.in.cond.Broadcast()
	c.out.cond.Broadcast()
}

// PathStats reports the channel's addresses (no checks: memlink has no
// ICE).
func (c *channel) PathStats() (link.PathStats, bool) {
	return link.PathStats{Local: c.local, Remote: c.remote}, true
}

// Close ends both directions: the peer reads what already arrived, then
// io.EOF.
func (c *channel) Close() error {
	n := c.in.net
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range []*pipe{c.in, c.out} {
		if p.closed {
			continue
		}
		p.closed = true
		if p.timer != nil {
			p.timer.Stop()
		}
		delete(n.channels, p)
		p.cond.Broadcast()
	}
	c.in.queue = nil // nothing more is read on this end
	return nil
}
