// Package memlink is an in-memory network of links (link.Link) for tests:
// the real handshake and record layer run over it, at memory speed, with
// no sockets, and with faults a test injects: loss, delay and jitter,
// reordering, duplication, outages and a bandwidth cap. The faults are
// drawn from a random source seeded by the test, so a run with the same
// seed meets the same pattern of faults (timing still comes from the real
// clock).
//
// What a channel models is what a WebRTC data channel delivers to the
// application, not raw datagrams: on a reliable channel (the default) a
// lost message is not lost but arrives RetransmitDelay late, and order is
// kept, as SCTP does; on an unordered, partially reliable channel a lost
// message is gone and reordering is visible. Duplicate and Reorder on a
// reliable channel model a hostile path below the record layer (what a
// broken or malicious relay could do): the record layer must reject the
// duplicates and tolerate the order.
//
// Connection descriptions carry one host candidate in 100.64.0.0/10 whose
// port names the endpoint, random ICE credentials, and the SHA-256 of the
// endpoint's random "certificate". Connecting checks the credentials (as
// ICE does) and each side checks the other's certificate against the
// signed fingerprint (as DTLS does), so a wrong fingerprint fails with
// link.ErrCertificateMismatch here too.
package memlink

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/link"
)

// Faults are the network's misbehaviour. Probabilities are per message.
type Faults struct {
	// Loss is the probability that a message is lost. On a reliable
	// channel it then arrives RetransmitDelay late (and holds back those
	// behind it); on a partially reliable one it is gone.
	Loss float64
	// RetransmitDelay is how late a lost message arrives on a reliable
	// channel; default 200 ms.
	RetransmitDelay time.Duration
	// Delay is the one-way delay; Jitter adds up to that much at random.
	Delay, Jitter time.Duration
	// Duplicate is the probability that a message is delivered twice.
	Duplicate float64
	// Reorder is the probability that a message overtakes the one before
	// it (if that one is still in flight).
	Reorder float64
	// BytesPerSecond caps each direction's rate (0: no cap).
	BytesPerSecond int
}

// SendBuffer is how many bytes a direction holds (sent, not yet read)
// before writes block: backpressure, as an SCTP send buffer gives.
const SendBuffer = 1 << 20

// MaxMessage is the largest message a channel carries (pion's default
// with no max-message-size announced).
const MaxMessage = 65535

// Network is a set of endpoints that can reach one another. It is safe
// for concurrent use.
type Network struct {
	mu        sync.Mutex
	rng       *rand.Rand
	faults    Faults
	cut       bool
	endpoints map[netip.AddrPort]*endpoint
	nextPort  uint16
	channels  map[*pipe]struct{}
}

// New returns an empty network whose faults are drawn from seed.
func New(seed uint64, f Faults) *Network {
	return &Network{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), faults: f,
		endpoints: map[netip.AddrPort]*endpoint{}, nextPort: 1, channels: map[*pipe]struct{}{}}
}

// SetFaults changes the faults for messages sent from now on.
func (n *Network) SetFaults(f Faults) {
	n.mu.Lock()
	n.faults = f
	n.mu.Unlock()
}

// SetOutage cuts the network (true) or restores it (false). During an
// outage nothing is delivered; messages wait and arrive when it ends.
// Open channels are told (link.Interrupted, link.Recovered).
func (n *Network) SetOutage(cut bool) {
	n.mu.Lock()
	if n.cut == cut {
		n.mu.Unlock()
		return
	}
	n.cut = cut
	var notify []func(link.Event)
	for p := range n.channels {
		p.cond.Broadcast()
		if p.onNetwork != nil {
			notify = append(notify, p.onNetwork)
		}
	}
	n.mu.Unlock()
	ev := link.Recovered
	if cut {
		ev = link.Interrupted
	}
	for _, f := range notify {
		f(ev)
	}
}

// Maker returns a link.Maker for this network.
func (n *Network) Maker() link.Maker {
	return func(cfg link.Config) (link.Link, error) { return n.NewLink(cfg) }
}

// NewLink makes an endpoint on the network.
func (n *Network) NewLink(cfg link.Config) (link.Link, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.nextPort == 0 {
		return nil, errors.New("memlink: out of endpoints")
	}
	e := &endpoint{net: n, cfg: cfg, opened: make(chan struct{}), failed: make(chan struct{})}
	e.addr = netip.AddrPortFrom(netip.AddrFrom4([4]byte{100, 64, 0, 1}), n.nextPort)
	n.nextPort++
	var cred [6 + 17 + 32]byte
	for i := range cred {
		cred[i] = byte(n.rng.Uint32())
	}
	e.ufrag = base64.RawStdEncoding.EncodeToString(cred[:6])
	e.pwd = base64.RawStdEncoding.EncodeToString(cred[6:23])[:invite.MinPwdLen]
	copy(e.cert[:], cred[23:])
	n.endpoints[e.addr] = e
	return e, nil
}

type endpoint struct {
	net        *Network
	cfg        link.Config
	addr       netip.AddrPort
	ufrag, pwd string
	cert       [32]byte

	mu       sync.Mutex
	local    *invite.ConnDesc
	remote   *invite.ConnDesc
	ch       *channel
	err      error
	opened   chan struct{}
	failed   chan struct{}
	doneOnce sync.Once
	closed   bool
}

func (e *endpoint) desc(role invite.DTLSRole) *invite.ConnDesc {
	return &invite.ConnDesc{
		ICEUfrag: e.ufrag, ICEPwd: e.pwd, Fingerprint: sha256.Sum256(e.cert[:]), Role: role,
		Candidates: []invite.Candidate{{Type: invite.Host, Addr: e.addr}},
	}
}

func (e *endpoint) Offer(ctx context.Context) (*invite.ConnDesc, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.local != nil {
		return nil, errors.New("memlink: Offer on a used link")
	}
	e.local = e.desc(invite.RoleActPass)
	d := *e.local
	return &d, nil
}

func (e *endpoint) Answer(ctx context.Context, offer *invite.ConnDesc) (*invite.ConnDesc, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.local != nil {
		return nil, errors.New("memlink: Answer on a used link")
	}
	r := *offer
	e.remote = &r
	e.local = e.desc(invite.RoleActive)
	d := *e.local
	e.startTimeout()
	return &d, nil
}

// startTimeout fails a link that is not connected within its
// ConnectTimeout. e.mu must be held.
func (e *endpoint) startTimeout() {
	if e.cfg.ConnectTimeout <= 0 {
		return
	}
	time.AfterFunc(e.cfg.ConnectTimeout, func() {
		e.fail(fmt.Errorf("%w: no answer from the peer within %v", link.ErrConnectFailed, e.cfg.ConnectTimeout))
	})
}

// Apply connects the offerer to the answerer named in the answer, if the
// answerer is there, holds the offer's credentials (ICE) and each side's
// certificate matches the other's signed fingerprint (DTLS).
func (e *endpoint) Apply(answer *invite.ConnDesc) error {
	e.mu.Lock()
	if e.local == nil || e.remote != nil {
		e.mu.Unlock()
		return errors.New("memlink: Apply before Offer, or twice")
	}
	r := *answer
	e.remote = &r
	e.startTimeout()
	e.mu.Unlock()

	n := e.net
	n.mu.Lock()
	var peer *endpoint
	for _, c := range answer.Candidates {
		if p := n.endpoints[c.Addr]; p != nil && p != e {
			peer = p
			break
		}
	}
	n.mu.Unlock()
	if peer == nil {
		return nil // like ICE: nobody answers; Open fails at the timeout
	}
	peer.mu.Lock()
	ok := peer.remote != nil && peer.remote.ICEUfrag == e.ufrag && peer.remote.ICEPwd == e.pwd &&
		answer.ICEUfrag == peer.ufrag && answer.ICEPwd == peer.pwd && !peer.closed
	peerSees := peer.remote != nil && peer.remote.Fingerprint == sha256.Sum256(e.cert[:])
	peer.mu.Unlock()
	if !ok {
		return nil // connectivity checks fail: Open fails at the timeout
	}
	weSee := answer.Fingerprint == sha256.Sum256(peer.cert[:])
	switch {
	case !weSee:
		e.fail(link.ErrCertificateMismatch)
		if peerSees {
			peer.fail(fmt.Errorf("%w: %w", link.ErrConnectFailed, link.ErrHandshakeFailed))
		} else {
			peer.fail(link.ErrCertificateMismatch)
		}
		return nil
	case !peerSees:
		peer.fail(link.ErrCertificateMismatch)
		e.fail(fmt.Errorf("%w: %w", link.ErrConnectFailed, link.ErrHandshakeFailed))
		return nil
	}
	a, b := n.newChannelPair(e.cfg)
	e.open(a)
	peer.open(b)
	return nil
}

func (e *endpoint) open(c *channel) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ch != nil || e.err != nil || e.closed {
		c.Close()
		return
	}
	e.ch = c
	e.doneOnce.Do(func() { close(e.opened) })
}

func (e *endpoint) fail(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ch != nil || e.err != nil {
		return
	}
	e.err = err
	close(e.failed)
}

func (e *endpoint) Open(ctx context.Context) (link.Channel, error) {
	select {
	case <-e.opened:
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.ch, nil
	case <-e.failed:
		e.mu.Lock()
		defer e.mu.Unlock()
		return nil, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (e *endpoint) Close() error {
	e.mu.Lock()
	e.closed = true
	ch := e.ch
	e.mu.Unlock()
	e.fail(fmt.Errorf("%w: the link was closed", link.ErrConnectFailed))
	e.net.mu.Lock()
	delete(e.net.endpoints, e.addr)
	e.net.mu.Unlock()
	if ch != nil {
		ch.Close()
	}
	return nil
}

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
	timer      *time.Timer
}

type message struct {
	data   []byte
	arrive time.Time
}

// send queues p with the network's faults. net.mu must be held.
func (p *pipe) send(data []byte, now time.Time) {
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
	in, out *pipe

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
	if len(b) > MaxMessage {
		return fmt.Errorf("memlink: message of %d bytes, at most %d", len(b), MaxMessage)
	}
	data := append([]byte(nil), b...)
	p := c.out
	n := p.net
	n.mu.Lock()
	defer n.mu.Unlock()
	for {
		if p.closed {
			return io.ErrClosedPipe
		}
		c.wmu.Lock()
		dl := c.deadline
		c.wmu.Unlock()
		if !dl.IsZero() && !time.Now().Before(dl) {
			return fmt.Errorf("memlink: write: %w", os.ErrDeadlineExceeded)
		}
		if p.buffered == 0 || p.buffered+len(data) <= SendBuffer {
			p.send(data, time.Now())
			return nil
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
