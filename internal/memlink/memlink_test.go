package memlink

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/link"
)

// connect makes two links on n and connects them as offerer and answerer.
func connect(t *testing.T, n *Network, cfg link.Config, mangle func(*invite.ConnDesc)) (link.Channel, link.Channel, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a, err := n.NewLink(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.NewLink(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	offer, err := a.Offer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if mangle != nil {
		mangle(offer)
	}
	answer, err := b.Answer(ctx, offer)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Apply(answer); err != nil {
		t.Fatal(err)
	}
	ca, errA := a.Open(ctx)
	cb, errB := b.Open(ctx)
	return ca, cb, errors.Join(errA, errB)
}

func read(t *testing.T, c link.Channel) []byte {
	t.Helper()
	buf := make([]byte, MaxMessage)
	n, err := c.ReadMessage(buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

func TestDescriptionsAreValid(t *testing.T) {
	t.Parallel()
	n := New(1, Faults{})
	eph := [invite.EphemeralSize]byte{7}
	ufrag, pwd := invite.ICECredentials(eph)
	l, _ := n.NewLink(link.Config{ICEUfrag: ufrag, ICEPwd: pwd})
	d, err := l.Offer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d.ICEUfrag != ufrag || d.ICEPwd != pwd {
		t.Fatalf("the link did not take the credentials it was given: %q %q", d.ICEUfrag, d.ICEPwd)
	}
	// The description must survive the token's strict encoding.
	o, err := invite.NewOffer(testIdentity(t), invite.OfferParams{Ephemeral: eph, Conn: *d})
	if err != nil {
		t.Fatalf("memlink description is not a valid token description: %v", err)
	}
	if _, err := invite.ParseOffer(o.Text()); err != nil {
		t.Fatal(err)
	}
}

func TestOrderAndBothWays(t *testing.T) {
	t.Parallel()
	n := New(1, Faults{Loss: 0.3, RetransmitDelay: time.Millisecond, Jitter: time.Millisecond})
	a, b, err := connect(t, n, link.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if err := a.WriteMessage([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 200 {
		if m := read(t, b); len(m) != 1 || m[0] != byte(i) {
			t.Fatalf("message %d: %v (a reliable ordered channel lost or reordered it)", i, m)
		}
	}
	b.WriteMessage([]byte("back"))
	if m := read(t, a); string(m) != "back" {
		t.Fatalf("%q", m)
	}
}

// The same seed meets the same faults: what a lossy unordered channel
// delivers is the same in two runs.
func TestSeededFaultsRepeat(t *testing.T) {
	t.Parallel()
	run := func(seed uint64) []byte {
		n := New(seed, Faults{Loss: 0.2, Duplicate: 0.1, Reorder: 0.1})
		a, b, err := connect(t, n, link.Config{Channel: invite.ChannelOptions{Unordered: true, PartialReliability: true}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 100 {
			a.WriteMessage([]byte{byte(i)})
		}
		a.Close()
		var got []byte
		buf := make([]byte, 16)
		for {
			k, err := b.ReadMessage(buf)
			if err != nil {
				break
			}
			got = append(got, buf[:k]...)
		}
		return got
	}
	first, second, other := run(7), run(7), run(8)
	if !bytes.Equal(first, second) {
		t.Fatalf("seed 7 gave\n%v\nand\n%v", first, second)
	}
	if bytes.Equal(first, other) {
		t.Fatal("seeds 7 and 8 gave the same faults")
	}
	if len(first) >= 100+10 || len(first) <= 50 {
		t.Fatalf("%d messages through 20 %% loss and 10 %% duplication", len(first))
	}
}

// A full send buffer blocks the writer until the reader reads, and the
// write deadline releases it.
func TestBackpressureAndDeadline(t *testing.T) {
	t.Parallel()
	n := New(1, Faults{})
	a, b, err := connect(t, n, link.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, 60000)
	sent := 0
	a.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	for {
		err := a.WriteMessage(msg)
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("blocked write ended with %v", err)
			}
			break
		}
		sent++
	}
	if sent*len(msg) > SendBuffer+len(msg) || sent == 0 {
		t.Fatalf("%d messages accepted with nobody reading (buffer %d bytes)", sent, SendBuffer)
	}
	a.SetWriteDeadline(time.Time{})
	done := make(chan error, 1)
	go func() { done <- a.WriteMessage(msg) }()
	select {
	case err := <-done:
		t.Fatalf("write with a full buffer returned %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	read(t, b)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := a.WriteMessage(make([]byte, MaxMessage+1)); err == nil {
		t.Fatal("a message over MaxMessage was accepted")
	}
}

func TestOutageHoldsAndReports(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var events []link.Event
	n := New(1, Faults{})
	a, b, err := connect(t, n, link.Config{OnNetwork: func(e link.Event) { mu.Lock(); events = append(events, e); mu.Unlock() }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	n.SetOutage(true)
	a.WriteMessage([]byte("during"))
	got := make(chan []byte, 1)
	go func() { got <- read(t, b) }()
	select {
	case m := <-got:
		t.Fatalf("%q delivered during the outage", m)
	case <-time.After(50 * time.Millisecond):
	}
	n.SetOutage(false)
	if m := <-got; string(m) != "during" {
		t.Fatalf("%q", m)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) < 2 || events[0] != link.Interrupted || events[len(events)-1] != link.Recovered {
		t.Fatalf("events %v", events)
	}
}

func TestDelayAndBandwidth(t *testing.T) {
	t.Parallel()
	n := New(1, Faults{Delay: 30 * time.Millisecond, BytesPerSecond: 1 << 20})
	a, b, err := connect(t, n, link.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	a.WriteMessage([]byte("x"))
	read(t, b)
	if el := time.Since(start); el < 30*time.Millisecond {
		t.Fatalf("a 30 ms link delivered in %v", el)
	}
	start = time.Now()
	for range 8 {
		if err := a.WriteMessage(make([]byte, 64000)); err != nil {
			t.Fatal(err)
		}
	}
	for range 8 {
		read(t, b)
	}
	// 512,000 bytes at 1 MiB/s: at least 0.488 s (only a lower bound is
	// meaningful).
	if el := time.Since(start); el < 480*time.Millisecond {
		t.Fatalf("512,000 bytes at 1 MiB/s in %v", el)
	}
}

// A description whose fingerprint is not the endpoint's certificate fails
// as a certificate mismatch on the side that checks it, as DTLS would.
func TestFingerprintChecked(t *testing.T) {
	t.Parallel()
	n := New(1, Faults{})
	_, _, err := connect(t, n, link.Config{}, func(d *invite.ConnDesc) { d.Fingerprint[0] ^= 1 })
	if !errors.Is(err, link.ErrCertificateMismatch) {
		t.Fatalf("%v, want ErrCertificateMismatch", err)
	}
	if !errors.Is(err, link.ErrHandshakeFailed) {
		t.Fatalf("%v: the refused side should see a failed handshake", err)
	}
	// Wrong ICE credentials: nobody answers, Open fails at the timeout.
	_, _, err = connect(t, n, link.Config{ConnectTimeout: 100 * time.Millisecond}, func(d *invite.ConnDesc) {
		c := byte('x')
		if d.ICEPwd[0] == c {
			c = 'y'
		}
		d.ICEPwd = string(c) + d.ICEPwd[1:]
	})
	if !errors.Is(err, link.ErrConnectFailed) || errors.Is(err, link.ErrHandshakeFailed) {
		t.Fatalf("wrong credentials: %v, want a plain connect failure", err)
	}
}

func TestCloseEndsPeerReads(t *testing.T) {
	t.Parallel()
	n := New(1, Faults{})
	a, b, err := connect(t, n, link.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a.WriteMessage([]byte("last"))
	a.Close()
	if m := read(t, b); string(m) != "last" {
		t.Fatalf("%q", m)
	}
	if _, err := b.ReadMessage(make([]byte, 10)); !errors.Is(err, io.EOF) {
		t.Fatalf("after the peer closed: %v", err)
	}
	if err := b.WriteMessage([]byte("x")); err == nil {
		t.Fatal("write to a closed channel succeeded")
	}
}

func testIdentity(t *testing.T) *identity.Identity {
	t.Helper()
	id, err := identity.FromSeed(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Faults.SendBuffer sets what a direction holds before writes block; a
// larger message still goes when the direction holds nothing.
func TestSendBufferFault(t *testing.T) {
	t.Parallel()
	n := New(1, Faults{SendBuffer: 10000})
	a, b, err := connect(t, n, link.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tw := a.(link.TryWriter)
	var taken []bool
	for range 3 {
		ok, err := tw.TryWriteMessage(make([]byte, 4000))
		if err != nil {
			t.Fatal(err)
		}
		taken = append(taken, ok)
	}
	if !taken[0] || !taken[1] || taken[2] {
		t.Fatalf("tries of 4000 bytes into a 10000-byte buffer: taken %v, want [true true false]", taken)
	}
	read(t, b)
	read(t, b)
	if ok, err := tw.TryWriteMessage(make([]byte, 20000)); !ok || err != nil {
		t.Fatalf("a 20000-byte message into an empty 10000-byte buffer: taken %v, %v", ok, err)
	}
	if ok, err := tw.TryWriteMessage(make([]byte, 1)); ok || err != nil {
		t.Fatalf("a byte behind it: taken %v, %v; want busy", ok, err)
	}
}
