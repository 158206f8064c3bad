//go:build js && wasm

package main

import (
	"bytes"
	"context"
	"strings"
	"syscall/js"
	"testing"
	"time"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/internal/memlink"
	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/session"
)

var testNet = memlink.New(7, memlink.Faults{})

// testPeer is a bridge with a new identity, on the in-memory network.
type testPeer struct {
	*bridge
	idh  js.Value // the identity's handle
	self string   // its ID
}

func newTestBridge(t *testing.T) *testPeer {
	t.Helper()
	b := newBridge()
	b.link = testNet.Maker()
	info, err := b.identityLoad(nil)
	if err != nil {
		t.Fatal(err)
	}
	m := info.(map[string]any)
	return &testPeer{bridge: b, idh: js.ValueOf(m["h"]), self: m["id"].(string)}
}

func obj(kv map[string]any) js.Value { return js.ValueOf(kv) }

// mustOf returns a function that fails t on an error and returns the value.
func mustOf(t *testing.T) func(any, error) any {
	return func(v any, err error) any {
		t.Helper()
		if err != nil {
			t.Fatalf("%v (%s)", err, classify(err, noToken).Code)
		}
		return v
	}
}

// The identity file round trip: generated, stored, loaded again; then
// protected with a passphrase, loaded with it, refused with a wrong one.
func TestIdentityThroughBridge(t *testing.T) {
	must := mustOf(t)
	b := newBridge()
	info := must(b.identityLoad(nil)).(map[string]any)
	file, err := bytesFrom(info["file"].(js.Value))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(file, []byte("sp2p-identity v1")) || info["protected"] != false {
		t.Fatalf("new identity: %v\n%s", info, file)
	}
	b2 := newBridge()
	info2 := must(b2.identityLoad([]js.Value{bytesTo(file)})).(map[string]any)
	if info2["id"] != info["id"] {
		t.Fatalf("reloaded %v, want %v", info2["id"], info["id"])
	}
	// The CLI reads the same bytes.
	id, prot, err := identity.Unmarshal(file, nil)
	if err != nil || id.ID().String() != info["id"] || prot != identity.Unprotected {
		t.Fatalf("identity.Unmarshal: %v %v", err, prot)
	}

	// A lower work factor keeps the test fast; the format is the same.
	enc, err := identity.Marshal(id, identity.SaveOptions{Passphrase: []byte("pw"), ScryptWorkFactor: 10})
	if err != nil {
		t.Fatal(err)
	}
	ask := func(p string) js.Value {
		return js.FuncOf(func(js.Value, []js.Value) any {
			return js.Global().Get("Promise").Call("resolve", p)
		}).Value
	}
	b3 := newBridge()
	got := must(b3.identityLoad([]js.Value{bytesTo(enc), ask("pw")})).(map[string]any)
	if got["id"] != info["id"] || got["protected"] != true {
		t.Fatalf("protected file: %v", got)
	}
	if _, err := b3.identityLoad([]js.Value{bytesTo(enc), ask("nope")}); classify(err, noToken).Code != "bad-passphrase" {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if _, err := b3.identityLoad([]js.Value{bytesTo(enc)}); classify(err, noToken).Code != "bad-passphrase" {
		t.Fatalf("no passphrase function: %v", err)
	}
	h3 := js.ValueOf(got["h"])
	if _, err := b3.identityImport([]js.Value{h3, bytesTo(enc), js.ValueOf("pw")}); err != nil {
		t.Fatal(err)
	}
	if _, err := b3.identityImport([]js.Value{h3, bytesTo([]byte("junk"))}); classify(err, noToken).Code != "malformed" {
		t.Fatalf("junk import: %v", err)
	}
}

type listener struct {
	msgs   chan [2]any
	closed chan js.Value
	fns    []js.Func
}

func listen(t *testing.T, b *testPeer, h js.Value) *listener {
	must := mustOf(t)
	l := &listener{msgs: make(chan [2]any, 16), closed: make(chan js.Value, 2)}
	onMsg := js.FuncOf(func(_ js.Value, a []js.Value) any {
		data, _ := bytesFrom(a[0])
		var text any
		if a[1].Type() == js.TypeString {
			text = a[1].String()
		}
		l.msgs <- [2]any{data, text}
		return nil
	})
	onClose := js.FuncOf(func(_ js.Value, a []js.Value) any { l.closed <- a[0]; return nil })
	l.fns = []js.Func{onMsg, onClose}
	t.Cleanup(func() {
		for _, f := range l.fns {
			f.Release()
		}
	})
	must(b.sessionListen([]js.Value{h, onMsg.Value, onClose.Value}))
	return l
}

func (l *listener) next(t *testing.T) [2]any {
	t.Helper()
	select {
	case m := <-l.msgs:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message")
	}
	return [2]any{}
}

// connect runs the whole handshake through the bridges' methods, as
// sp2p.js calls them, and returns both sessions' handles.
func connect(t *testing.T, a, b *testPeer) (ha, hb js.Value, sa, sb map[string]any) {
	t.Helper()
	return connectFor(t, a, b, "chat")
}

// connectFor is connect with an invitation for purpose.
func connectFor(t *testing.T, a, b *testPeer, purpose string) (ha, hb js.Value, sa, sb map[string]any) {
	t.Helper()
	must := mustOf(t)
	inv := must(a.inviteCreate([]js.Value{a.idh, obj(map[string]any{"lifetime": 60, "purpose": purpose})})).(map[string]any)
	if !strings.HasPrefix(inv["qrSVG"].(string), "<svg") || inv["purpose"] != purpose {
		t.Fatalf("invitation: %v", inv)
	}
	link := "http://localhost:8080/#" + inv["token"].(string)
	info := must(b.offerInfo([]js.Value{js.ValueOf(link)})).(map[string]any)
	if info["peer"].(map[string]any)["id"] != a.self || info["purpose"] != purpose {
		t.Fatalf("offerInfo: %v", info)
	}
	acc := must(b.accept([]js.Value{b.idh, js.ValueOf(link)})).(map[string]any)
	if acc["purpose"] != purpose {
		t.Fatalf("acceptance for %v, want %s", acc["purpose"], purpose)
	}
	waited := make(chan map[string]any, 1)
	go func() {
		s, err := b.acceptWait([]js.Value{js.ValueOf(acc["h"])})
		if err != nil {
			t.Error(err)
		}
		m, _ := s.(map[string]any)
		waited <- m
	}()
	// A bad answer leaves the invitation open.
	if _, err := a.inviteAnswer([]js.Value{js.ValueOf(inv["h"]), js.ValueOf("SP2P:AAAA")}); classify(err, answerToken).Code != "malformed" {
		t.Fatalf("bad answer: %v", err)
	}
	pa := must(a.inviteAnswer([]js.Value{js.ValueOf(inv["h"]), js.ValueOf(acc["answerToken"])})).(map[string]any)
	if pa["peer"].(map[string]any)["id"] != b.self {
		t.Fatalf("pending answer: %v", pa)
	}
	sa = must(a.answerConnect([]js.Value{js.ValueOf(pa["h"])})).(map[string]any)
	sb = <-waited
	if sa["purpose"] != purpose || sb["purpose"] != purpose {
		t.Fatalf("sessions for %v and %v, want %s", sa["purpose"], sb["purpose"], purpose)
	}
	if sa["safetyCode"] != sb["safetyCode"] || sa["safetyCode"] != acc["safetyCode"] {
		t.Fatalf("safety codes %v %v %v", sa["safetyCode"], sb["safetyCode"], acc["safetyCode"])
	}
	return js.ValueOf(sa["h"]), js.ValueOf(sb["h"]), sa, sb
}

func TestChatThroughBridge(t *testing.T) {
	must := mustOf(t)
	a, b := newTestBridge(t), newTestBridge(t)
	ha, hb, _, _ := connect(t, a, b)
	la, lb := listen(t, a, ha), listen(t, b, hb)

	// Nothing is handed over until the page listens (sessionFlow).
	must(a.sessionSend([]js.Value{ha, js.ValueOf("early")}))
	select {
	case m := <-lb.msgs:
		t.Fatalf("message before sessionFlow: %v", m)
	case <-time.After(200 * time.Millisecond):
	}
	must(b.sessionFlow([]js.Value{hb, js.ValueOf(true)}))
	if m := lb.next(t); m[1] != "early" {
		t.Fatalf("got %v", m)
	}
	must(a.sessionSend([]js.Value{ha, bytesTo([]byte{0xff, 0})}))
	if m := lb.next(t); !bytes.Equal(m[0].([]byte), []byte{0xff, 0}) || m[1] != nil {
		t.Fatalf("binary message: %v", m)
	}
	must(a.sessionFlow([]js.Value{ha, js.ValueOf(true)}))
	must(b.sessionSend([]js.Value{hb, js.ValueOf("héllo")}))
	if m := la.next(t); m[1] != "héllo" {
		t.Fatalf("got %v", m)
	}
	st := must(a.sessionStats([]js.Value{ha})).(map[string]any)
	if st["bytesSent"].(float64) < 7 {
		t.Errorf("stats %v", st)
	}

	// A clean close is null on both sides.
	must(a.sessionClose([]js.Value{ha}))
	for _, l := range []*listener{la, lb} {
		select {
		case e := <-l.closed:
			if !e.IsNull() {
				t.Errorf("onClose(%v), want null", js.Global().Get("JSON").Call("stringify", e))
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no onClose")
		}
	}
	if _, err := b.sessionSend([]js.Value{hb, js.ValueOf("late")}); classify(err, noToken).Code != "closed" {
		t.Errorf("send after close: %v", err)
	}
}

func TestRefuseThroughBridge(t *testing.T) {
	must := mustOf(t)
	a, b := newTestBridge(t), newTestBridge(t)
	inv := must(a.inviteCreate([]js.Value{a.idh})).(map[string]any)
	acc := must(b.accept([]js.Value{b.idh, js.ValueOf(inv["token"])})).(map[string]any)
	waited := make(chan error, 1)
	go func() {
		_, err := b.acceptWait([]js.Value{js.ValueOf(acc["h"])})
		waited <- err
	}()
	pa := must(a.inviteAnswer([]js.Value{js.ValueOf(inv["h"]), js.ValueOf(acc["answerToken"])})).(map[string]any)
	if _, err := a.inviteAnswer([]js.Value{js.ValueOf(inv["h"]), js.ValueOf(acc["answerToken"])}); classify(err, answerToken).Code != "replayed" {
		t.Errorf("the same answer again: %v", err)
	}
	must(a.answerRefuse([]js.Value{js.ValueOf(pa["h"])}))
	if err := <-waited; classify(err, offerToken).Code != "refused" {
		t.Fatalf("invitee's wait: %v", err)
	}
}

func TestGroupThroughBridge(t *testing.T) {
	must := mustOf(t)
	hub := newTestBridge(t)
	var peers []*testPeer
	var listeners []*listener
	var hubSessions, peerSessions []js.Value
	var hubListeners []*listener
	for range 3 {
		p := newTestBridge(t)
		h, hp, _, _ := connect(t, hub, p)
		l := listen(t, p, hp)
		must(p.sessionFlow([]js.Value{hp, js.ValueOf(true)}))
		peers, listeners, hubSessions = append(peers, p), append(listeners, l), append(hubSessions, h)
		peerSessions = append(peerSessions, hp)
	}
	got := make(chan string, 8)
	onMsg := js.FuncOf(func(_ js.Value, a []js.Value) any { got <- a[0].String() + " " + a[2].String(); return nil })
	defer onMsg.Release()
	g := js.ValueOf(must(hub.groupNew([]js.Value{onMsg.Value})))
	for _, h := range hubSessions {
		hubListeners = append(hubListeners, listen(t, hub, h))
		must(hub.groupAdd([]js.Value{g, h}))
	}
	if _, err := hub.groupAdd([]js.Value{g, hubSessions[0]}); err == nil {
		t.Error("a session added twice")
	}
	if n := len(must(hub.groupPeers([]js.Value{g})).([]any)); n != 3 {
		t.Errorf("%d peers", n)
	}
	for i := range 3 {
		must(hub.groupBroadcast([]js.Value{g, js.ValueOf("to all " + string(rune('0'+i)))}))
	}
	for _, l := range listeners {
		for i := range 3 {
			if m := l.next(t); m[1] != "to all "+string(rune('0'+i)) {
				t.Fatalf("got %v", m)
			}
		}
	}
	// A peer that ends leaves the group: its session's onClose is called.
	must(peers[1].sessionSend([]js.Value{peerSessions[1], js.ValueOf("to the hub")}))
	select {
	case m := <-got:
		if m != peers[1].self+" to the hub" {
			t.Errorf("group message %q", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no group message")
	}
	must(peers[1].sessionClose([]js.Value{peerSessions[1]}))
	select {
	case e := <-hubListeners[1].closed:
		if !e.IsNull() {
			t.Errorf("onClose(%v), want null", js.Global().Get("JSON").Call("stringify", e))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no onClose for a member that left")
	}
	must(hub.groupBroadcast([]js.Value{g, js.ValueOf("after")}))
	if n := len(must(hub.groupPeers([]js.Value{g})).([]any)); n != 2 {
		t.Errorf("%d peers after one left", n)
	}
	must(hub.groupClose([]js.Value{g}))
	for _, i := range []int{0, 2} {
		select {
		case <-hubListeners[i].closed:
		case <-time.After(10 * time.Second):
			t.Fatal("no onClose at the group's close")
		}
	}
}

// An answer that comes after the invitation expired is told so, not that
// the invitation is gone.
func TestLateAnswer(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a 10-second invitation to expire")
	}
	must := mustOf(t)
	a, b := newTestBridge(t), newTestBridge(t)
	inv := must(a.inviteCreate([]js.Value{a.idh, obj(map[string]any{"lifetime": 10})})).(map[string]any)
	acc := must(b.accept([]js.Value{b.idh, js.ValueOf(inv["token"])})).(map[string]any)
	time.Sleep(time.Until(time.UnixMilli(int64(inv["expires"].(float64)))) + 300*time.Millisecond)
	_, err := a.inviteAnswer([]js.Value{js.ValueOf(inv["h"]), js.ValueOf(acc["answerToken"])})
	if e := classify(err, answerToken); e.Code != "expired" || !strings.Contains(e.Message, "make a new one") {
		t.Errorf("late answer: %+v", e)
	}
	if _, err := b.accept([]js.Value{b.idh, js.ValueOf(inv["token"])}); classify(err, offerToken).Code != "expired" {
		t.Errorf("late accept: %v", err)
	}
	must(a.inviteClose([]js.Value{js.ValueOf(inv["h"])}))
	must(b.acceptClose([]js.Value{js.ValueOf(acc["h"])}))
}

// A token for a byte stream (sp2p invite --pipe) is refused: a page has no
// stream.
func TestStreamTokenRefused(t *testing.T) {
	a := newTestBridge(t)
	inv, err := session.Invite(context.Background(), identityOf(t), session.Options{Link: testNet.Maker(), Purpose: invite.PurposeStream})
	if err != nil {
		t.Fatal(err)
	}
	defer inv.Close()
	_, err = a.accept([]js.Value{a.idh, js.ValueOf(inv.Token())})
	if e := classify(err, offerToken); e.Code != "wrong-purpose" || !strings.Contains(e.Message, "stream") {
		t.Errorf("stream token: %+v", e)
	}
	if _, err := a.offerInfo([]js.Value{js.ValueOf(inv.Token())}); classify(err, offerToken).Code != "wrong-purpose" {
		t.Errorf("offerInfo of a stream token: %v", err)
	}
}

func identityOf(t *testing.T) *identity.Identity {
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Closing an invitation whose answer was read but not decided tells the
// invitee at once that the inviter gave up.
func TestCloseAfterAnswer(t *testing.T) {
	must := mustOf(t)
	a, b := newTestBridge(t), newTestBridge(t)
	inv := must(a.inviteCreate([]js.Value{a.idh})).(map[string]any)
	acc := must(b.accept([]js.Value{b.idh, js.ValueOf(inv["token"])})).(map[string]any)
	waited := make(chan error, 1)
	go func() {
		_, err := b.acceptWait([]js.Value{js.ValueOf(acc["h"])})
		waited <- err
	}()
	pa := must(a.inviteAnswer([]js.Value{js.ValueOf(inv["h"]), js.ValueOf(acc["answerToken"])})).(map[string]any)
	must(a.inviteClose([]js.Value{js.ValueOf(inv["h"])}))
	select {
	case err := <-waited:
		if c := classify(err, offerToken).Code; c != "peer-gave-up" {
			t.Errorf("invitee's wait: %v (%s)", err, c)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the invitee was not told")
	}
	if _, err := a.answerConnect([]js.Value{js.ValueOf(pa["h"])}); classify(err, answerToken).Code != "closed" {
		t.Errorf("connect after close: %v", err)
	}
}
