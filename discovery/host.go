//go:build !js

package discovery

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// Host announces an offer on the LAN and serves it to whoever proves one of
// its keys. Answers arrive on Answers. Announcing stops at Close, when the
// context given to NewHost ends, or after Config.Lifetime.
type Host struct {
	n       *node
	p       HostParams
	answers chan []byte
	cancel  context.CancelFunc
	done    chan struct{}

	// loop goroutine only:
	sent      map[[NonceSize]byte]sentBeacon
	order     [][NonceSize]byte
	exchanges map[[NonceSize]byte]*hostExchange
	xorder    [][NonceSize]byte
	codeUsed  bool
	rounds    int    // rounds of beacons sent
	lastEpoch uint32 // the epoch of the last round
	wrongOnce sync.Once
}

type sentBeacon struct {
	key   int // index into p.Keys
	epoch uint32
}

type hostExchange struct {
	from     netip.AddrPort
	keys     *exchangeKeys
	code     bool
	resp     []byte // code: the RESP, sent again for a repeated INIT
	proven   bool   // known peer, or code confirmed
	failed   bool   // code: the confirmation was wrong or late
	answered bool
	began    time.Time
}

// Bounds of a host's memory.
const (
	maxSentBeacons = 64
	maxExchanges   = 32
	// codeAttemptTimeout is how long a started code attempt may take to
	// confirm before it counts as failed.
	codeAttemptTimeout = 15 * time.Second
)

// NewHost opens the sockets, sends the first beacons and waits (at most
// Config.CheckTimeout) for them to come back from the group: when they do
// not, or cannot be sent, it returns ErrMulticastBlocked.
func NewHost(ctx context.Context, cfg Config, p HostParams) (*Host, error) {
	if len(p.Offer) < 1 || len(p.Offer) > MaxToken {
		return nil, fmt.Errorf("discovery: offer of %d bytes, want 1 to %d", len(p.Offer), MaxToken)
	}
	if len(p.Keys) == 0 || len(p.Keys) > MaxKeys {
		return nil, fmt.Errorf("discovery: %d keys to announce, want 1 to %d", len(p.Keys), MaxKeys)
	}
	codes := 0
	for _, k := range p.Keys {
		if k.isCode() {
			codes++
		}
	}
	if codes > 1 {
		return nil, errors.New("discovery: at most one short code per host")
	}
	n, err := openNode(cfg)
	if err != nil {
		return nil, err
	}
	h := &Host{n: n, p: p, answers: make(chan []byte, 4), done: make(chan struct{}),
		sent: map[[NonceSize]byte]sentBeacon{}, exchanges: map[[NonceSize]byte]*hostExchange{}}
	if err := h.checkLoop(ctx); err != nil {
		n.close()
		return nil, err
	}
	lctx, cancel := context.WithTimeout(context.Background(), n.cfg.Lifetime)
	h.cancel = cancel
	stop := context.AfterFunc(ctx, cancel)
	go func() {
		defer close(h.done)
		defer stop()
		h.loop(lctx)
	}()
	return h, nil
}

// Answers delivers the answer tokens (binary) that arrived sealed under
// one of the host's keys; the caller checks them as any answer.
func (h *Host) Answers() <-chan []byte { return h.answers }

// Close stops announcing and serving.
func (h *Host) Close() error {
	if h.cancel != nil {
		h.cancel()
		<-h.done
	}
	h.n.close()
	for _, x := range h.exchanges {
		x.keys.erase()
	}
	for i := range h.p.Keys {
		h.p.Keys[i].erase()
	}
	return nil
}

// checkLoop sends the first round of beacons and waits for one to come
// back from the group.
func (h *Host) checkLoop(ctx context.Context) error {
	nonces, err := h.beaconRound()
	if err != nil {
		return err
	}
	t := time.NewTimer(h.n.cfg.CheckTimeout)
	defer t.Stop()
	for {
		select {
		case in := <-h.n.in:
			if in.group && in.p.typ == typeBeacon && nonces[in.p.nonce] {
				return nil
			}
			h.handle(in)
		case <-t.C:
			return fmt.Errorf("%w: this host's beacon did not come back from the group (%v, %v, port %d) within %v", ErrMulticastBlocked, h.n.cfg.Group, h.n.cfg.Group6, h.n.cfg.Port, h.n.cfg.CheckTimeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// beaconRound sends one beacon per key still announced, each with a fresh
// nonce, and returns the nonces.
func (h *Host) beaconRound() (map[[NonceSize]byte]bool, error) {
	nonces := map[[NonceSize]byte]bool{}
	epoch := h.n.cfg.epochNow()
	if h.rounds > 0 && epoch != h.lastEpoch {
		h.n.rotate() // a new epoch, a new UDP port
	}
	h.rounds++
	h.lastEpoch = epoch
	for i := range h.p.Keys {
		k := &h.p.Keys[i]
		if k.isCode() && h.codeUsed {
			continue
		}
		b := &packet{typ: typeBeacon, epoch: epoch}
		if _, err := rand.Read(b.nonce[:]); err != nil {
			return nil, err
		}
		b.tag = k.beaconTag(epoch, b.nonce)
		if err := h.n.multicast(b.encode()); err != nil {
			return nil, err
		}
		h.remember(b.nonce, sentBeacon{key: i, epoch: epoch})
		nonces[b.nonce] = true
	}
	return nonces, nil
}

func (h *Host) remember(nonce [NonceSize]byte, s sentBeacon) {
	if len(h.order) >= maxSentBeacons {
		delete(h.sent, h.order[0])
		h.order = h.order[1:]
	}
	h.sent[nonce] = s
	h.order = append(h.order, nonce)
}

// loop announces with backoff (1, 2, 4, 8, 16 s, then every 30 s; a probe
// from a seeker brings the next round forward, at most once a second) and
// serves requests.
func (h *Host) loop(ctx context.Context) {
	gap := time.Second
	next := time.NewTimer(gap)
	defer next.Stop()
	// A code attempt that does not confirm in time is told within a
	// second of its deadline, whatever else happens (or not).
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastRound := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case in, ok := <-h.n.in:
			if !ok {
				return
			}
			if in.group && in.p.typ == typeProbe && time.Since(lastRound) >= time.Second {
				h.round()
				lastRound = time.Now()
				continue
			}
			h.handle(in)
		case <-next.C:
			h.round()
			lastRound = time.Now()
			gap = min(2*gap, maxBeaconGap)
			next.Reset(gap)
		}
		h.expireCodeAttempt()
	}
}

func (h *Host) round() {
	if _, err := h.beaconRound(); err != nil {
		h.n.cfg.Logger.Debug("discovery: beacon not sent", "err", err)
	}
}

// handle serves one request. Every reply is at most as large as the
// request that caused it.
func (h *Host) handle(in inbound) {
	if in.group {
		return
	}
	var reply []byte
	switch in.p.typ {
	case typeFetch:
		reply = h.fetch(in)
	case typeInit:
		reply = h.initCode(in)
	case typeConfirm:
		reply = h.confirm(in)
	case typeAnswer:
		reply = h.answer(in)
	}
	if reply == nil {
		return
	}
	if len(reply) > in.size {
		h.n.cfg.Logger.Error("discovery: a reply larger than its request was not sent", "reply", len(reply), "request", in.size)
		return
	}
	h.n.reply(reply, in)
}

// fresh reports whether a beacon nonce is one this host sent for a key
// of the wanted kind within the last two epochs.
func (h *Host) fresh(nonce [NonceSize]byte, code bool) (*Key, bool) {
	s, ok := h.sent[nonce]
	if !ok {
		return nil, false
	}
	k := &h.p.Keys[s.key]
	now := h.n.cfg.epochNow()
	return k, k.isCode() == code && now-s.epoch <= 2
}

func (h *Host) addExchange(xid [NonceSize]byte, x *hostExchange) {
	if len(h.xorder) >= maxExchanges {
		if old := h.exchanges[h.xorder[0]]; old != nil {
			old.keys.erase()
		}
		delete(h.exchanges, h.xorder[0])
		h.xorder = h.xorder[1:]
	}
	h.exchanges[xid] = x
	h.xorder = append(h.xorder, xid)
}

func (h *Host) fetch(in inbound) []byte {
	k, ok := h.fresh(in.p.nonce, false)
	if !ok {
		return nil
	}
	want := k.fetchMAC(in.p.nonce, in.p.xid)
	if subtle.ConstantTimeCompare(want[:], in.p.mac[:]) != 1 {
		h.n.limit.Violation(in.from.Addr())
		return nil
	}
	x := h.exchanges[in.p.xid]
	if x == nil {
		x = &hostExchange{from: in.from, keys: k.peerExchange(in.p.nonce, in.p.xid), proven: true, began: time.Now()}
		h.addExchange(in.p.xid, x)
	}
	b, err := sealToken(typeOffer, &x.keys.offer, in.p.xid, h.p.Offer)
	if err != nil {
		return nil
	}
	return b
}

func (h *Host) answer(in inbound) []byte {
	x := h.exchanges[in.p.xid]
	if x == nil || !x.proven {
		return nil
	}
	token, err := openToken(in.p, &x.keys.answer)
	if err != nil {
		h.n.limit.Violation(in.from.Addr())
		return nil
	}
	if !x.answered {
		x.answered = true
		select {
		case h.answers <- token:
		default:
		}
	}
	ack := &packet{typ: typeAck, xid: in.p.xid, mac: x.keys.ackMAC(in.p.xid)}
	return ack.encode()
}

// wrongCode reports a failed code attempt once.
func (h *Host) wrongCode() {
	h.wrongOnce.Do(func() {
		if h.p.OnWrongCode != nil {
			go h.p.OnWrongCode()
		}
	})
}

// expireCodeAttempt counts a code attempt that did not confirm in time
// as failed.
func (h *Host) expireCodeAttempt() {
	for _, x := range h.exchanges {
		if x.code && !x.proven && !x.failed && time.Since(x.began) > codeAttemptTimeout {
			x.failed = true
			h.wrongCode()
		}
	}
}
