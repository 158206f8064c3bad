//go:build !js

package discovery

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// Exchange is a seeker's exchange with the host it found: the offer that
// came, and the way back for the answer.
type Exchange struct {
	// Offer is the host's offer token (binary), to be checked by the
	// caller as any offer.
	Offer []byte
	// From is the host's address.
	From netip.AddrPort

	n    *node
	xid  [NonceSize]byte
	mu   sync.Mutex // guards keys against Close
	keys *exchangeKeys
}

// seek is a seeker's attempt with one host.
type seek struct {
	host   netip.AddrPort
	xid    [NonceSize]byte
	bnonce [NonceSize]byte
	req    []byte // the request to send again until its reply comes
	tries  int
	pk     pake   // code: CPace
	msg    []byte // code: this side's CPace message
	keys   *exchangeKeys
}

// Seeker timing: a request is sent again after requestRetry, at most
// maxTries times, before the seeker waits for another beacon; probes ask
// hosts for beacons at start and then with backoff up to maxProbeGap.
const (
	requestRetry = 500 * time.Millisecond
	maxTries     = 8
	maxProbeGap  = 15 * time.Second
)

// Find looks on the LAN for a host announcing key and returns once its
// offer has arrived. It returns ErrMulticastBlocked within
// Config.CheckTimeout when its own probe does not come back from the
// group, ErrWrongCode when key is a short code that the host's does not
// match (the code is used up), and ctx's error when ctx ends first.
func Find(ctx context.Context, cfg Config, key Key) (ex *Exchange, err error) {
	if key.isCode() && newPAKE == nil {
		return nil, errNoPAKE
	}
	n, err := openNode(cfg)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			n.close()
		}
	}()
	probe := &packet{typ: typeProbe}
	rand.Read(probe.nonce[:])
	if err := n.multicast(probe.encode()); err != nil {
		return nil, err
	}
	checked := false
	check := time.NewTimer(n.cfg.CheckTimeout)
	defer check.Stop()
	probeGap := 2 * time.Second
	probes := time.NewTimer(probeGap)
	defer probes.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	var cur *seek
	defer func() {
		if err != nil && cur != nil {
			cur.erase()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-check.C:
			if !checked {
				return nil, fmt.Errorf("%w: this host's probe did not come back from the group (%v, %v, port %d) within %v", ErrMulticastBlocked, n.cfg.Group, n.cfg.Group6, n.cfg.Port, n.cfg.CheckTimeout)
			}
		case <-probes.C:
			p := &packet{typ: typeProbe}
			rand.Read(p.nonce[:])
			n.multicast(p.encode())
			probeGap = min(2*probeGap, maxProbeGap)
			probes.Reset(probeGap)
		case <-retry.C:
			if cur == nil {
				continue
			}
			if cur.tries++; cur.tries >= maxTries {
				cur.erase()
				cur = nil // the host is gone: wait for a beacon
				continue
			}
			n.unicast(cur.req, cur.host)
			retry.Reset(requestRetry)
		case in := <-n.in:
			if in.group {
				if in.p.typ == typeProbe && in.p.nonce == probe.nonce || in.p.typ == typeBeacon {
					checked = true
				}
				if in.p.typ == typeBeacon && cur == nil && key.matches(in.p, n.cfg.epochNow()) {
					if cur, err = startSeek(&key, in); err != nil {
						return nil, err
					}
					n.unicast(cur.req, cur.host)
					retry.Reset(requestRetry)
				}
				continue
			}
			if cur == nil || in.from != cur.host || in.p.xid != cur.xid {
				continue
			}
			switch in.p.typ {
			case typeOffer:
				if cur.keys == nil {
					continue
				}
				offer, err := openToken(in.p, &cur.keys.offer)
				if err != nil {
					continue
				}
				return &Exchange{Offer: offer, From: cur.host, n: n, xid: cur.xid, keys: cur.keys}, nil
			case typeResp:
				if !key.isCode() || cur.keys != nil {
					continue
				}
				isk, _, err := cur.pk.Finish(in.p.msg)
				if err != nil {
					continue // not from the host's CPace: a forgery, or noise
				}
				cur.keys = schedule(isk, codeTranscript(cur.bnonce, cur.xid, cur.msg, in.p.msg), true)
				clear(isk)
				// The confirmation goes back either way, so that the host
				// learns at once of a wrong code.
				cur.req = (&packet{typ: typeConfirm, xid: cur.xid, mac: cur.keys.confirmSeek}).encode()
				if subtle.ConstantTimeCompare(cur.keys.confirmHost[:], in.p.mac[:]) != 1 {
					n.unicast(cur.req, cur.host)
					cur.erase()
					return nil, ErrWrongCode
				}
				cur.tries = 0
				n.unicast(cur.req, cur.host)
				retry.Reset(requestRetry)
			}
		}
	}
}

func startSeek(k *Key, in inbound) (*seek, error) {
	s := &seek{host: in.from, bnonce: in.p.nonce}
	if _, err := rand.Read(s.xid[:]); err != nil {
		return nil, err
	}
	if !k.isCode() {
		s.keys = k.peerExchange(s.bnonce, s.xid)
		s.req = (&packet{typ: typeFetch, nonce: s.bnonce, xid: s.xid, mac: k.fetchMAC(s.bnonce, s.xid)}).encode()
		return s, nil
	}
	pk, err := newPAKE(true, k.prs, cpaceSID(s.bnonce, s.xid))
	if err != nil {
		return nil, err
	}
	s.pk = pk
	msg := pk.Message()
	s.msg = msg
	if len(msg) > MaxCPaceMessage {
		return nil, fmt.Errorf("discovery: CPace message of %d bytes", len(msg))
	}
	s.req = (&packet{typ: typeInit, nonce: s.bnonce, xid: s.xid, msg: msg}).encode()
	return s, nil
}

func (s *seek) erase() {
	if s.pk != nil {
		s.pk.Erase()
	}
	if s.keys != nil {
		s.keys.erase()
	}
}

// SendAnswer sends the answer token (binary) to the host, sealed, and
// waits for the host's acknowledgement, sending again every half second,
// until ctx ends.
func (e *Exchange) SendAnswer(ctx context.Context, answer []byte) error {
	e.mu.Lock()
	if e.keys == nil {
		e.mu.Unlock()
		return ErrClosed
	}
	b, err := sealToken(typeAnswer, &e.keys.answer, e.xid, answer)
	want := e.keys.ackMAC(e.xid)
	e.mu.Unlock()
	if err != nil {
		return err
	}
	t := time.NewTicker(requestRetry)
	defer t.Stop()
	e.n.unicast(b, e.From)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			e.n.unicast(b, e.From)
		case in, ok := <-e.n.in:
			if !ok {
				return ErrClosed
			}
			if !in.group && in.p.typ == typeAck && in.from == e.From && in.p.xid == e.xid &&
				subtle.ConstantTimeCompare(want[:], in.p.mac[:]) == 1 {
				return nil
			}
		}
	}
}

// Close ends the exchange and erases its keys.
func (e *Exchange) Close() error {
	e.n.close()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.keys != nil {
		e.keys.erase()
		e.keys = nil
	}
	return nil
}
