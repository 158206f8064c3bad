//go:build js

package session

// The browser's link: pion's js/wasm build drives the browser's own
// RTCPeerConnection. It has none of the native SettingEngine's options
// (the browser chooses its ICE credentials, timeouts, socket buffers and
// SCTP settings) and no detached channel with deadlines, so this file
// reads messages from onmessage into a bounded queue, in order, and makes
// writes wait on bufferedAmount with the bufferedamountlow event
// (backpressure).

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall/js"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/link"
)

// Browser channel limits.
const (
	// jsSendHigh is how much the browser may buffer for sending before
	// writes wait; they go on when it falls to jsSendLow.
	jsSendHigh = 1 << 20
	jsSendLow  = 256 << 10
	// jsRecvQueue bounds what arrived and was not read yet. The browser
	// cannot pause a data channel, so a peer that sends past it (the
	// session reads as fast as the peer's budget allows) ends the channel.
	jsRecvQueue = 16 << 20
)

// errRecvOverflow ends a browser channel whose peer sent more than the
// receive queue holds.
var errRecvOverflow = fmt.Errorf("%w (the browser's data channel cannot hold the peer back; 16 MiB queued)", ErrReceiveOverflow)

type jsLink struct {
	pc        *webrtc.PeerConnection
	dc        *webrtc.DataChannel
	opened    chan struct{}
	failed    chan struct{}
	failOnce  sync.Once
	openOnce  sync.Once
	connected atomic.Bool
	onNetwork func(link.Event)
	ch        *jsChannel
	ufrag     string // the ICE credentials derived from the token's ephemeral key
	pwd       string
}

var _ link.Link = (*jsLink)(nil)

func pionLink(opts *Options) link.Maker {
	return func(cfg link.Config) (link.Link, error) { return newJSLink(opts, cfg) }
}

func newJSLink(opts *Options, cfg link.Config) (*jsLink, error) {
	var servers []webrtc.ICEServer
	for _, s := range opts.ICEServers {
		servers = append(servers, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	conf := webrtc.Configuration{ICEServers: servers}
	if opts.RelayOnly {
		conf.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	pc, err := webrtc.NewPeerConnection(conf)
	if err != nil {
		return nil, fmt.Errorf("session: creating the peer connection: %w", err)
	}
	l := &jsLink{pc: pc, opened: make(chan struct{}), failed: make(chan struct{}), onNetwork: cfg.OnNetwork, ufrag: cfg.ICEUfrag, pwd: cfg.ICEPwd}
	negotiated, id := true, uint16(0)
	ordered := !cfg.Channel.Unordered
	init := &webrtc.DataChannelInit{Negotiated: &negotiated, ID: &id, Ordered: &ordered}
	if cfg.Channel.PartialReliability {
		mr := uint16(cfg.Channel.MaxRetransmits)
		init.MaxRetransmits = &mr
	}
	dc, err := pc.CreateDataChannel("sp2p", init)
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("session: creating the data channel: %w", err)
	}
	l.dc = dc
	l.ch = newJSChannel(l)
	dc.OnOpen(func() { l.openOnce.Do(func() { close(l.opened) }) })
	dc.OnClose(func() { l.ch.fail(io.EOF) })
	pc.OnDataChannel(func(extra *webrtc.DataChannel) { extra.Close() })
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateClosed {
			l.fail()
			l.ch.fail(io.EOF)
		}
	})
	var down atomic.Bool
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		switch s {
		case webrtc.ICEConnectionStateConnected, webrtc.ICEConnectionStateCompleted:
			l.connected.Store(true)
			if down.CompareAndSwap(true, false) && l.onNetwork != nil {
				l.onNetwork(link.Recovered)
			}
		case webrtc.ICEConnectionStateDisconnected:
			if isClosed(l.opened) && down.CompareAndSwap(false, true) && l.onNetwork != nil {
				l.onNetwork(link.Interrupted)
			}
		}
	})
	if cfg.ConnectTimeout > 0 {
		time.AfterFunc(cfg.ConnectTimeout, func() {
			if !isClosed(l.opened) {
				l.fail()
			}
		})
	}
	return l, nil
}

func (l *jsLink) fail() { l.failOnce.Do(func() { close(l.failed) }) }

func (l *jsLink) gather(ctx context.Context, desc webrtc.SessionDescription) (*invite.ConnDesc, error) {
	// The browser chose its own ICE credentials; tokens carry none, so
	// the description is set with the derived ones (browsers accept this
	// change of a local description).
	desc.SDP = withICECredentials(desc.SDP, l.ufrag, l.pwd)
	return gatherLocal(ctx, l.pc, desc, "check the network, or configure a STUN or TURN server")
}

func (l *jsLink) setRemote(typ webrtc.SDPType, d *invite.ConnDesc) error {
	return applyRemote(l.pc, typ, d)
}

func (l *jsLink) Offer(ctx context.Context) (*invite.ConnDesc, error) { return offerDesc(ctx, l) }

func (l *jsLink) Answer(ctx context.Context, offer *invite.ConnDesc) (*invite.ConnDesc, error) {
	return answerDesc(ctx, l, offer)
}

func (l *jsLink) peerConnection() *webrtc.PeerConnection { return l.pc }

func (l *jsLink) Apply(answer *invite.ConnDesc) error {
	return l.setRemote(webrtc.SDPTypeAnswer, answer)
}

// Open waits for the data channel. The browser checks the peer's DTLS
// fingerprint against the signed token but does not say why a handshake
// failed, so a mismatch is reported as a DTLS failure after ICE.
func (l *jsLink) Open(ctx context.Context) (link.Channel, error) {
	select {
	case <-l.opened:
		return l.ch, nil
	case <-l.failed:
		if l.connected.Load() {
			return nil, fmt.Errorf("%w: %w", link.ErrConnectFailed, link.ErrHandshakeFailed)
		}
		return nil, link.ErrConnectFailed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (l *jsLink) Close() error {
	l.ch.fail(io.EOF)
	return l.pc.Close()
}

// jsChannel is the browser data channel as a link.Channel.
type jsChannel struct {
	l *jsLink

	mu       sync.Mutex
	cond     *sync.Cond
	queue    [][]byte
	queued   int
	err      error // set once: reads drain the queue, then return it
	deadline time.Time
	onMsg    js.Func
	release  sync.Once
}

func newJSChannel(l *jsLink) *jsChannel {
	c := &jsChannel{l: l}
	c.cond = sync.NewCond(&c.mu)
	// Our own onmessage: pion's js OnMessage hands each message to a new
	// goroutine, which does not keep their order. This copies the bytes
	// in the callback, in order, and never blocks the browser's event
	// loop.
	dc := l.dc.JSValue()
	dc.Set("binaryType", "arraybuffer")
	c.onMsg = js.FuncOf(func(this js.Value, args []js.Value) any {
		data := args[0].Get("data")
		if data.Type() == js.TypeString {
			c.fail(fmt.Errorf("%w: a text message on the channel", ErrProtocol))
			return nil
		}
		arr := js.Global().Get("Uint8Array").New(data)
		b := make([]byte, arr.Get("length").Int())
		js.CopyBytesToGo(b, arr)
		c.push(b)
		return nil
	})
	dc.Set("onmessage", c.onMsg)
	l.dc.SetBufferedAmountLowThreshold(jsSendLow)
	l.dc.OnBufferedAmountLow(func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	return c
}

func (c *jsChannel) push(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	if c.queued+len(b) > jsRecvQueue {
		c.err = errRecvOverflow
		c.queue, c.queued = nil, 0
		c.cond.Broadcast()
		go c.l.pc.Close()
		return
	}
	c.queue = append(c.queue, b)
	c.queued += len(b)
	c.cond.Broadcast()
}

func (c *jsChannel) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.cond.Broadcast()
	c.mu.Unlock()
}

func (c *jsChannel) ReadMessage(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.queue) == 0 && c.err == nil {
		c.cond.Wait()
	}
	if len(c.queue) == 0 {
		return 0, c.err
	}
	b := c.queue[0]
	c.queue[0] = nil
	c.queue = c.queue[1:]
	c.queued -= len(b)
	if len(b) > len(p) {
		return 0, io.ErrShortBuffer
	}
	return copy(p, b), nil
}

func (c *jsChannel) WriteMessage(p []byte) error {
	_, err := c.write(p, false)
	return err
}

// TryWriteMessage sends p only if the browser's send buffer is below its
// high mark now (link.TryWriter).
func (c *jsChannel) TryWriteMessage(p []byte) (bool, error) {
	return c.write(p, true)
}

// write sends p once the send buffer is below its high mark, waiting for
// that unless try is set (then it reports false and sends nothing).
func (c *jsChannel) write(p []byte, try bool) (bool, error) {
	c.mu.Lock()
	for {
		if c.err != nil {
			err := c.err
			c.mu.Unlock()
			if err == io.EOF {
				return false, io.ErrClosedPipe
			}
			return false, err
		}
		if !c.deadline.IsZero() && !time.Now().Before(c.deadline) {
			c.mu.Unlock()
			return false, fmt.Errorf("session: write: %w", os.ErrDeadlineExceeded)
		}
		if c.l.dc.BufferedAmount() <= jsSendHigh {
			break
		}
		if try {
			c.mu.Unlock()
			return false, nil
		}
		c.cond.Wait()
	}
	c.mu.Unlock()
	if err := c.l.dc.Send(p); err != nil {
		return false, err
	}
	return true, nil
}

func (c *jsChannel) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	if !t.IsZero() {
		time.AfterFunc(time.Until(t), func() {
			c.mu.Lock()
			c.cond.Broadcast()
			c.mu.Unlock()
		})
	}
	return nil
}

func (c *jsChannel) Close() error {
	c.fail(io.EOF)
	c.release.Do(func() {
		c.l.dc.JSValue().Set("onmessage", js.Null())
		c.onMsg.Release()
	})
	return c.l.pc.Close()
}

// nativeAnchors: the browser's link keeps nothing for a session (no
// link anchor), so sessions in a browser do not resume.
const nativeAnchors = false
