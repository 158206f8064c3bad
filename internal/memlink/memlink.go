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
// port names the endpoint, the ICE credentials of its link.Config (random
// ones when it has none), and the SHA-256 of the
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
	// SendBuffer is how many bytes a direction holds (sent, not yet
	// read) before writes block; 0: the package's SendBuffer. A message
	// larger than it is still taken when the direction holds nothing.
	SendBuffer int
}

// SendBuffer is how many bytes a direction holds (sent, not yet read)
// before writes block by default: backpressure, as an SCTP send buffer
// gives.
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
	anchors   map[netip.AddrPort]*link.Anchor
	nextPort  uint16
	channels  map[*pipe]struct{}
}

// New returns an empty network whose faults are drawn from seed.
func New(seed uint64, f Faults) *Network {
	return &Network{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), faults: f,
		endpoints: map[netip.AddrPort]*endpoint{}, anchors: map[netip.AddrPort]*link.Anchor{}, nextPort: 1, channels: map[*pipe]struct{}{}}
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
	if !cut {
		n.connectPending()
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
	if cfg.ICEUfrag != "" || cfg.ICEPwd != "" {
		// The ones derived from the token's ephemeral key, as pion's link
		// uses (drawn above all the same, so the network's random
		// sequence does not depend on them).
		e.ufrag, e.pwd = cfg.ICEUfrag, cfg.ICEPwd
	}
	copy(e.cert[:], cred[23:])
	if a := cfg.Anchor; a != nil {
		st, err := a.State(func() (io.Closer, error) {
			return &anchorState{cert: e.cert, addr: e.addr}, nil
		})
		if err != nil {
			return nil, err
		}
		as, ok := st.(*anchorState)
		if !ok {
			return nil, errors.New("memlink: the anchor belongs to another kind of link")
		}
		e.cert, e.addr = as.cert, as.addr
		n.anchors[e.addr] = a
	}
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
	offerer  bool
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
	e.offerer = true
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
	e.mu.Unlock()
	e.net.tryConnect(e)
	e.mu.Lock()
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

// Apply connects the offerer to the answerer, if the answerer is there,
// holds the offer's credentials (ICE) and each side's certificate matches
// the other's signed fingerprint (DTLS). As with ICE, it is enough that
// one side's description names the other's address (the other is then
// learnt as a peer-reflexive candidate), and the side that comes second
// connects.
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
	e.net.tryConnect(e)
	return nil
}

// tryConnect connects e to a counterpart waiting on the network, if one
// matches; an endpoint whose description names an anchor that waits for
// its credentials knocks there.
func (n *Network) tryConnect(e *endpoint) {
	n.mu.Lock()
	if n.cut {
		n.mu.Unlock()
		return
	}
	var peers []*endpoint
	for _, p := range n.endpoints {
		if p != e {
			peers = append(peers, p)
		}
	}
	var knocks []func()
	e.mu.Lock()
	remote := e.remote
	e.mu.Unlock()
	if remote != nil {
		for _, c := range remote.Candidates {
			if a := n.anchors[c.Addr]; a != nil {
				if ufrag, fn := a.Knock(); ufrag != "" && ufrag == remote.ICEUfrag && fn != nil {
					if p := n.endpoints[c.Addr]; p == nil || p.ufrag != ufrag {
						knocks = append(knocks, fn)
					}
				}
			}
		}
	}
	n.mu.Unlock()
	for _, fn := range knocks {
		go fn()
	}
	e.mu.Lock()
	eOffers := e.offerer
	e.mu.Unlock()
	for _, p := range peers {
		o, a := e, p
		if !eOffers {
			o, a = p, e
		}
		if n.pair(o, a) {
			return
		}
	}
}

// connectPending connects the endpoints that wait for a counterpart (an
// outage ended).
func (n *Network) connectPending() {
	n.mu.Lock()
	var waiting []*endpoint
	for _, p := range n.endpoints {
		waiting = append(waiting, p)
	}
	n.mu.Unlock()
	for _, e := range waiting {
		e.mu.Lock()
		wait := e.remote != nil && e.ch == nil && e.err == nil && !e.closed
		e.mu.Unlock()
		if wait {
			n.tryConnect(e)
		}
	}
}

// pair connects offerer o and answerer a if they match (see Apply).
func (n *Network) pair(o, a *endpoint) bool {
	if o == a {
		return false
	}
	o.mu.Lock()
	oRemote, oFree, oOffers := o.remote, o.ch == nil && o.err == nil && !o.closed, o.offerer
	o.mu.Unlock()
	a.mu.Lock()
	aRemote, aFree, aOffers := a.remote, a.ch == nil && a.err == nil && !a.closed, a.offerer
	a.mu.Unlock()
	if !oOffers || aOffers || oRemote == nil || aRemote == nil || !oFree || !aFree {
		return false
	}
	if oRemote.ICEUfrag != a.ufrag || oRemote.ICEPwd != a.pwd || aRemote.ICEUfrag != o.ufrag || aRemote.ICEPwd != o.pwd {
		return false // connectivity checks fail
	}
	names := func(d *invite.ConnDesc, addr netip.AddrPort) bool {
		for _, c := range d.Candidates {
			if c.Addr == addr {
				return true
			}
		}
		return false
	}
	if !names(oRemote, a.addr) && !names(aRemote, o.addr) {
		return false // neither can reach the other
	}
	oSees := oRemote.Fingerprint == sha256.Sum256(a.cert[:])
	aSees := aRemote.Fingerprint == sha256.Sum256(o.cert[:])
	switch {
	case !oSees:
		o.fail(link.ErrCertificateMismatch)
		if aSees {
			a.fail(fmt.Errorf("%w: %w", link.ErrConnectFailed, link.ErrHandshakeFailed))
		} else {
			a.fail(link.ErrCertificateMismatch)
		}
		return true
	case !aSees:
		a.fail(link.ErrCertificateMismatch)
		o.fail(fmt.Errorf("%w: %w", link.ErrConnectFailed, link.ErrHandshakeFailed))
		return true
	}
	oc, ac := n.newChannelPair(o.cfg)
	oc.local, oc.remote, ac.local, ac.remote = o.addr, a.addr, a.addr, o.addr
	o.open(oc)
	a.open(ac)
	return true
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
	if e.net.endpoints[e.addr] == e {
		delete(e.net.endpoints, e.addr)
	}
	e.net.mu.Unlock()
	if ch != nil {
		ch.Close()
	}
	return nil
}
