//go:build linux

package discovery

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"os"
	"runtime"
	"testing"
	"time"
)

func testConfig() Config {
	c := Config{Port: DefaultPort, Epoch: time.Second, CheckTimeout: 2 * time.Second}
	if os.Getenv("SP2P_TEST_DEBUG") != "" {
		c.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return c
}

func secret(t *testing.T) []byte {
	b := make([]byte, SecretSize)
	rand.Read(b)
	return b
}

// Two known peers find each other: the offer arrives, the answer goes
// back, both exactly.
func TestKnownPeersFindEachOther(t *testing.T) {
	t.Parallel()
	if !inNetns(t, multicastLo) {
		return
	}
	before := runtime.NumGoroutine()
	defer func() { // every goroutine of the host and the seeker ends at Close
		for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > before; {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				t.Fatalf("%d goroutines left:\n%s", runtime.NumGoroutine()-before, buf[:runtime.Stack(buf, true)])
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	s := secret(t)
	kh, _ := PeerKey(s)
	ks, _ := PeerKey(s)
	offer := bytes.Repeat([]byte{0xA5}, MaxToken)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h, err := NewHost(ctx, testConfig(), HostParams{Offer: offer, Keys: []Key{kh}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ex, err := Find(ctx, testConfig(), ks)
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	if !bytes.Equal(ex.Offer, offer) {
		t.Fatal("the offer differs")
	}
	// The answer comes a few epochs later (a person confirming): the
	// host has moved its beacons to new ports meanwhile, and still gets it.
	time.Sleep(3500 * time.Millisecond)
	answer := []byte("the answer token")
	if err := ex.SendAnswer(ctx, answer); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-h.Answers():
		if !bytes.Equal(got, answer) {
			t.Fatalf("answer %q", got)
		}
	case <-ctx.Done():
		t.Fatal("no answer")
	}
}

// A seeker with another secret finds nothing, and the host gets nothing.
func TestOtherSecretFindsNothing(t *testing.T) {
	t.Parallel()
	if !inNetns(t, multicastLo) {
		return
	}
	kh, _ := PeerKey(secret(t))
	ks, _ := PeerKey(secret(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h, err := NewHost(ctx, testConfig(), HostParams{Offer: []byte("offer"), Keys: []Key{kh}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	fctx, fcancel := context.WithTimeout(ctx, 4*time.Second)
	defer fcancel()
	if ex, err := Find(fctx, testConfig(), ks); !errors.Is(err, context.DeadlineExceeded) {
		if ex != nil {
			ex.Close()
		}
		t.Fatalf("Find with another secret: %v, want the deadline", err)
	}
}

// Without an interface that can multicast, both sides say so at once.
func TestNoMulticastInterface(t *testing.T) {
	t.Parallel()
	if !inNetns(t, "") {
		return
	}
	k, _ := PeerKey(secret(t))
	ctx := context.Background()
	if _, err := NewHost(ctx, testConfig(), HostParams{Offer: []byte("o"), Keys: []Key{k}}); !errors.Is(err, ErrMulticastBlocked) {
		t.Fatalf("NewHost: %v", err)
	}
	if _, err := Find(ctx, testConfig(), k); !errors.Is(err, ErrMulticastBlocked) {
		t.Fatalf("Find: %v", err)
	}
}

// Multicast dropped by the firewall: both sides say so within the check
// timeout.
func TestMulticastDroppedByFirewall(t *testing.T) {
	t.Parallel()
	if !inNetns(t, multicastLo+"\nnft add table inet t && nft add chain inet t in '{ type filter hook input priority 0; }' && nft add rule inet t in ip daddr 224.0.0.0/4 drop && nft add rule inet t in ip6 daddr ff00::/8 drop") {
		return
	}
	k, _ := PeerKey(secret(t))
	ctx := context.Background()
	began := time.Now()
	if _, err := NewHost(ctx, testConfig(), HostParams{Offer: []byte("o"), Keys: []Key{k}}); !errors.Is(err, ErrMulticastBlocked) {
		t.Fatalf("NewHost: %v", err)
	}
	if _, err := Find(ctx, testConfig(), k); !errors.Is(err, ErrMulticastBlocked) {
		t.Fatalf("Find: %v", err)
	}
	if d := time.Since(began); d > 10*time.Second {
		t.Fatalf("took %v", d)
	}
}

func codeKeys(t *testing.T, code, lookup string) Key {
	k, err := CodeKey([]byte(code), []byte(lookup))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// A short code: the right code gets the offer and takes the answer back,
// under keys from CPace.
func TestCodeRightCode(t *testing.T) {
	t.Parallel()
	if !inNetns(t, multicastLo) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	offer := []byte("offer under a code")
	h, err := NewHost(ctx, testConfig(), HostParams{Offer: offer, Keys: []Key{codeKeys(t, "7-right-code", "7")},
		OnWrongCode: func() { t.Error("a right code was reported as wrong") }})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ex, err := Find(ctx, testConfig(), codeKeys(t, "7-right-code", "7"))
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	if !bytes.Equal(ex.Offer, offer) {
		t.Fatal("offer differs")
	}
	if err := ex.SendAnswer(ctx, []byte("answer")); err != nil {
		t.Fatal(err)
	}
	if got := <-h.Answers(); string(got) != "answer" {
		t.Fatalf("answer %q", got)
	}
}

// A wrong code (the same channel, other words) fails on both sides at
// once, and uses the code up: the right code then finds nothing.
func TestCodeWrongGuessUsesItUp(t *testing.T) {
	t.Parallel()
	if !inNetns(t, multicastLo) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	wrong := make(chan struct{})
	h, err := NewHost(ctx, testConfig(), HostParams{Offer: []byte("offer"), Keys: []Key{codeKeys(t, "7-right-code", "7")},
		OnWrongCode: func() { close(wrong) }})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if ex, err := Find(ctx, testConfig(), codeKeys(t, "7-wrong-guess", "7")); !errors.Is(err, ErrWrongCode) {
		if ex != nil {
			ex.Close()
		}
		t.Fatalf("wrong code: %v", err)
	}
	select {
	case <-wrong:
	case <-time.After(5 * time.Second):
		t.Fatal("the host was not told of the wrong code")
	}
	fctx, fcancel := context.WithTimeout(ctx, 5*time.Second)
	defer fcancel()
	if ex, err := Find(fctx, testConfig(), codeKeys(t, "7-right-code", "7")); !errors.Is(err, context.DeadlineExceeded) {
		if ex != nil {
			ex.Close()
		}
		t.Fatalf("the right code after a wrong guess: %v, want nothing found", err)
	}
}

// A stranger who saw a beacon and sends a FETCH without the key's proof
// (or an INIT for a known peer's beacon) gets no reply at all.
func TestForgedFetchIgnored(t *testing.T) {
	t.Parallel()
	if !inNetns(t, multicastLo) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	k, _ := PeerKey(secret(t))
	h, err := NewHost(ctx, testConfig(), HostParams{Offer: []byte("offer"), Keys: []Key{k}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	n, err := openNode(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer n.close()
	probe := &packet{typ: typeProbe}
	rand.Read(probe.nonce[:])
	n.multicast(probe.encode())
	var beacon inbound
	for beacon.p == nil {
		select {
		case in := <-n.in:
			if in.group && in.p.typ == typeBeacon {
				beacon = in
			}
		case <-ctx.Done():
			t.Fatal("no beacon seen")
		}
	}
	forged := &packet{typ: typeFetch, nonce: beacon.p.nonce}
	rand.Read(forged.xid[:])
	rand.Read(forged.mac[:])
	initp := &packet{typ: typeInit, nonce: beacon.p.nonce, xid: forged.xid, msg: make([]byte, 33)}
	for range 3 {
		n.unicast(forged.encode(), beacon.from)
		n.unicast(initp.encode(), beacon.from)
	}
	deadline := time.After(2 * time.Second)
	for {
		select {
		case in := <-n.in:
			if !in.group {
				t.Fatalf("the host replied (type %d) to a forged request", in.p.typ)
			}
		case <-deadline:
			return
		}
	}
}

// One source gets at most its budget of replies however fast it asks:
// 200 valid FETCHes at once get at most the burst (40) answered.
func TestPerSourceBudget(t *testing.T) {
	t.Parallel()
	if !inNetns(t, multicastLo) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := secret(t)
	k, _ := PeerKey(s)
	h, err := NewHost(ctx, testConfig(), HostParams{Offer: []byte("offer"), Keys: []Key{k}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	n, err := openNode(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer n.close()
	probe := &packet{typ: typeProbe}
	rand.Read(probe.nonce[:])
	n.multicast(probe.encode())
	var beacon inbound
	for beacon.p == nil {
		select {
		case in := <-n.in:
			if in.group && in.p.typ == typeBeacon {
				beacon = in
			}
		case <-ctx.Done():
			t.Fatal("no beacon seen")
		}
	}
	for range 200 {
		f := &packet{typ: typeFetch, nonce: beacon.p.nonce}
		rand.Read(f.xid[:])
		f.mac = k.fetchMAC(f.nonce, f.xid)
		n.unicast(f.encode(), beacon.from)
	}
	replies := 0
	deadline := time.After(1500 * time.Millisecond)
	for {
		select {
		case in := <-n.in:
			if !in.group && in.p.typ == typeOffer {
				replies++
			}
		case <-deadline:
			if replies == 0 || replies > sourceLimits.MessageBurst+sourceLimits.MessageBurst/2 {
				t.Fatalf("%d replies to 200 requests, budget burst %d", replies, sourceLimits.MessageBurst)
			}
			t.Logf("%d replies to 200 requests at once", replies)
			return
		}
	}
}

// With IPv4 multicast dropped, two peers still find each other over IPv6
// (link-local, on a veth pair).
func TestIPv6WhenIPv4Blocked(t *testing.T) {
	t.Parallel()
	if !inNetns(t, `sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
ip link add va type veth peer name vb
ip link set va up
ip link set vb up
nft add table ip t
nft add chain ip t in '{ type filter hook input priority 0; }'
nft add chain ip t out '{ type filter hook output priority 0; }'
nft add rule ip t in ip daddr 224.0.0.0/4 drop
nft add rule ip t out ip daddr 224.0.0.0/4 drop
sleep 0.2`) {
		return
	}
	s := secret(t)
	kh, _ := PeerKey(s)
	ks, _ := PeerKey(s)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ch, cs := testConfig(), testConfig()
	ch.Interfaces, cs.Interfaces = []string{"va"}, []string{"vb"}
	h, err := NewHost(ctx, ch, HostParams{Offer: []byte("offer over IPv6"), Keys: []Key{kh}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ex, err := Find(ctx, cs, ks)
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	if string(ex.Offer) != "offer over IPv6" || ex.From.Addr().Is4() {
		t.Fatalf("offer %q from %v", ex.Offer, ex.From)
	}
	if err := ex.SendAnswer(ctx, []byte("answer")); err != nil {
		t.Fatal(err)
	}
	if got := <-h.Answers(); string(got) != "answer" {
		t.Fatalf("answer %q", got)
	}
	t.Logf("found over IPv6 at %v", ex.From)
}
