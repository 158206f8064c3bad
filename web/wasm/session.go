//go:build js && wasm

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall/js"
	"unicode/utf8"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/session"
)

// jsSession is a Session handle. Its pump reads messages for the page
// only while the page listens (sessionFlow), so a page that has not set
// onMessage yet leaves them in the session's queue and the peer is held
// back, as on the CLI; a group or a file transfer takes the reading over.
type jsSession struct {
	b       *bridge
	h       int
	s       *session.Session
	purpose string
	inviter bool

	mu        sync.Mutex
	flowing   bool
	owner     string // "": the pump reads; "group" or "files" own the session's messages
	wake      chan struct{}
	cancelRcv context.CancelFunc // cancels the pump's Receive in progress
	inRecv    chan struct{}      // closed when the pump's Receive in progress returns
	onMessage js.Value
	onClose   js.Value
	listening bool
	closeOnce sync.Once
}

func (b *bridge) newSession(s *session.Session, purpose string, inviter bool) map[string]any {
	x := &jsSession{b: b, s: s, purpose: purpose, inviter: inviter, wake: make(chan struct{}, 1)}
	x.h = b.h.add(x)
	return map[string]any{"h": x.h, "peer": peerInfo(s.Peer()), "safetyCode": s.SafetyCode(), "purpose": purpose}
}

func (x *jsSession) poke() {
	select {
	case x.wake <- struct{}{}:
	default:
	}
}

// sessionListen(h, onMessage(data, text), onClose(err|null)) starts the
// pump; sp2p.js calls it once, with its own callbacks (which never throw).
func (b *bridge) sessionListen(a []js.Value) (any, error) {
	x, err := getHandle[*jsSession](&b.h, arg(a, 0))
	if err != nil {
		return nil, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.listening {
		return nil, nil
	}
	x.listening = true
	x.onMessage, x.onClose = arg(a, 1), arg(a, 2)
	go x.pump()
	return nil, nil
}

// sessionFlow(h, on) starts or stops handing messages to the page.
func (b *bridge) sessionFlow(a []js.Value) (any, error) {
	x, err := getHandle[*jsSession](&b.h, arg(a, 0))
	if err != nil {
		return nil, err
	}
	// A session for files carries the transfer's stream, no messages.
	on := arg(a, 1).Truthy() && x.purpose != purposeFiles
	x.mu.Lock()
	x.flowing = on
	if !on && x.cancelRcv != nil {
		x.cancelRcv()
	}
	x.mu.Unlock()
	x.poke()
	return nil, nil
}

// takeOver stops the pump's reading for good: a group or a transfer reads
// the session from now on. It returns when the pump is out of Receive.
func (x *jsSession) takeOver(owner string) error {
	x.mu.Lock()
	if x.owner != "" {
		x.mu.Unlock()
		return &apiError{Code: "internal", Message: "this session is in use by a " + x.owner, Detail: "sp2p: session owned by " + x.owner}
	}
	x.owner = owner
	if x.cancelRcv != nil {
		x.cancelRcv()
	}
	inRecv := x.inRecv
	x.mu.Unlock()
	x.poke()
	if inRecv != nil {
		<-inRecv
	}
	return nil
}

// giveBack returns the session to the pump after a transfer.
func (x *jsSession) giveBack() {
	x.mu.Lock()
	x.owner = ""
	x.mu.Unlock()
	x.poke()
}

func (x *jsSession) pump() {
	for {
		x.mu.Lock()
		if x.flowing && x.owner == "" {
			ctx, cancel := context.WithCancel(context.Background())
			inRecv := make(chan struct{})
			x.cancelRcv, x.inRecv = cancel, inRecv
			x.mu.Unlock()
			m, err := x.s.Receive(ctx)
			x.mu.Lock()
			x.cancelRcv, x.inRecv = nil, nil
			x.mu.Unlock()
			close(inRecv)
			cancel()
			switch {
			case err == nil:
				x.deliver(m)
			case errors.Is(err, context.Canceled):
				// Stopped by sessionFlow or takeOver.
			case errors.Is(err, io.EOF):
				// The peer ended its sending (Close, or the CLI's
				// CloseWrite when its input ends). The page's API has
				// no half-open session: this side closes too, cleanly.
				x.s.Close()
				x.ended(nil)
				return
			default:
				x.ended(err)
				return
			}
			continue
		}
		grouped := x.owner == "group"
		x.mu.Unlock()
		if grouped {
			return // the group reports the end
		}
		select {
		case <-x.wake:
		case <-x.s.Done():
			// Ended while the pump did not read (nobody listened, or a
			// file transfer had the session): reported now. While the
			// page listens, the loop above delivers what is queued first.
			x.mu.Lock()
			reading := x.flowing && x.owner == ""
			x.mu.Unlock()
			if !reading {
				x.ended(x.s.Err())
				return
			}
		}
	}
}

func (x *jsSession) deliver(m []byte) {
	var text any
	if utf8.Valid(m) {
		text = string(m)
	}
	x.onMessage.Invoke(bytesTo(m), text)
}

// ended reports the end of the session to the page, once: null for a
// clean close by either side.
func (x *jsSession) ended(err error) {
	x.closeOnce.Do(func() {
		v := js.Null()
		if !cleanEnd(err) {
			v = errorValue(err, noToken)
		}
		stats := x.stats()
		x.b.h.drop(x.h)
		if x.onClose.Type() == js.TypeFunction {
			x.onClose.Invoke(v, stats)
		}
		x.onClose = js.Undefined()
	})
}

func cleanEnd(err error) bool {
	return err == nil || errors.Is(err, io.EOF) || errors.Is(err, session.ErrClosed) ||
		(errors.Is(err, session.ErrPeerClosed) && !errors.Is(err, session.ErrRefused) && !errors.Is(err, session.ErrPeerGaveUp))
}

func (b *bridge) sessionSend(a []js.Value) (any, error) {
	x, err := getHandle[*jsSession](&b.h, arg(a, 0))
	if err != nil {
		return nil, err
	}
	if x.purpose == purposeFiles {
		return nil, fmt.Errorf("%w: a session for files carries the transfer, no messages", errWrongPurpose)
	}
	m, err := message(arg(a, 1))
	if err != nil {
		return nil, err
	}
	return nil, x.s.Send(context.Background(), m)
}

// message reads send's argument: a string (as UTF-8) or bytes.
func message(v js.Value) ([]byte, error) {
	if v.Type() == js.TypeString {
		return []byte(v.String()), nil
	}
	if v.IsUndefined() || v.IsNull() {
		return nil, invalid("send takes a string or a Uint8Array", nil)
	}
	return bytesFrom(v)
}

func (b *bridge) sessionStats(a []js.Value) (any, error) {
	x, err := getHandle[*jsSession](&b.h, arg(a, 0))
	if err != nil {
		return nil, err
	}
	return x.stats(), nil
}

func (x *jsSession) stats() map[string]any {
	st := x.s.Stats()
	return map[string]any{
		"rttMs":         float64(st.RTT.Microseconds()) / 1000,
		"bytesSent":     float64(st.BytesSent),
		"bytesReceived": float64(st.BytesReceived),
	}
}

func (b *bridge) sessionClose(a []js.Value) (any, error) {
	x, err := getHandle[*jsSession](&b.h, arg(a, 0))
	if err != nil {
		return nil, nil
	}
	x.s.Close()
	x.mu.Lock()
	listening := x.listening
	x.mu.Unlock()
	if !listening {
		x.ended(nil)
	}
	x.poke()
	return nil, nil
}

func (x *jsSession) peer() identity.ID { return x.s.Peer() }
