//go:build js && wasm

package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall/js"
	"time"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/internal/qr"
	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/link"
	"github.com/sp2p/sp2p/session"
)

// browserWorkFactor is the scrypt work factor of identity files this build
// writes with a passphrase: the CLI's (2^18, 256 MiB), so a file moves
// between them with the same protection.
const browserWorkFactor = 18

// gatherTimeout bounds the gathering of candidates.
const gatherTimeout = 30 * time.Second

type bridge struct {
	h handles
	// link, when set (tests), is the link sessions run over instead of
	// the browser's RTCPeerConnection.
	link link.Maker
}

// holder is an identity handle: the identity one SP2P object of the page
// uses (a page may load several, from different databases).
type holder struct {
	mu   sync.Mutex
	id   *identity.Identity
	prot identity.Protection
}

func (k *holder) set(id *identity.Identity, prot identity.Protection) {
	k.mu.Lock()
	k.id, k.prot = id, prot
	k.mu.Unlock()
}

func (k *holder) get() *identity.Identity {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.id
}

func newBridge() *bridge { return &bridge{} }

func (b *bridge) methods() map[string]js.Func {
	return map[string]js.Func{
		"version":   syncFn(func([]js.Value) (any, error) { return version(), nil }),
		"peerInfo":  syncFn(func(a []js.Value) (any, error) { return peerInfoOf(str(arg(a, 0))) }),
		"checkName": syncFn(func(a []js.Value) (any, error) { return nil, checkName(str(arg(a, 0))) }),
		"tokenText": syncFn(func(a []js.Value) (any, error) { return tokenText(str(arg(a, 0))), nil }),

		"identityLoad":          asyncFn(noToken, b.identityLoad),
		"identityImport":        asyncFn(noToken, b.identityImport),
		"identitySetPassphrase": asyncFn(noToken, b.identitySetPassphrase),

		"inviteCreate":  asyncFn(noToken, b.inviteCreate),
		"inviteAnswer":  asyncFn(answerToken, b.inviteAnswer),
		"inviteClose":   syncFn(b.inviteClose),
		"answerConnect": asyncFn(answerToken, b.answerConnect),
		"answerRefuse":  asyncFn(answerToken, b.answerRefuse),

		"accept":      asyncFn(offerToken, b.accept),
		"acceptWait":  asyncFn(offerToken, b.acceptWait),
		"acceptClose": syncFn(b.acceptClose),
		"offerInfo":   syncFn(b.offerInfo),

		"sessionSend":   asyncFn(noToken, b.sessionSend),
		"sessionListen": syncFn(b.sessionListen),
		"sessionFlow":   syncFn(b.sessionFlow),
		"sessionStats":  syncFn(b.sessionStats),
		"sessionClose":  asyncFn(noToken, b.sessionClose),

		"sendFiles":    asyncFn(noToken, b.sendFiles),
		"receiveFiles": asyncFn(noToken, b.receiveFiles),

		"groupNew":       syncFn(b.groupNew),
		"groupAdd":       syncFn(b.groupAdd),
		"groupBroadcast": asyncFn(noToken, b.groupBroadcast),
		"groupPeers":     syncFn(b.groupPeers),
		"groupClose":     asyncFn(noToken, b.groupClose),
	}
}

// identity returns the identity of the handle v.
func (b *bridge) identity(v js.Value) (*identity.Identity, error) {
	k, err := getHandle[*holder](&b.h, v)
	if err != nil {
		return nil, err
	}
	return k.get(), nil
}

// peerInfo is PeerInfo without the known-peer fields, which sp2p.js adds.
func peerInfo(id identity.ID) map[string]any {
	return map[string]any{"id": id.String(), "fingerprint": id.Fingerprint()}
}

func peerInfoOf(s string) (any, error) {
	id, err := parseID(s)
	if err != nil {
		return nil, err
	}
	return peerInfo(id), nil
}

func parseID(s string) (identity.ID, error) {
	id, err := identity.ParseID(s)
	if err != nil {
		return id, invalid(fmt.Sprintf("%q is not an sp2p ID (sp2p1…): %v", s, err), err)
	}
	return id, nil
}

func checkName(s string) error {
	if err := identity.CheckPeerName(s); err != nil {
		return invalid(fmt.Sprintf("a peer's name is 1 to %d letters, digits, '.', '_' or '-', not starting with '-'", identity.MaxPeerNameLen), err)
	}
	return nil
}

func identityInfo(id *identity.Identity, prot identity.Protection) map[string]any {
	return map[string]any{"id": id.ID().String(), "fingerprint": id.ID().Fingerprint(), "protected": prot == identity.Passphrase}
}

// await waits for a JavaScript Promise (from a goroutine, never from the
// event loop).
func await(p js.Value) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	ch := make(chan result, 1)
	then := js.FuncOf(func(_ js.Value, a []js.Value) any { ch <- result{v: arg(a, 0)}; return nil })
	catch := js.FuncOf(func(_ js.Value, a []js.Value) any {
		msg := "rejected"
		if e := arg(a, 0); !e.IsUndefined() && !e.IsNull() {
			msg = js.Global().Get("String").Invoke(e).String()
		}
		ch <- result{err: errors.New(msg)}
		return nil
	})
	defer then.Release()
	defer catch.Release()
	js.Global().Get("Promise").Call("resolve", p).Call("then", then, catch)
	r := <-ch
	return r.v, r.err
}

// identityLoad(file: Uint8Array|null, ask: () => Promise<string>):
// loads the stored identity file, asking for its passphrase if it has
// one, or generates an identity when there is none; it resolves to the
// IdentityInfo plus, for a new identity, the file to store.
func (b *bridge) identityLoad(a []js.Value) (any, error) {
	file, err := bytesFrom(arg(a, 0))
	if err != nil {
		return nil, err
	}
	ask := arg(a, 1)
	if len(file) == 0 {
		id, err := identity.Generate()
		if err != nil {
			return nil, err
		}
		data, err := identity.Marshal(id, identity.SaveOptions{InsecureUnencrypted: true})
		if err != nil {
			return nil, err
		}
		defer clear(data)
		info := identityInfo(id, identity.Unprotected)
		info["file"] = bytesTo(data)
		info["h"] = b.h.add(&holder{id: id, prot: identity.Unprotected})
		return info, nil
	}
	defer clear(file)
	id, prot, err := identity.Unmarshal(file, func() ([]byte, error) {
		if ask.Type() != js.TypeFunction {
			return nil, fmt.Errorf("identity: %w (load() was given no passphrase function)", identity.ErrNoPassphrase)
		}
		v, err := await(ask.Invoke())
		if err != nil {
			return nil, fmt.Errorf("identity: %w (%v)", identity.ErrNoPassphrase, err)
		}
		return []byte(str(v)), nil
	})
	if err != nil {
		return nil, err
	}
	info := identityInfo(id, prot)
	info["h"] = b.h.add(&holder{id: id, prot: prot})
	return info, nil
}

// identityImport(h, file: Uint8Array, passphrase?: string) reads an
// identity file from the CLI and makes it the identity of handle h.
func (b *bridge) identityImport(a []js.Value) (any, error) {
	k, err := getHandle[*holder](&b.h, arg(a, 0))
	if err != nil {
		return nil, err
	}
	file, err := bytesFrom(arg(a, 1))
	if err != nil {
		return nil, err
	}
	defer clear(file)
	pass := str(arg(a, 2))
	id, prot, err := identity.Unmarshal(file, func() ([]byte, error) {
		if pass == "" {
			return nil, fmt.Errorf("identity: %w", identity.ErrNoPassphrase)
		}
		return []byte(pass), nil
	})
	if err != nil {
		return nil, err
	}
	k.set(id, prot)
	return identityInfo(id, prot), nil
}

// identitySetPassphrase(h, passphrase: string) resolves to the identity
// file protected with passphrase (or unprotected for ""), to store.
func (b *bridge) identitySetPassphrase(a []js.Value) (any, error) {
	k, err := getHandle[*holder](&b.h, arg(a, 0))
	if err != nil {
		return nil, err
	}
	id := k.get()
	pass := str(arg(a, 1))
	opts := identity.SaveOptions{InsecureUnencrypted: true}
	prot := identity.Unprotected
	if pass != "" {
		opts = identity.SaveOptions{Passphrase: []byte(pass), ScryptWorkFactor: browserWorkFactor}
		prot = identity.Passphrase
	}
	data, err := identity.Marshal(id, opts)
	if err != nil {
		return nil, err
	}
	defer clear(data)
	k.set(id, prot)
	info := identityInfo(id, prot)
	info["file"] = bytesTo(data)
	return info, nil
}

// tokenText turns what was pasted or opened into token text for the
// invite package: an http(s) link gives its fragment (the invite package
// reads https links itself; a page on localhost is served over http).
func tokenText(s string) string {
	t := strings.TrimSpace(s)
	low := strings.ToLower(t)
	if strings.HasPrefix(low, "http://") || strings.HasPrefix(low, "https://") {
		if i := strings.IndexByte(t, '#'); i >= 0 {
			return t[i+1:]
		}
	}
	return t
}

// iceServers reads RTCIceServer[].
func iceServers(v js.Value) ([]session.ICEServer, error) {
	if v.IsUndefined() || v.IsNull() {
		return nil, nil
	}
	if !js.Global().Get("Array").Call("isArray", v).Bool() {
		return nil, invalid("iceServers must be an array of RTCIceServer", nil)
	}
	var out []session.ICEServer
	for i := 0; i < v.Length(); i++ {
		s := v.Index(i)
		var urls []string
		switch u := s.Get("urls"); {
		case u.Type() == js.TypeString:
			urls = []string{u.String()}
		case !u.IsUndefined() && js.Global().Get("Array").Call("isArray", u).Bool():
			for j := 0; j < u.Length(); j++ {
				urls = append(urls, str(u.Index(j)))
			}
		default:
			return nil, invalid("an RTCIceServer has no urls", nil)
		}
		out = append(out, session.ICEServer{URLs: urls, Username: str(s.Get("username")), Credential: str(s.Get("credential"))})
	}
	return out, nil
}

// invitation is an Invitation handle.
type invitation struct {
	b       *bridge
	h       int
	inv     *session.Invitation
	purpose string
	expires time.Time
	ctx     context.Context
	cancel  context.CancelFunc

	mu        sync.Mutex
	connected bool
	answered  bool
	pending   *pendingAnswer // the answer read, until connected or refused
}

// pendingAnswer is a PendingAnswer handle.
type pendingAnswer struct {
	inv *invitation
	h   int
	a   *invite.Answer

	mu   sync.Mutex
	used bool
}

func (b *bridge) inviteCreate(a []js.Value) (any, error) {
	id, err := b.identity(arg(a, 0))
	if err != nil {
		return nil, err
	}
	o := arg(a, 1)
	var opts session.Options
	purpose := purposeChat
	if o.Type() == js.TypeObject {
		if purpose, err = parsePurpose(str(o.Get("purpose"))); err != nil {
			return nil, err
		}
		if l := o.Get("lifetime"); !l.IsUndefined() && !l.IsNull() {
			if l.Type() != js.TypeNumber {
				return nil, invalid("lifetime is a number of seconds", nil)
			}
			d := time.Duration(l.Float() * float64(time.Second))
			if d < invite.MinLifetime || d > invite.MaxLifetime {
				return nil, invalid(fmt.Sprintf("lifetime %v s is out of range: %v to %v", l.Float(), invite.MinLifetime.Seconds(), invite.MaxLifetime.Seconds()), nil)
			}
			opts.Lifetime = d
		}
		if to := str(o.Get("to")); to != "" {
			if opts.Recipient, err = parseID(to); err != nil {
				return nil, err
			}
		}
		if opts.ICEServers, err = iceServers(o.Get("iceServers")); err != nil {
			return nil, err
		}
	}
	opts.Link = b.link
	setPurpose(&opts, purpose)
	gctx, gcancel := context.WithTimeout(context.Background(), gatherTimeout)
	defer gcancel()
	inv, err := session.Invite(gctx, id, opts)
	if err != nil {
		return nil, err
	}
	svg, err := qr.SVG(inv.Token())
	if err != nil {
		inv.Close()
		return nil, err
	}
	x := &invitation{b: b, inv: inv, purpose: purpose, expires: inv.Offer().Expires()}
	x.ctx, x.cancel = context.WithDeadline(context.Background(), x.expires.Add(time.Minute))
	x.h = b.h.add(x)
	// An invitation nobody answered lets its connection go when it
	// expires; the handle stays, so that a late answer is told it expired.
	time.AfterFunc(time.Until(x.expires), func() {
		x.mu.Lock()
		done := x.connected || x.answered
		x.mu.Unlock()
		if !done {
			x.inv.Close()
		}
	})
	return map[string]any{
		"h": x.h, "token": inv.Token(), "qrSVG": svg,
		"expires": float64(x.expires.UnixMilli()), "purpose": purpose,
	}, nil
}

func (x *invitation) close() {
	x.cancel()
	x.inv.Close()
	x.b.h.drop(x.h)
	x.mu.Lock()
	p := x.pending
	x.mu.Unlock()
	if p != nil {
		x.b.h.drop(p.h)
	}
}

func (b *bridge) inviteClose(a []js.Value) (any, error) {
	x, err := getHandle[*invitation](&b.h, arg(a, 0))
	if err != nil {
		return nil, nil // closed already
	}
	x.mu.Lock()
	connected := x.connected
	x.mu.Unlock()
	if connected {
		return nil, nil
	}
	x.mu.Lock()
	p := x.pending
	x.mu.Unlock()
	if p != nil && p.take() == nil {
		// An invitee that already answered is told at once that this side
		// gave up; one that did not answer is left to the expiry.
		b.h.drop(p.h)
		go func() {
			ctx, cancel := context.WithTimeout(x.ctx, 30*time.Second)
			defer cancel()
			x.inv.Refuse(ctx, p.a, session.GaveUp)
			x.close()
		}()
		return nil, nil
	}
	x.close()
	return nil, nil
}

func (b *bridge) inviteAnswer(a []js.Value) (any, error) {
	x, err := getHandle[*invitation](&b.h, arg(a, 0))
	if err != nil {
		return nil, err
	}
	ans, err := x.inv.ReadAnswer(tokenText(str(arg(a, 1))))
	if err != nil {
		return nil, err
	}
	p := &pendingAnswer{inv: x, a: ans}
	p.h = b.h.add(p)
	x.mu.Lock()
	x.answered = true
	x.pending = p
	x.mu.Unlock()
	return map[string]any{"h": p.h, "peer": peerInfo(ans.Answerer)}, nil
}

func (p *pendingAnswer) take() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.used {
		return &apiError{Code: "already-used", Message: "this answer was connected or refused already", Detail: "sp2p: pending answer used"}
	}
	p.used = true
	return nil
}

func (b *bridge) answerConnect(a []js.Value) (any, error) {
	p, err := getHandle[*pendingAnswer](&b.h, arg(a, 0))
	if err != nil {
		return nil, err
	}
	if err := p.take(); err != nil {
		return nil, err
	}
	b.h.drop(arg(a, 0).Int())
	x := p.inv
	x.mu.Lock()
	x.connected = true
	x.mu.Unlock()
	s, err := x.inv.Connect(x.ctx, p.a)
	b.h.drop(x.h)
	if err != nil {
		x.inv.Close()
		return nil, err
	}
	return b.newSession(s, x.purpose, true), nil
}

func (b *bridge) answerRefuse(a []js.Value) (any, error) {
	p, err := getHandle[*pendingAnswer](&b.h, arg(a, 0))
	if err != nil {
		return nil, err
	}
	if err := p.take(); err != nil {
		return nil, err
	}
	b.h.drop(arg(a, 0).Int())
	x := p.inv
	x.mu.Lock()
	x.connected = true // the invitation is used up
	x.mu.Unlock()
	ctx, cancel := context.WithTimeout(x.ctx, 30*time.Second)
	defer cancel()
	err = x.inv.Refuse(ctx, p.a, session.Refused)
	x.close()
	return nil, err
}

// acceptance is an Acceptance handle.
type acceptance struct {
	b       *bridge
	h       int
	acc     *session.Acceptance
	offer   *invite.Offer
	purpose string
	ctx     context.Context
	cancel  context.CancelFunc

	mu     sync.Mutex
	opened bool
}

// offerInfo(token) reads an offer without accepting it: who it is from,
// its purpose and expiry (for a tab's announcement).
func (b *bridge) offerInfo(a []js.Value) (any, error) {
	o, err := invite.ParseOffer(tokenText(str(arg(a, 0))))
	if err != nil {
		return nil, classify(err, offerToken)
	}
	purpose, err := offerPurpose(o)
	if err != nil {
		return nil, classify(err, offerToken)
	}
	return map[string]any{"peer": peerInfo(o.Inviter), "purpose": purpose, "expires": float64(o.Expires().UnixMilli())}, nil
}

func (b *bridge) accept(a []js.Value) (any, error) {
	id, err := b.identity(arg(a, 0))
	if err != nil {
		return nil, err
	}
	offer, err := invite.ParseOffer(tokenText(str(arg(a, 1))))
	if err != nil {
		return nil, err
	}
	purpose, err := offerPurpose(offer)
	if err != nil {
		return nil, err
	}
	var opts session.Options
	if o := arg(a, 2); o.Type() == js.TypeObject {
		if e := str(o.Get("expect")); e != "" {
			if opts.Expect, err = parseID(e); err != nil {
				return nil, err
			}
		}
		if opts.ICEServers, err = iceServers(o.Get("iceServers")); err != nil {
			return nil, err
		}
	}
	opts.Link = b.link
	gctx, gcancel := context.WithTimeout(context.Background(), gatherTimeout)
	defer gcancel()
	acc, err := session.Accept(gctx, id, offer, opts)
	if err != nil {
		return nil, err
	}
	x := &acceptance{b: b, acc: acc, offer: offer, purpose: purpose}
	x.ctx, x.cancel = context.WithCancel(context.Background())
	x.h = b.h.add(x)
	return map[string]any{
		"h": x.h, "answerToken": acc.Token(), "peer": peerInfo(offer.Inviter),
		"purpose": x.purpose, "safetyCode": acc.SafetyCode(), "expires": float64(offer.Expires().UnixMilli()),
	}, nil
}

func (b *bridge) acceptWait(a []js.Value) (any, error) {
	x, err := getHandle[*acceptance](&b.h, arg(a, 0))
	if err != nil {
		return nil, err
	}
	s, err := x.acc.Wait(x.ctx)
	b.h.drop(x.h)
	if err != nil {
		x.acc.Close()
		return nil, err
	}
	x.mu.Lock()
	x.opened = true
	x.mu.Unlock()
	return b.newSession(s, x.purpose, false), nil
}

func (b *bridge) acceptClose(a []js.Value) (any, error) {
	x, err := getHandle[*acceptance](&b.h, arg(a, 0))
	if err != nil {
		return nil, nil
	}
	x.mu.Lock()
	opened := x.opened
	x.mu.Unlock()
	if !opened {
		x.cancel()
		x.acc.Close()
	}
	return nil, nil
}
